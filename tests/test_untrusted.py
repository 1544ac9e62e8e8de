"""Untrusted submissions: attacks on the grading machine, and what is left after grading.

Each grading goes through :func:`untrusted.grade_hostile`, which also asserts that no process of the
run is left (however it hid), that the port is free, that the submission's folder is byte-for-byte
unchanged and that no temporary file is left.  Here the sandbox is ``auto``: bubblewrap, which CI
installs.  tests/test_untrusted_failures.py names every failure; tests/test_untrusted_none.py grades
the corpus without the sandbox.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ROOT, WEBGRADE
from untrusted import HOSTILE, SECRETS, bwrap_works, grade_copy, grade_hostile, grade_with_limits

BWRAP = bwrap_works()
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot run here (CI installs it)")


def test_the_corpus_is_documented():
    """One folder per failure mode, each with main.py whose first line says what it does."""
    for folder in sorted(p for p in HOSTILE.iterdir() if p.is_dir()):
        first = (folder / "main.py").read_text().splitlines()[0]
        assert first.startswith("# "), folder.name


def test_tracebacks_name_the_students_files_not_the_temporary_copy(tmp_path):
    folder = tmp_path / "two_files"
    folder.mkdir()
    (folder / "helpers.py").write_text("def records():\n    return missing_name\n")
    main = (HOSTILE / "port_taken" / "main.py").read_text()
    (folder / "main.py").write_text(
        main.replace("return jsonify(PEOPLE)", "import helpers\n    return jsonify(helpers.records())")
    )
    check = grade_copy(folder, tmp_path=tmp_path).check("api.status")
    assert "NameError: name 'missing_name' is not defined (helpers.py, line 2)" in check["message"]
    assert 'File "helpers.py", line 2, in records' in check["log"]
    assert str(tmp_path) not in check["message"] + check["log"]


def test_the_server_runs_in_a_copy_without_other_peoples_code(tmp_path):
    folder = tmp_path / "copied"
    for name in ("static", ".git", "node_modules", ".venv"):
        (folder / name).mkdir(parents=True)
    (folder / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (folder / "static" / "style.css").write_text("h2 { color: teal }")
    main = (HOSTILE / "port_taken" / "main.py").read_text()
    (folder / "main.py").write_text("import os\nprint('HERE', os.getcwd(), sorted(os.listdir('.')))\n" + main)
    run = grade_copy(folder, tmp_path=tmp_path)
    here = next(line for line in run.report["server_log"].splitlines() if line.startswith("HERE"))
    assert "['main.py', 'static']" in here
    assert str(folder) not in here  # a temporary copy, not the original


def test_a_taken_port_is_named_at_once(tmp_path):
    squatter = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = squatter.server_address[1]
    threading.Thread(target=squatter.serve_forever, daemon=True).start()
    try:
        folder = tmp_path / "port_taken"
        folder.mkdir()
        (folder / "main.py").write_text((HOSTILE / "port_taken" / "main.py").read_text())
        result = subprocess.run(
            [*WEBGRADE, "check", str(folder), "--port", str(port), "--format", "json", "--no-browser"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        squatter.shutdown()
        squatter.server_close()
    start = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == "server.start")
    assert start["status"] == "failed"
    assert f"expected port {port} to be free" in start["message"] and "Address already in use" in start["message"]


# --- nothing left behind ---


def test_detached_grandchildren_are_stopped(tmp_path):
    """Two sleepers in new sessions, one with an empty environment: grade_hostile finds neither afterwards."""
    run = grade_hostile("detached_grandchild", tmp_path=tmp_path)
    assert run.report["status"] == "passed"


def test_debug_true_leaves_no_reloader_behind(tmp_path):
    run = grade_hostile("debug_true", tmp_path=tmp_path)
    assert run.report["status"] == "passed"


# --- output, input and time ---


def test_a_flood_of_output_is_kept_to_its_two_ends(tmp_path):
    run = grade_hostile("stdout_flood", tmp_path=tmp_path)
    assert run.report["status"] == "passed"
    log = run.report["server_log"]
    assert len(log) < 70_000  # 300,000 lines printed; the report keeps 64 KB
    assert log.startswith("[webgrade: the server printed more")
    assert "flood line in a request" in log  # the end is kept
    assert run.disk_peak < 1_000_000  # it printed about 5 MB: on disk, only the two ends were ever kept


def test_the_overall_time_limit_stops_a_hanging_submission(tmp_path):
    run = grade_hostile("handler_hangs", "--time-limit", "4", tmp_path=tmp_path)  # under the 5 s request timeout
    api = run.check("api.status")
    assert api["status"] == "not_graded"
    assert "time limit" in api["message"]
    assert any("time limit of 4 s" in note for note in run.report["notes"])


# --- the grader's machine stays safe ---


def test_no_secret_of_the_graders_environment_reaches_the_server(tmp_path):
    run = grade_hostile("prints_env", tmp_path=tmp_path)
    log = run.report["server_log"]
    assert "ENV PORT" in log  # it did print its environment
    for name, value in SECRETS.items():
        assert name not in log and value not in log


@needs_bwrap
def test_the_sandbox_keeps_writes_and_reads_inside(tmp_path):
    escaped = Path("/tmp/webgrade-hostile-escaped.txt")
    escaped.unlink(missing_ok=True)
    run = grade_hostile("writes_outside", tmp_path=tmp_path)
    log = run.report["server_log"]
    assert run.report["status"] == "passed" and run.report["sandbox"] == "bwrap"
    assert "WROTE own own-folder.txt" in log  # its copy is writable ...
    assert "DENIED parent" in log  # ... the folder around it is not
    assert not escaped.exists()  # /tmp inside is its own
    assert not (tmp_path / "grader-tmp" / "escaped.txt").exists()
    assert "DENIED /etc/shadow" in log and "DENIED /root/.bashrc" in log
    assert "GRADER-VISIBLE False" in log  # the grader's package is not in its view


def test_a_cpu_hog_is_stopped_by_the_cpu_time_limit(tmp_path):
    report = grade_with_limits("cpu_hog", {"cpu_s": 1}, tmp_path=tmp_path)
    start = next(c for c in report["checks"] if c["id"] == "server.start")
    assert start["status"] == "failed"
    assert "stopped after using 1 s of CPU time" in start["message"]


@needs_bwrap
def test_a_fork_bomb_fails_that_submission_only(tmp_path):
    run = grade_hostile("fork_happy", tmp_path=tmp_path)
    start = run.check("server.start")
    assert start["status"] == "failed"
    assert "too many processes" in start["message"]


@needs_bwrap
def test_the_server_has_no_network_but_the_graders_socket(tmp_path):
    """Only a loopback device of its own: even the grading machine's loopback is out of reach."""
    host_listener = socket.create_server(("127.0.0.1", 0))
    host_port = host_listener.getsockname()[1]
    folder = tmp_path / "net"
    folder.mkdir()
    main = (HOSTILE / "port_taken" / "main.py").read_text()
    probe = (
        "import socket\n"
        "with open('/proc/net/dev') as f:\n"
        "    print('DEVICES', sorted(line.split(':')[0].strip() for line in f if ':' in line))\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {host_port}), timeout=2)\n"
        "    print('REACHED the machine')\n"
        "except OSError as error:\n"
        "    print('UNREACHABLE', type(error).__name__)\n\n"
    )
    (folder / "main.py").write_text(probe + main)
    try:
        run = grade_copy(folder, tmp_path=tmp_path)
    finally:
        host_listener.close()
    log = run.report["server_log"]
    assert run.report["status"] == "passed"
    assert "DEVICES ['lo']" in log and "UNREACHABLE ConnectionRefusedError" in log


