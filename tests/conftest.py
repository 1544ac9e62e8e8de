"""Shared helpers: grade a submission with the real CLI, then prove it left nothing behind.

Every grading in the suite goes through :func:`run_webgrade`, which asserts
after each run that no process started for it is still alive (found by the
``WEBGRADE_PARENT`` variable every server is given), that the port is free,
and that the submission's folder is byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from grader.server import free_port, port_is_free

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers"
WEBGRADE = [sys.executable, "-m", "grader"]


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a hash of its content."""
    digest = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        digest[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return digest


def processes_of(grader_pid: int) -> list[psutil.Process]:
    """Live processes that a grader with this pid started (they carry WEBGRADE_PARENT)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("WEBGRADE_PARENT") == str(grader_pid):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_gone(grader_pid: int, within: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + within
    while (left := processes_of(grader_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    port: int

    @property
    def report(self) -> dict:
        return json.loads(self.stdout)

    def check(self, check_id: str) -> dict:
        return next(c for c in self.report["checks"] if c["id"] == check_id)

    def statuses(self) -> dict[str, str]:
        return {c["id"]: c["status"] for c in self.report["checks"]}


def run_webgrade(*args: str, cwd: Path | None = None, timeout: float = 120, watch: Path | None = None) -> Run:
    """Run ``webgrade check ARGS --port P`` and assert it cleaned up after itself."""
    port = free_port()
    before = tree_digest(watch) if watch else None
    proc = subprocess.Popen(
        [*WEBGRADE, "check", *args, "--port", str(port)],
        cwd=cwd or ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    assert not wait_gone(proc.pid), f"processes left behind: {processes_of(proc.pid)}"
    assert port_is_free(port), f"port {port} still in use"
    if watch:
        assert tree_digest(watch) == before, "the submission's folder changed"
    return Run(proc.returncode, stdout, stderr, port)


@pytest.fixture
def copy_server(tmp_path: Path):
    """Copy a corpus server into a fresh folder, so tests can check the folder stays unchanged."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(SERVERS / name, target)
        return target

    return copy


@pytest.fixture
def grade(copy_server):
    """``grade(name, *args)``: grade a corpus server (a copy) with --format json."""

    def run(name: str, *args: str) -> Run:
        folder = copy_server(name)
        result = run_webgrade(str(folder), "--format", "json", *args, watch=folder)
        assert result.code in (0, 1), result.stderr
        return result

    return run
