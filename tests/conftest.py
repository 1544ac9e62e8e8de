"""Shared helpers: grade a submission with the real CLI, then prove it left nothing behind.

Every grading in the suite goes through :func:`run_webgrade`, which asserts
after each run that no process started for it is still alive (found by the
``WEBGRADE_PARENT`` variable every server is given), that the port is free,
and that the submission's folder is byte-for-byte unchanged.

And the whole session: the tests' subprocesses (every grader the suite
starts) get a temporary directory of the session's own (``TMPDIR``), and at
the end the session fails if anything of webgrade's (``webgrade-*``) is left
in it, even from a grader a test killed on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from grader.run.server import free_port, port_is_free

ROOT = Path(__file__).resolve().parent.parent

# A suite started in the background by a script (`pytest &`) inherits SIGINT ignored, and every grader it
# starts would too, so the tests that press Ctrl+C would test nothing: the graders get the usual SIGINT.
# (A Python handler, unlike SIG_IGN, is not inherited across exec: children start with the default.)
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
SERVERS = ROOT / "tests" / "servers"
WEBGRADE = [sys.executable, "-m", "grader"]


# --- the session's temporary directory: nothing of webgrade's may be left in it ---

#: Set by the process that owns the session (xdist's controller, or pytest without xdist) for every
#: process of the session: the TMPDIR of the tests' subprocesses, and the test processes' own.
SESSION_TMPDIR = "WEBGRADE_TEST_SESSION_TMPDIR"
OWN_TMPDIR = "WEBGRADE_TEST_OWN_TMPDIR"
#: How long the session waits, at its end, for graders killed by tests to be cleaned up after.
CLEANUP_WAIT_S = 60.0
_SESSION_KEY = pytest.StashKey[Path]()
_LEFT_KEY = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "portable: the student-facing suite, which holds whatever the process backend (see PORTABLE_SUITE)"
    )
    if hasattr(config, "workerinput"):  # an xdist worker: the controller made the folder and owns it
        session_tmp, own_tmp = os.environ[SESSION_TMPDIR], os.environ[OWN_TMPDIR]
    else:
        own_tmp = tempfile.gettempdir()
        # Not named webgrade-*: it is the folder checked, not something of webgrade's.
        session_tmp = tempfile.mkdtemp(prefix="pytest-webgrade-session-", dir=own_tmp)
        config.stash[_SESSION_KEY] = Path(session_tmp)
        os.environ[SESSION_TMPDIR], os.environ[OWN_TMPDIR] = session_tmp, own_tmp
    # Subprocesses (and xdist's workers, started after this) inherit it; this process keeps its own, so
    # pytest's tmp_path and the tests' in-process files stay where they were (they are not checked).
    os.environ["TMPDIR"] = session_tmp
    tempfile.tempdir = own_tmp


# --- the student-facing suite, run again with the portable process backend ---

#: Tests, by the start of their id, that hold whatever process backend runs the server (grader/run/backend.py):
#: the reference server, the broken and hostile servers that make sense without a sandbox, the notebook,
#: teardown and nothing left behind.  Marked ``portable`` here, so the test files stay as they are: CI runs
#: ``pytest -m portable`` again with WEBGRADE_PROCESS=portable (.ci/run), so the macOS path is tested on every
#: change, and alone on macOS and Windows (.github/workflows/ci.yml).  Not here: what needs bubblewrap, and
#: what asserts the exact notes or sandbox of a Linux run.
PORTABLE_SUITE = (
    "tests/test_portable.py::",
    "tests/unit/test_backend",
    "tests/test_check.py::test_corpus_server_fails_the_right_check",
    "tests/test_check.py::test_reference_server_scores_full_marks",
    "tests/test_check.py::test_student_template_scores_full_marks",
    "tests/test_check.py::test_server_failure_carries_the_servers_own_output",
    "tests/test_check.py::test_every_check_after_a_failed_start_has_the_same_reason",
    "tests/test_check.py::test_route_hint_points_at_the_routes_line",
    "tests/test_untrusted_none.py::",
    "tests/test_untrusted.py::test_tracebacks_name_the_students_files_not_the_temporary_copy",
    "tests/test_untrusted.py::test_the_server_runs_in_a_copy_without_other_peoples_code",
    "tests/test_untrusted.py::test_a_taken_port_is_named_at_once",
    "tests/test_untrusted.py::test_detached_grandchildren_are_stopped",
    "tests/test_untrusted.py::test_debug_true_leaves_no_reloader_behind",
    "tests/test_untrusted.py::test_the_overall_time_limit_stops_a_hanging_submission",
    "tests/test_untrusted.py::test_a_cpu_hog_is_stopped_by_the_cpu_time_limit",
    "tests/test_untrusted.py::test_stdin_is_empty_not_a_terminal",
    "tests/test_harness.py::test_server_runs_in_its_folder_with_a_minimal_environment",
    "tests/test_harness.py::test_command_starts_any_other_server",
    "tests/test_harness.py::test_server_on_a_different_port_is_named",
    "tests/test_harness.py::test_crash_is_reported_at_once_not_after_the_timeout",
    "tests/test_harness.py::test_a_squatter_on_the_port_does_not_pass_for_our_server",
    "tests/test_harness.py::test_server_and_files_die_with_the_grader[sigkill-none]",
    "tests/test_harness.py::test_server_and_files_die_with_the_grader[sigterm-none]",
    "tests/test_harness.py::test_ctrl_c_during_the_checks_is_not_a_grade",
    "tests/test_notebook_magic.py::test_webgrade_grades_the_last_server_cell_run_in_the_kernel",
    "tests/test_notebook_magic.py::test_interrupting_the_kernel_stops_the_grading_and_its_server",
)


#: What of it cannot hold on a system, by the start of the test's id, and why.
NOT_ON = {
    "darwin": {
        "tests/test_untrusted_none.py::test_each_failure_is_named_without_the_sandbox[memory_hog]": (
            "macOS does not enforce RLIMIT_AS: the memory hog's allocation succeeds there"
        ),
    },
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cannot = NOT_ON.get(sys.platform, {})
    for item in items:
        if item.nodeid.startswith(PORTABLE_SUITE):
            item.add_marker(pytest.mark.portable)
        for start, why in cannot.items():
            if item.nodeid.startswith(start):
                item.add_marker(pytest.mark.skip(reason=why))


def webgrade_files(folder: Path) -> list[str]:
    """What of webgrade's is in ``folder``: each ``webgrade-*`` entry with what it holds."""
    found = []
    for path in sorted(folder.glob("webgrade-*")):
        try:
            inside = sorted(p.name for p in path.iterdir()) if path.is_dir() and not path.is_symlink() else []
        except OSError:
            inside = []
        found.append(f"{path.name}/ ({', '.join(inside)})" if inside else path.name)
    return found


