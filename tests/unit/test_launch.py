"""The launcher's contract on the grader's side: its environment and its command line."""

from __future__ import annotations

import ast
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.find.submission import Submission
from grader.run import launch
from grader.run.launch import CommandLaunch, ScriptLaunch, launch_env
from grader.run.limits import Limits
from grader.run.workspace import LAUNCHER_FILES, Workspace

NAME = re.compile(r"WEBGRADE_[A-Z_]+")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    (tmp_path / "temp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "submission").mkdir()
    made = Workspace(tmp_path / "submission")
    yield made
    made.remove()


def read_by_launcher() -> set[str]:
    """Every WEBGRADE_* name the launcher's code spells out (launcher.py and supervisor.py, their docstrings aside)."""
    return {
        node.value
        for file in LAUNCHER_FILES
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value)
    }


def written_by_grader(workspace: Workspace) -> set[str]:
    names: set[str] = set()
    for sandboxed in (True, False):
        env = launch_env(
            workspace,
            port=5000,
            limits=Limits(),
            sandboxed=sandboxed,
            uid=1234 if sandboxed else None,
            lifeline=3,
            hold=4,
            listen_fd=5,
        )
        names |= {name for name in env if name.startswith("WEBGRADE_")}
    return names


def test_the_launcher_reads_what_the_grader_writes(workspace):
    read, written = read_by_launcher(), written_by_grader(workspace)
    assert read, "launcher.py reads no WEBGRADE_* name: the test reads the wrong thing"
    assert read - written == set(), "read by the launcher, written by nobody"
    assert written - read == set(), "written for the launcher, read by nobody"
    assert set(Limits().env()) <= written


def test_nothing_of_the_graders_environment_reaches_the_server(workspace, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "secret")
    env = launch_env(
        workspace, port=5000, limits=Limits(), sandboxed=False, uid=None, lifeline=3, hold=None, listen_fd=None
    )
    assert "GITHUB_TOKEN" not in env and "secret" not in env.values()
    assert env["PATH"] == os.environ["PATH"]


def test_no_process_limit_outside_the_sandbox(workspace):
    """RLIMIT_NPROC counts the user's processes over the whole machine: only a sandboxed run has its own user."""
    outside = launch_env(
        workspace, port=5000, limits=Limits(), sandboxed=False, uid=None, lifeline=3, hold=None, listen_fd=None
    )
    inside = launch_env(
        workspace, port=5000, limits=Limits(), sandboxed=True, uid=None, lifeline=3, hold=None, listen_fd=None
    )
    assert "WEBGRADE_LIMIT_NPROC" not in outside and "WEBGRADE_LIMIT_NPROC" in inside
    assert outside["WEBGRADE_RUN_DIR"] == str(workspace.tmp) and "WEBGRADE_RUN_DIR" not in inside
    assert inside["HOME"] == inside["TMPDIR"] == "/tmp"


def test_a_command_gets_its_port(workspace):
    argv = CommandLaunch("flask --app api run --port {port}").argv(sys.executable, workspace, 5123)
    assert argv == [sys.executable, str(workspace.launcher), "exec", "flask", "--app", "api", "run", "--port", "5123"]
    assert CommandLaunch("x").read_only_files(workspace) == workspace.launcher_files


def test_a_script_is_written_beside_the_launcher(workspace):
    folder = workspace.original
    submission = Submission(folder, folder, folder / "api" / "main.py", None, "print('hi')\n")
    argv = ScriptLaunch(submission).argv(sys.executable, workspace, 5123)
    assert argv == [
        sys.executable,
        str(workspace.launcher),
        "run",
        str(workspace.script),
        "api/main.py",
        str(workspace.workdir),
    ]
    assert workspace.script.read_text(encoding="utf-8") == "print('hi')\n"
    assert ScriptLaunch(submission).read_only_files(workspace) == [*workspace.launcher_files, workspace.script]


def test_the_launch_kinds_say_who_binds_the_port():
    assert launch.CommandLaunch.binds_own_port and not launch.ScriptLaunch.binds_own_port
