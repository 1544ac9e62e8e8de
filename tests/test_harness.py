"""The harness's promises: usage errors, process handling, isolation, the pytest plugin."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    ROOT,
    WEBGRADE,
    processes_of,
    run_webgrade,
    tree_digest,
    wait_for_no_webgrade_files,
    wait_gone,
    wait_until_checking,
)
from untrusted import bwrap_works, leftovers

from grader.run.server import free_port

REFERENCE = (ROOT / "reference_server" / "main.py").read_text()


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*WEBGRADE, *args], cwd=cwd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


# --- usage errors: exit 2 with a plain message, never a traceback ---


def test_missing_path_is_a_usage_error(tmp_path):
    result = cli("check", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_folder_without_flask_is_a_usage_error(tmp_path):
    (tmp_path / "hello.py").write_text("print('hi')\n")
    result = cli("check", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_ambiguous_folder_lists_candidates_and_names_entry(tmp_path):
    for name in ("server_a.py", "server_b.py"):
        (tmp_path / name).write_text(REFERENCE)
    result = cli("check", str(tmp_path))
    assert result.returncode == 2
    assert "server_a.py" in result.stderr and "server_b.py" in result.stderr
    assert "--entry" in result.stderr


def test_entry_chooses_among_candidates(tmp_path):
    (tmp_path / "server_a.py").write_text(REFERENCE)
    (tmp_path / "server_b.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    run = run_webgrade(str(tmp_path), "--entry", "server_a.py", "--format", "json", watch=tmp_path)
    assert run.code == 0
    assert run.report["entry"].endswith("server_a.py")


@pytest.mark.parametrize("origin", ["127.0.0.1:4100", "http://127.0.0.1:4100/", "http://x.org/page", "ftp://a"])
def test_bad_origin_is_a_usage_error(origin):
    result = cli("check", "reference_server", "--origin", origin)
    assert result.returncode == 2
    assert "origin" in result.stderr


def test_help_is_complete_and_short():
    result = cli("check", "--help")
    assert result.returncode == 0
    for option in ("--entry", "--format", "--verbose", "--timeout", "--origin", "--command", "--api-path"):
        assert option in result.stdout
    assert len(result.stdout.splitlines()) < 50


# --- running the submission ---


def test_check_with_no_path_grades_the_current_folder(tmp_path):
    (tmp_path / "main.py").write_text(REFERENCE)
    before = tree_digest(tmp_path)
    result = cli("check", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "passed"
    assert tree_digest(tmp_path) == before  # no .pytest_cache, no xprocess files, no __pycache__


def test_a_single_py_file_is_graded(tmp_path):
    (tmp_path / "server.py").write_text(REFERENCE)
    run = run_webgrade(str(tmp_path / "server.py"), "--format", "json", watch=tmp_path)
    assert run.report["status"] == "passed"


def test_server_runs_in_its_folder_with_a_minimal_environment(tmp_path):
    (tmp_path / "motto.txt").write_text("read relative to the submission's folder")
    (tmp_path / "main.py").write_text(
        REFERENCE.replace(
            "app = Flask(__name__)",
            "import os\nprint('CWD-FILE:', open('motto.txt').read())\n"
            "print('ENV-KEYS:', sorted(os.environ))\napp = Flask(__name__)",
        )
    )
    env = {**os.environ, "GITHUB_TOKEN": "ghp_secret_value", "AWS_SECRET_ACCESS_KEY": "aws_secret_value"}
    result = subprocess.run(
        [*WEBGRADE, "check", str(tmp_path), "--format", "json", "-v"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert report["status"] == "passed"
    log = report["server_log"]
    assert "CWD-FILE: read relative to the submission's folder" in log
    assert "ENV-KEYS:" in log
    assert "GITHUB_TOKEN" not in log and "AWS_SECRET_ACCESS_KEY" not in log


def test_verbose_shows_the_full_value_seen_and_the_servers_output(copy_server):
    folder = copy_server("html_api")
    run = run_webgrade(str(folder), "-v", watch=folder)
    assert run.code == 1
    assert "the server's output:" in run.stdout
    assert "GET /api/data" in run.stdout  # werkzeug's request log
    assert "seen:" in run.stdout


def test_terminal_scorecard_has_marks_points_messages_and_hints(copy_server):
    folder = copy_server("cars_string")
    run = run_webgrade(str(folder), watch=folder)
    assert run.code == 1
    assert "✓" in run.stdout and "✗" in run.stdout
    assert "0/2" in run.stdout and "try: wrap it in square brackets" in run.stdout
    assert "score 13/15" in run.stdout  # browser.table passes too: the table still draws


def test_command_starts_any_other_server(tmp_path):
    (tmp_path / "serve.py").write_text(
        REFERENCE.replace("app.run(port=5001)", "import os; app.run(port=int(os.environ['PORT']))")
    )
    command = f"{sys.executable} serve.py --listen {{port}}"
    run = run_webgrade(str(tmp_path / "serve.py"), "--command", command, "--format", "json", watch=tmp_path)
    assert run.report["status"] == "passed", run.stdout


def test_server_on_a_different_port_is_named(tmp_path):
    port = free_port()
    # Listens on its own port as soon as Python starts (nothing to import), so it does so long before
    # the 3 s timeout even on a loaded machine; a Flask app would first spend its import time.
    (tmp_path / "serve.py").write_text(
        "import http.server\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.BaseHTTPRequestHandler).serve_forever()\n"
    )
    run = run_webgrade(
        str(tmp_path / "serve.py"),
        "--command",
        f"{sys.executable} serve.py",
        "--timeout",
        "3",
        "--format",
        "json",
        watch=tmp_path,
    )
    start = run.check("server.start")
    assert start["status"] == "failed"
    assert f"listen on port {port} instead" in start["message"]


def test_crash_is_reported_at_once_not_after_the_timeout(copy_server):
    folder = copy_server("crash_import")
    run = run_webgrade(str(folder), "--timeout", "120", "--format", "json", watch=folder)
    assert run.check("server.start")["status"] == "failed"
    assert run.report["duration_s"] < 60  # far below the timeout: the exit was noticed, not waited out


class _Squatter(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_squatter_on_the_port_does_not_pass_for_our_server(copy_server):
    folder = copy_server("debug_true")
    squatter = http.server.HTTPServer(("127.0.0.1", 0), _Squatter)
    port = squatter.server_address[1]
    thread = threading.Thread(target=squatter.serve_forever, daemon=True)
    thread.start()
    try:
        result = subprocess.run(
            [*WEBGRADE, "check", str(folder), "--port", str(port), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        squatter.shutdown()
        squatter.server_close()
    report = json.loads(result.stdout)
    start = next(c for c in report["checks"] if c["id"] == "server.start")
    assert start["status"] == "failed"
    assert "Address already in use" in start["message"]
    assert report["status"] == "not_graded"


@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_server_and_files_die_with_the_grader(copy_server, tmp_path, sig, sandbox):
    """Killed mid-grading, even by SIGKILL, a grader leaves no process and nothing in its temporary directory.

    With SIGKILL the grader removes nothing itself: outside the sandbox the launcher's supervisor
    removes the run's folder, in it the janitor does (see grader/server.py).  The grader gets a
    temporary directory of its own, so whatever is found there is this run's.
    """
    if sandbox == "bwrap" and not bwrap_works():
        pytest.skip("bubblewrap cannot start a sandbox here")
    folder = copy_server("never_binds")
    tmpdir = tmp_path / "grader-tmp"
    tmpdir.mkdir()
    grader = subprocess.Popen(
        [*WEBGRADE, "check", str(folder), "--timeout", "60", "--no-browser", "--sandbox", sandbox],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    try:
        wait_until_checking(grader, tmpdir)
        grader.send_signal(sig)
        grader.wait(timeout=60)
        # The server and the janitor too (its command line names the run's folder).
        deadline = time.monotonic() + 60
        while (alive := leftovers(grader.pid, tmpdir, -1)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive, f"outlived the grader: {[(p.pid, p.cmdline()) for p in alive]}"
        left = wait_for_no_webgrade_files(tmpdir, within=60)
        assert not left, f"left in the grader's temporary directory: {left}"
        assert not list(tmpdir.iterdir())
    finally:
        grader.kill()
        grader.wait()


#: A grader whose server was started by a thread that has ended, then dies without cleaning up, as a
#: grader killed with SIGKILL does: its threads end one by one, the one that started the server first.
GRADER_WHOSE_STARTING_THREAD_ENDS = """
import os, signal, sys, threading
from pathlib import Path

