"""The process backends end to end: the portable one (macOS's, forced here with WEBGRADE_PROCESS=portable)
grades as Linux's does, says what it cannot promise, and leaves nothing behind; and a server that signals
its own supervisor is graded, whichever backend runs it.

Each grading goes through :func:`untrusted.grade_copy`, which asserts that no process of the run is left
(found by its environment, its user id, or a working directory or command line in the run's folder), that
the port is free, that the submission's folder is unchanged and that no temporary file is left.

The whole student-facing suite also runs with the portable backend (``.ci/run``, and CI on macOS): this
file holds what is the portable backend's own.  The servers are written here, for these tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, WEBGRADE, wait_for_no_webgrade_files, wait_until_checking
from untrusted import bwrap_works, grade_copy, leftovers

from grader.run import backend

PORTABLE = {"WEBGRADE_PROCESS": "portable"}
on_linux = pytest.mark.skipif(sys.platform != "linux", reason="Linux's process backend runs on Linux only")
posix = pytest.mark.skipif(os.name != "posix", reason="the portable backend is POSIX's (fork, process groups)")

#: The lesson's server, minimal, after whatever a test puts before it.
SERVER = """
from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, supports_credentials=True, origins='*')


@app.route('/')
def home():
    return "<html><head><title>Hi</title></head><body><h2>Hello</h2></body></html>"


@app.route('/api/data')
def get_data():
    {handler}
    return jsonify([{{"FirstName": "Ada", "LastName": "Lovelace", "DOB": "December 10", "Residence": "London",
                     "Email": "ada@example.com", "Owns_Cars": ["1843-Engine"]}}])


if __name__ == '__main__':
    app.run(port=5001)
"""

#: Signals its own parent, the grader's supervisor, as it starts and again while it answers.
SIGNALS_ITS_PARENT = (
    "import os\nimport signal\n\n"
    "for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
    "    os.kill(os.getppid(), sig)\n"
) + SERVER.format(handler="os.kill(os.getppid(), signal.SIGTERM)")

#: Says whether Linux's facilities reached it: a parent-death signal, and a process group of its own.
SAYS_WHAT_IT_HAS = (
    "import ctypes, os, signal\n\n"
    "pdeathsig = ctypes.c_int(0)\n"
    "ctypes.CDLL(None).prctl(2, ctypes.byref(pdeathsig), 0, 0, 0)  # PR_GET_PDEATHSIG\n"
    "print('PDEATHSIG', pdeathsig.value, 'GROUP-LEADER', os.getpgrp() == os.getpid(), flush=True)\n"
) + SERVER.format(handler="pass")

#: Leaves two sleepers that no tree holds (a new session, their parent gone): one keeps the environment
#: it was started with, the other starts with none (but in the server's folder).
DETACHES = (
    "import subprocess\nimport sys\n\n"
    'DETACH = (\'import subprocess, sys; subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], \'\n'
    "          'start_new_session=True, env=None if sys.argv[1] == \"keep\" else {})')\n"
    "for how in ('keep', 'empty'):\n"
    "    subprocess.run([sys.executable, '-c', DETACH, how], check=True)\n"
) + SERVER.format(handler="pass")


def submission(tmp_path, source: str, name: str = "server"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "main.py").write_text(source)
    return folder


def reference(tmp_path):
    folder = tmp_path / "reference"
    shutil.copytree(ROOT / "reference_server", folder)
    return folder


def notes_about_processes(report: dict) -> list[str]:
    return [note for note in report.get("notes", []) if note.startswith("processes:")]


@posix
def test_the_reference_server_gets_full_marks_with_the_portable_backend(tmp_path):
    run = grade_copy(reference(tmp_path), tmp_path=tmp_path, env=PORTABLE)
    report = run.report
    assert report["status"] == "passed" and report["score"] == report["max_score"]
    assert (report["process"], report["sandbox"]) == ("portable", "none")
    [note] = notes_about_processes(report)
    assert note.startswith("processes: the portable backend (WEBGRADE_PROCESS=portable)")
    assert "a process that detaches itself into a new session" in note
    sandbox = next(note for note in report["notes"] if note.startswith("sandbox: none"))
    assert "bubblewrap needs Linux's process backend" in sandbox


def test_the_report_says_which_backend_ran(tmp_path):
    """Linux's on Linux (which keeps every promise, so says nothing more), the portable one on macOS, Windows'."""
    env = {"WEBGRADE_PROCESS": ""}  # as if unset
    run = grade_copy(reference(tmp_path), "--sandbox", "none", tmp_path=tmp_path, env=env)
    assert run.report["status"] == "passed"
    assert run.report["process"] == backend.choose({}).value
    assert len(notes_about_processes(run.report)) == (0 if run.report["process"] == "linux" else 1)


@on_linux
def test_the_portable_backend_does_without_linux_facilities(tmp_path):
    """No parent-death signal for the student's program; a process group of its own instead (what killpg stops)."""
    folder = submission(tmp_path, SAYS_WHAT_IT_HAS)
    linux = grade_copy(folder, "--sandbox", "none", tmp_path=tmp_path, env={"WEBGRADE_PROCESS": "linux"})
    portable = grade_copy(folder, tmp_path=tmp_path, env=PORTABLE)
    assert f"PDEATHSIG {int(signal.SIGKILL)} GROUP-LEADER False" in linux.report["server_log"]
    assert "PDEATHSIG 0 GROUP-LEADER True" in portable.report["server_log"]