def wait_for_no_webgrade_files(folder: Path, within: float) -> list[str]:
    """Poll until nothing of webgrade's is left in ``folder`` (cleaned up by processes still ending) or ``within`` s."""
    deadline = time.monotonic() + within
    while (left := webgrade_files(folder)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    folder = session.config.stash.get(_SESSION_KEY, None)
    if folder is None:  # an xdist worker
        return
    if exitstatus != pytest.ExitCode.INTERRUPTED:
        left = wait_for_no_webgrade_files(folder, CLEANUP_WAIT_S)
        if left:
            session.config.stash[_LEFT_KEY] = left
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    shutil.rmtree(folder, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    left = config.stash.get(_LEFT_KEY, None)
    if left:
        terminalreporter.section("webgrade left files behind", sep="=", red=True, bold=True)
        terminalreporter.line(
            f"the temporary directory of the tests' subprocesses still held, {CLEANUP_WAIT_S:g} s "
            f"after the last test, {len(left)} thing(s) of webgrade's:",
            red=True,
        )
        for entry in left:
            terminalreporter.line(f"  {entry}")


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


def wait_until_checking(grader: subprocess.Popen, tmpdir: Path, within: float = 60) -> None:
    """Until a grader using ``tmpdir`` runs its checks (pytest's file is made after the server is spawned)
    with its server's processes up; fails if it exits first or takes more than ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (list(tmpdir.glob("webgrade-*/webgrade-pytest-*")) and len(processes_of(grader.pid)) >= 2):
        assert time.monotonic() < deadline, "the server never started"
        assert grader.poll() is None
        time.sleep(0.02)


def pool_task(payload: str) -> str:
    """A task for the tests of grader.batch.pool.Pool: hang, crash the worker, or answer."""
    if payload == "hang":
        time.sleep(600)
    if payload == "crash":
        os._exit(3)
    return payload.upper()


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