from grader.find.submission import find_submission
from grader.run.server import Server

server = Server(find_submission(Path(sys.argv[1])), sandbox="none")

def start():
    server.start()
    server.wait_ready(60)

starter = threading.Thread(target=start)
starter.start()
starter.join()
print(server.port, flush=True)
sys.stdin.read()  # alive, its pid still the supervisor's parent and the lifeline open, until told
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_grader_dying_thread_by_thread_leaves_nothing(tmp_path):
    """The supervisor hears that the thread which started it ended while the grader's pid still lives.

    A grader killed with SIGKILL sends that news before it is wholly gone (seen in a batch whose worker
    was killed mid-grading, on a loaded machine): the supervisor stops the tree, then waits for the
    grader to end and removes the run's folder, instead of leaving it to a grader about to vanish.
    """
    tmpdir = tmp_path / "grader-tmp"
    tmpdir.mkdir()
    grader = subprocess.Popen(
        [sys.executable, "-c", GRADER_WHOSE_STARTING_THREAD_ENDS, str(ROOT / "reference_server")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    try:
        assert grader.stdout is not None and grader.stdin is not None
        port = int(grader.stdout.readline())
        deadline = time.monotonic() + 60
        while _answers(port):  # the thread's end stops the server
            assert time.monotonic() < deadline, "the server outlived the thread that started it"
            time.sleep(0.02)
        # Give a supervisor that would not wait its moment to be gone; one that waits stays.
        settle = time.monotonic() + 1
        while processes_of(grader.pid) and time.monotonic() < settle:
            time.sleep(0.02)
        grader.stdin.close()  # the grader now vanishes as a SIGKILL leaves it
        grader.wait(timeout=60)
        assert not wait_gone(grader.pid, within=60)
        left = wait_for_no_webgrade_files(tmpdir, within=60)
        assert not left, f"left in the grader's temporary directory: {left}"
    finally:
        grader.kill()
        grader.wait()


def _answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except OSError:
        return False


def test_each_run_uses_fresh_process_files(copy_server):
    """xprocess's PID files never outlive a run, so a stale PID can never be reused."""
    folder = copy_server("debug_true")
    first = run_webgrade(str(folder), "--format", "json", "-v", watch=folder)
    second = run_webgrade(str(folder), "--format", "json", "-v", watch=folder)
    assert first.report["status"] == second.report["status"] == "passed"


# --- the pytest plugin, as an instructor uses it ---


def test_instructor_runs_checks_with_plain_pytest(tmp_path):
    checks = tmp_path / "test_extra.py"
    checks.write_text(
        textwrap.dedent("""
        import pytest

        @pytest.mark.check("api.two_people", points=2)
        def test_two_people(http):
            assert len(http.get("/api/data").json()) == 2

        def test_routes_known(routes):
            assert {r.rule for r in routes} >= {"/", "/api/data"}
    """)
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(checks),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--webgrade",
            str(ROOT / "reference_server"),
            "-q",
            "--rootdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_unusable_schema_is_a_usage_error(tmp_path):
    bad = tmp_path / "schema.json"
    bad.write_text("{not json")
    result = cli("check", "reference_server", "--schema", str(bad))
    assert result.returncode == 2
    assert "not a usable JSON Schema" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_python_is_explained(copy_server, tmp_path):
    folder = copy_server("debug_true")
    run = run_webgrade(str(folder), "--python", str(tmp_path / "no-python"), "--format", "json", watch=folder)
    start = run.check("server.start")
    assert start["status"] == "failed"
    assert "No such file or directory" in start["message"] and "--python" in start["hint"]


def test_ctrl_c_during_the_checks_is_not_a_grade(tmp_path):
    """pytest swallows KeyboardInterrupt; the grader must not report the checks run so far as a score."""
    import shutil

    folder = tmp_path / "handler_hangs"
    shutil.copytree(ROOT / "tests" / "hostile" / "handler_hangs", folder)
    main = folder / "main.py"  # says when a check is waiting on it: a file in its (temporary) working folder
    main.write_text(
        main.read_text().replace("    time.sleep(3600)", "    open('entered', 'w').close()\n    time.sleep(3600)")
    )
    assert "open('entered'" in main.read_text()
    rubric = tmp_path / "rubric.toml"  # the check waits for the answer until it is interrupted, however long that takes
    rubric.write_text("[assignment]\nrequest_timeout = 600\n")
    tmpdir = tmp_path / "grader-tmp"
    tmpdir.mkdir()
    grader = subprocess.Popen(
        [*WEBGRADE, "check", str(folder), "--no-browser", "--format", "json", "--rubric", str(rubric)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmpdir.glob("webgrade-*/work/entered")):  # a check is waiting on GET /api/data
            assert time.monotonic() < deadline and grader.poll() is None
            time.sleep(0.05)
        grader.send_signal(signal.SIGINT)
        stdout, stderr = grader.communicate(timeout=60)
    finally:
        grader.kill()
    assert grader.returncode == 130, (stdout, stderr)
    assert stdout == ""
    assert "interrupted" in stderr
    assert not wait_gone(grader.pid)
    assert not list(tmpdir.iterdir())