def test_sandbox_none_is_said_in_the_report(tmp_path):
    run = grade_hostile("port_taken", "--sandbox", "none", tmp_path=tmp_path)
    assert run.report["sandbox"] == "none"
    assert any(note.startswith("sandbox: none (--sandbox none)") for note in run.report["notes"])


@pytest.fixture
def broken_bwrap(tmp_path) -> dict[str, str]:
    """A PATH whose bwrap fails the way it does in a container without user namespaces."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_auto_falls_back_when_bwrap_cannot_run_and_says_so(tmp_path, broken_bwrap):
    run = grade_hostile("port_taken", tmp_path=tmp_path, env=broken_bwrap)
    assert run.report["status"] == "passed"
    assert run.report["sandbox"] == "none"
    notes = [n for n in run.report["notes"] if n.startswith("sandbox")]
    assert len(notes) == 1 and "cannot start a sandbox here (bwrap: No permissions" in notes[0]


def test_required_bwrap_that_cannot_run_is_a_clear_failure(tmp_path, broken_bwrap):
    run = grade_hostile("port_taken", "--sandbox", "bwrap", tmp_path=tmp_path, env=broken_bwrap)
    start = run.check("server.start")
    assert start["status"] == "failed"
    assert "bubblewrap sandbox (--sandbox bwrap)" in start["message"] and "--sandbox auto" in start["hint"]


def test_auto_without_bwrap_installed_says_so(tmp_path):
    run = grade_hostile("port_taken", tmp_path=tmp_path, env={"PATH": str(tmp_path / "empty")})
    assert run.report["sandbox"] == "none"
    assert any("bubblewrap is not installed" in note for note in run.report["notes"])


# --- the launcher's output cap, on its own ---


def test_output_keeps_the_first_and_last_bytes(tmp_path):
    sys.path.insert(0, str(ROOT / "grader" / "run"))
    try:
        import launcher
    finally:
        sys.path.pop(0)
    log = tmp_path / "log"
    with open(log, "wb") as f:
        output = launcher.Output(f.fileno(), keep=1000)
        for n in range(100_000):
            output.write(f"line {n}\n".encode())
        output.flush()
    text = log.read_text()
    assert text.startswith("line 0\n") and text.endswith("line 99999\n")
    assert "bytes of the server's output left out here" in text
    assert len(text) < 2 * 1000 + 100


def test_stdin_is_empty_not_a_terminal(tmp_path):
    """Even when the grader itself has a terminal or a pipe as input, the server reads end-of-file."""
    folder = tmp_path / "stdin_read"
    folder.mkdir()
    (folder / "main.py").write_text((HOSTILE / "stdin_read" / "main.py").read_text())
    ours, theirs = socket.socketpair()  # an input that would block for ever
    try:
        result = subprocess.run(
            [*WEBGRADE, "check", str(folder), "--format", "json", "--no-browser"],
            stdin=theirs,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        ours.close()
        theirs.close()
    assert "keyboard input" in result.stdout
