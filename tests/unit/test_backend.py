"""backend: which process backend runs where, what forces one, what each cannot promise; and what it changes
for the sandbox's choice, the launcher's environment and the student's paths."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.run import backend, sandbox, workspace
from grader.run.backend import Backend
from grader.run.launch import launch_env
from grader.run.limits import Limits
from grader.run.sandbox import Choice, Mode
from grader.run.workspace import Workspace


@pytest.mark.parametrize(
    ("platform", "proc", "chosen"),
    [
        ("linux", True, Backend.LINUX),
        ("linux", False, Backend.PORTABLE),  # a Linux without /proc (a chroot, some containers)
        ("darwin", False, Backend.PORTABLE),
        ("freebsd14", False, Backend.PORTABLE),
        ("win32", False, Backend.WINDOWS),
    ],
)
def test_each_system_gets_its_backend(platform, proc, chosen, monkeypatch, tmp_path):
    monkeypatch.setattr(backend.os.path, "isdir", lambda path: proc)
    assert backend.choose({}, platform) is chosen


@pytest.mark.parametrize(
    ("value", "platform", "chosen"),
    [
        ("portable", "linux", Backend.PORTABLE),
        (" Portable ", "linux", Backend.PORTABLE),
        ("portable", "darwin", Backend.PORTABLE),
        ("linux", "linux", Backend.LINUX),
        ("windows", "win32", Backend.WINDOWS),
        ("", "linux", Backend.LINUX),  # set but empty: as if unset
    ],
)
def test_webgrade_process_forces_one(value, platform, chosen, monkeypatch):
    monkeypatch.setattr(backend.os.path, "isdir", lambda path: True)
    assert backend.choose({"WEBGRADE_PROCESS": value}, platform) is chosen


@pytest.mark.parametrize(
    ("value", "platform", "said"),
    [
        ("docker", "linux", "WEBGRADE_PROCESS='docker' names no process backend"),
        ("linux", "darwin", "WEBGRADE_PROCESS=linux needs Linux's facilities, and macOS has no /proc or prctl"),
        ("windows", "linux", "WEBGRADE_PROCESS=windows needs Windows"),
        ("portable", "win32", "WEBGRADE_PROCESS=portable needs POSIX (fork and process groups)"),
    ],
)
def test_a_backend_that_cannot_run_here_is_a_usage_error(value, platform, said, monkeypatch):
    monkeypatch.setattr(backend.os.path, "isdir", lambda path: True)
    with pytest.raises(UsageError) as raised:
        backend.choose({"WEBGRADE_PROCESS": value}, platform)
    assert said in raised.value.message
    assert "WEBGRADE_PROCESS" in raised.value.hint


def test_backends_are_the_strings_reports_show():
    assert [b.value for b in Backend] == ["linux", "portable", "windows"]
    assert json.dumps({"process": Backend.PORTABLE}) == '{"process": "portable"}'


def test_why_says_forced_or_what_the_system_lacks():
    assert backend.why(Backend.PORTABLE, {"WEBGRADE_PROCESS": "portable"}, "linux") == "WEBGRADE_PROCESS=portable"
    assert backend.why(Backend.PORTABLE, {}, "darwin") == "macOS has no /proc or prctl"


def test_only_linux_keeps_every_promise():
    assert backend.note(Backend.LINUX, "Linux") == ""
    portable = backend.note(Backend.PORTABLE, "WEBGRADE_PROCESS=portable", "linux")
    assert portable.startswith("processes: the portable backend (WEBGRADE_PROCESS=portable)")
    assert "a process that detaches itself into a new session is found only by its folder or environment" in portable
    assert "memory" not in portable
    assert backend.note(Backend.PORTABLE, "macOS has no /proc or prctl", "darwin").endswith(
        "; macOS does not enforce the memory limit"
    )
    windows = backend.note(Backend.WINDOWS, "Windows has no fork, /proc or prctl", "win32")
    assert "Job Object" in windows and "file size" in windows


# --- the sandbox: Linux's backend alone can use bubblewrap ---


@pytest.fixture
def bwrap_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_unusable", None)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: f"/usr/bin/{name}")


@pytest.mark.usefixtures("bwrap_usable")
def test_the_portable_backend_grades_without_the_sandbox_and_says_why():
    choice = sandbox.choose(Mode.AUTO, Backend.PORTABLE, "WEBGRADE_PROCESS=portable")
    assert choice == Choice(
        Mode.NONE,
        "bubblewrap needs Linux's process backend, and this run uses the portable one (WEBGRADE_PROCESS=portable)",
    )
    assert sandbox.choose(Mode.NONE, Backend.PORTABLE, "x") == Choice(Mode.NONE, "--sandbox none")
    assert sandbox.choose(Mode.AUTO, Backend.LINUX) == Choice(Mode.BWRAP)  # Linux's, as before


@pytest.mark.usefixtures("bwrap_usable")
@pytest.mark.parametrize(
    ("chosen", "why", "hint"),
    [
        (Backend.PORTABLE, "WEBGRADE_PROCESS=portable", "unset WEBGRADE_PROCESS to grade in the sandbox"),
        (Backend.PORTABLE, "macOS has no /proc or prctl", "bubblewrap runs on Linux only"),
        (Backend.WINDOWS, "Windows has no fork, /proc or prctl", "bubblewrap runs on Linux only"),
    ],
)
def test_requiring_the_sandbox_without_linux_backend_does_not_start(chosen, why, hint):
    choice = sandbox.choose(Mode.BWRAP, chosen, why)
    assert choice.mode is Mode.NONE and choice.problem is not None
    assert choice.problem.kind == "sandbox"
    assert choice.problem.message == (
        f"expected to run the server in the bubblewrap sandbox (--sandbox bwrap), saw: {choice.note}"
    )
    assert why in choice.note and choice.problem.hint.startswith(hint)


# --- the launcher's environment and the student's paths ---


@pytest.fixture
def workspace_(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    (tmp_path / "temp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "submission").mkdir()
    made = Workspace(tmp_path / "submission")
    yield made
    made.remove()


def env_for(made: Workspace, chosen: Backend, lifeline: int = 3) -> dict[str, str]:
    return launch_env(
        made,
        port=5000,
        limits=Limits(),
        sandboxed=False,
        uid=None,
        lifeline=lifeline,
        hold=None,
        listen_fd=None,
        backend=chosen,
    )


@pytest.mark.parametrize("chosen", list(Backend))
def test_the_launcher_is_told_its_backend(workspace_, chosen):
    assert env_for(workspace_, chosen)["WEBGRADE_PROCESS"] == chosen.value


def test_windows_gets_what_python_needs_there_and_nothing_else(workspace_, monkeypatch):
    for name, value in {"SYSTEMROOT": r"C:\Windows", "PATHEXT": ".COM;.EXE", "GITHUB_TOKEN": "secret"}.items():
        monkeypatch.setenv(name, value)
    env = env_for(workspace_, Backend.WINDOWS, lifeline=0)
    assert env["SYSTEMROOT"] == r"C:\Windows" and env["PATHEXT"] == ".COM;.EXE"
    assert env["TEMP"] == env["TMP"] == env["TMPDIR"] == str(workspace_.tmp)
    assert env["USERPROFILE"] == env["HOME"] == str(workspace_.home)
    assert env["WEBGRADE_LIFELINE"] == "0"  # its standard input: Windows passes no other descriptor
    assert "GITHUB_TOKEN" not in env
    assert "SYSTEMROOT" not in env_for(workspace_, Backend.PORTABLE)


def test_the_run_folder_is_its_real_path(tmp_path, monkeypatch):
    """As the server's processes see it (macOS's /var is a link to /private/var): the sweep compares them."""
    (tmp_path / "real").mkdir()
    try:
        (tmp_path / "link").symlink_to(tmp_path / "real")
    except OSError:  # Windows without the right to make one
        pytest.skip("cannot make a symbolic link here")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "link"))
    made = Workspace(tmp_path)
    try:
        assert made.tmp.parent == tmp_path / "real"
    finally:
        made.remove()


def test_windows_paths_are_named_as_the_student_knows_them(workspace_, monkeypatch):
    monkeypatch.setattr(workspace.os, "sep", "\\")
    text = f'File "{workspace_.workdir}\\helpers.py", line 2 and File "{workspace_.workdir}/main.py"'
    assert workspace_.as_student_path(text) == 'File "helpers.py", line 2 and File "main.py"'
