"""Grade a hostile server from ``tests/hostile/`` and prove it left nothing behind.

Stricter than ``conftest.run_webgrade`` about leftovers, because a hostile
server may hide: a process of the run is found by the ``WEBGRADE_PARENT``
variable, or (when it cleared its environment) by running as the sandbox's
user id for the run's port, or by a working directory or command line inside
the run's own temporary folder (``TMPDIR`` is set per run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from conftest import ROOT, WEBGRADE, tree_digest

from grader.run.limits import sandbox_uid
from grader.run.server import free_port, port_is_free

HOSTILE = ROOT / "tests" / "hostile"
#: Every grading of the corpus must end within this many seconds (measured: benchmarks/untrusted.py).
BOUND_S = 60
#: Secrets a CI runner or an instructor's shell may hold; none may reach student code.
SECRETS = {
    "GITHUB_TOKEN": "ghp_hostile_test_secret",
    "AWS_SECRET_ACCESS_KEY": "aws_hostile_test_secret",
    "OPENAI_API_KEY": "sk-hostile-test-secret",
}


def bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "true"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


def leftovers(grader_pid: int, tmpdir: Path, port: int) -> list[psutil.Process]:
    """Live processes that belong to one grading run, however they tried to hide."""
    uid, marker = sandbox_uid(port), str(tmpdir)
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            uids = proc.uids() if hasattr(proc, "uids") else None  # Windows has no user ids
            if (uids and uids.real == uid) or proc.environ().get("WEBGRADE_PARENT") == str(grader_pid):
                found.append(proc)
            elif proc.cwd().startswith(marker) or any(marker in arg for arg in proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@dataclass
class Graded:
    code: int
    report: dict
    wall_s: float
    stderr: str
    #: The most bytes the run's temporary folder held at once (sampled every 20 ms).
    disk_peak: int = 0

    def check(self, check_id: str) -> dict:
        return next(c for c in self.report["checks"] if c["id"] == check_id)


class DiskWatch:
    """Samples how many bytes a folder holds while a grading runs, to show what a run writes to disk."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak = folder, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _size(self) -> int:
        total = 0
        for root, _, files in os.walk(self.folder):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._size())

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def grade_copy(
    folder: Path, *args: str, tmp_path: Path, env: dict[str, str] | None = None, webgrade: list[str] = WEBGRADE
) -> Graded:
    """``webgrade check FOLDER --format json -v ARGS``; asserts the run cleaned up after itself."""
    tmpdir = tmp_path / "grader-tmp"
    tmpdir.mkdir(exist_ok=True)
    port = free_port()
    before = tree_digest(folder)
    started = time.monotonic()
    watch = DiskWatch(tmpdir).__enter__()
    proc = subprocess.Popen(
        [*webgrade, "check", str(folder), "--format", "json", "-v", "--no-browser", "--port", str(port), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmpdir), **SECRETS, **(env or {})},
    )
    try:
        stdout, stderr = proc.communicate(timeout=BOUND_S * 2)
    finally:
        proc.kill()
        watch.__exit__()
    wall = time.monotonic() - started
    deadline = time.monotonic() + 10
    while (left := leftovers(proc.pid, tmpdir, port)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"
    assert port_is_free(port), f"port {port} still in use"
    assert tree_digest(folder) == before, "the submission's folder changed"
    assert not list(tmpdir.iterdir()), f"temporary files left behind: {list(tmpdir.iterdir())}"
    assert proc.returncode in (0, 1), stderr
    return Graded(proc.returncode, json.loads(stdout), wall, stderr, watch.peak)


def grade_hostile(name: str, *args: str, tmp_path: Path, env: dict[str, str] | None = None) -> Graded:
    """Grade a copy of ``tests/hostile/NAME`` (or ``tests/servers/NAME``)."""
    source = HOSTILE / name if (HOSTILE / name).exists() else ROOT / "tests" / "servers" / name
    folder = tmp_path / name
    shutil.copytree(source, folder)
    return grade_copy(folder, *args, tmp_path=tmp_path, env=env)


def grade_with_limits(name: str, limits: dict, *, tmp_path: Path) -> dict:
    """Grade a copy of ``tests/hostile/NAME`` through ``grader.grade`` with other resource limits (no CLI flag)."""
    folder = tmp_path / name
    shutil.copytree(HOSTILE / name, folder)
    tmpdir = tmp_path / "grader-tmp"
    tmpdir.mkdir(exist_ok=True)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from grader.grade import Options, grade\n"
        "from grader.run.limits import Limits\n"
        "from grader.find.submission import find_submission\n"
        f"options = Options(limits=Limits(**{limits!r}), browser_check=False)\n"
        f"report = grade(find_submission(Path({str(folder)!r})), options=options)\n"
        "print(json.dumps(report.to_dict()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BOUND_S * 2,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    assert proc.returncode == 0, proc.stderr
    assert not leftovers(-1, tmpdir, -1)
    return json.loads(proc.stdout)