@pytest.mark.parametrize(
    ("backend", "sandbox"),
    [
        pytest.param("linux", "bwrap", marks=on_linux, id="linux-bwrap"),
        pytest.param("linux", "none", marks=on_linux, id="linux-none"),
        pytest.param("portable", "none", marks=posix, id="portable"),
    ],
)
def test_a_server_that_signals_its_supervisor_is_graded_all_the_same(tmp_path, backend, sandbox):
    """SIGTERM, SIGINT and SIGHUP from the student's own process do not end its grading ("exited with code 0")."""
    if sandbox == "bwrap" and not bwrap_works():
        pytest.skip("bubblewrap cannot start a sandbox here (CI installs it)")
    folder = submission(tmp_path, SIGNALS_ITS_PARENT)
    run = grade_copy(folder, "--sandbox", sandbox, tmp_path=tmp_path, env={"WEBGRADE_PROCESS": backend})
    assert run.check("server.start")["status"] == "passed", run.check("server.start")
    assert run.check("api.schema")["status"] == "passed"  # it signalled again while answering, and answered
    assert run.report["status"] == "passed"
    assert run.report["process"] == backend


@posix
def test_processes_that_left_the_tree_are_found_and_stopped(tmp_path):
    folder = submission(tmp_path, DETACHES)
    run = grade_copy(folder, tmp_path=tmp_path, env=PORTABLE)
    assert run.report["status"] == "passed"
    assert (
        "processes: 2 processes the server had detached from its tree (a new session, its parent gone) "
        "were found by their folder or environment and stopped"
    ) in run.report["notes"]


@posix
def test_the_sandbox_cannot_be_required_with_the_portable_backend(tmp_path):
    run = grade_copy(reference(tmp_path), "--sandbox", "bwrap", tmp_path=tmp_path, env=PORTABLE)
    start = run.check("server.start")
    assert start["status"] == "failed" and run.report["status"] == "not_graded"
    assert "(--sandbox bwrap), saw: bubblewrap needs Linux's process backend" in start["message"]
    assert "WEBGRADE_PROCESS=portable" in start["message"]
    assert start["hint"].startswith("unset WEBGRADE_PROCESS to grade in the sandbox")


def test_a_backend_this_system_cannot_run_is_the_reason_the_server_did_not_start(tmp_path):
    run = grade_copy(reference(tmp_path), tmp_path=tmp_path, env={"WEBGRADE_PROCESS": "vms"})
    start = run.check("server.start")
    assert start["status"] == "failed"
    assert start["message"] == "WEBGRADE_PROCESS='vms' names no process backend"
    assert "linux, portable or windows" in start["hint"]


@posix
def test_a_command_server_is_found_listening_with_psutil(tmp_path):
    """``--command``'s readiness: the portable backend finds the listening socket with psutil, not /proc."""
    folder = tmp_path / "command"
    folder.mkdir()
    (folder / "serve.py").write_text(
        (ROOT / "reference_server" / "main.py")
        .read_text()
        .replace("app.run(port=5001)", "import os; app.run(port=int(os.environ['PORT']))")
    )
    run = grade_copy(folder, "--command", f"{sys.executable} serve.py", tmp_path=tmp_path, env=PORTABLE)
    assert run.report["status"] == "passed", run.report["checks"][0]


@posix
def test_a_grader_killed_outright_leaves_nothing_with_the_portable_backend(tmp_path):
    """No parent-death signal here: the supervisor notices the lifeline end, stops its group, removes the folder."""
    folder = submission(tmp_path, "import time\ntime.sleep(600)\n" + SERVER.format(handler="pass"))
    tmpdir = tmp_path / "grader-tmp"
    tmpdir.mkdir()
    grader = subprocess.Popen(
        [*WEBGRADE, "check", str(folder), "--timeout", "60", "--no-browser"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmpdir), **PORTABLE},
    )
    try:
        wait_until_checking(grader, tmpdir)
        grader.send_signal(signal.SIGKILL)
        grader.wait(timeout=60)
        deadline = time.monotonic() + 60
        while (alive := leftovers(grader.pid, tmpdir, -1)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive, f"outlived the grader: {[(p.pid, p.cmdline()) for p in alive]}"
        assert not wait_for_no_webgrade_files(tmpdir, within=60)
    finally:
        grader.kill()
        grader.wait()
