"""``webgrade stop [PORT]``: the student's own server stopped gracefully, and everything else refused.

Real listeners on free ports: the lesson's Flask server, a Python server that
ignores SIGTERM, a listener that is not Python (perl), a Python server of
another user (as root: started under ``nobody``), and Python processes that
the stop itself runs in.  Never port 5001: other people's servers may be
there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from grader.run.server import free_port, port_is_free
from grader.stop import stop_server
from tests.conftest import ROOT, WEBGRADE

REFERENCE = ROOT / "reference_server" / "main.py"
NOBODY = 65534

#: A bare Python server: listens on argv[1] and waits; with "ignore-term", SIGTERM does not stop it.
PLAIN_SERVER = """
import signal, socket, sys, time
if "ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(5)
time.sleep(600)
"""


def wait_listening(port: int, proc: subprocess.Popen, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the listener exited with {proc.returncode}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listened on port {port} within {within} s")


@pytest.fixture
def listen() -> Iterator[Callable[..., tuple[subprocess.Popen, int]]]:
    """``listen(argv_before_port, ...)``: start a real listener on a free port; all are killed afterwards."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], *after: str, **popen: object) -> tuple[subprocess.Popen, int]:
        port = free_port()
        proc = subprocess.Popen(
            [*args, str(port), *after], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen
        )
        started.append(proc)
        wait_listening(port, proc)
        return proc, port

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def webgrade_stop(port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*WEBGRADE, "stop", str(port)], capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"}
    )


def test_stops_the_lessons_flask_server_with_sigterm(listen, tmp_path: Path) -> None:
    script = tmp_path / "main.py"
    source = REFERENCE.read_text(encoding="utf-8")
    assert "port=5001" in source
    script.write_text(source.replace("port=5001", "port=int(__import__('sys').argv[1])"), encoding="utf-8")
    server, port = listen([sys.executable, str(script)])

    stopped = webgrade_stop(port)

    assert stopped.returncode == 0, stopped.stderr
    # Says which process it was: its name, its pid and its command line, and how it ended.
    assert f"(pid {server.pid}: " in stopped.stdout and "main.py" in stopped.stdout
    assert f"listening on port {port} (it ended on SIGTERM)" in stopped.stdout
    assert server.wait(timeout=10) == -signal.SIGTERM
    assert port_is_free(port)


def test_kills_a_server_that_ignores_sigterm_after_the_grace(listen) -> None:
    server, port = listen([sys.executable, "-c", PLAIN_SERVER], "ignore-term")

    stopped = webgrade_stop(port)

    assert stopped.returncode == 0, stopped.stderr
    assert "killed: it was still running 3 s after SIGTERM" in stopped.stdout
    assert server.wait(timeout=10) == -signal.SIGKILL
    assert port_is_free(port)


@pytest.mark.skipif(shutil.which("perl") is None, reason="needs perl: a real listener that is not Python")
def test_refuses_a_listener_that_is_not_python(listen) -> None:
    perl = (
        'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], '
        'Listen => 5, ReuseAddr => 1) or die "$!"; sleep 600;'
    )
    server, port = listen(["perl", "-e", perl])

    stopped = webgrade_stop(port)

    assert stopped.returncode == 1
    assert f"port {port} is held by perl (pid {server.pid}" in stopped.stderr
    assert "not stopped, because it is not a Python program" in stopped.stderr
    assert server.poll() is None and not port_is_free(port)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="another user's process needs root to start")
def test_refuses_a_python_server_of_another_user(listen) -> None:
    def as_nobody() -> None:
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    # A Python that nobody may run: not this one, whose home (root's) nobody cannot enter. Only the
    # standard library is used, so the interpreter's own packages do not matter.
    python = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if _runs_as_nobody(p)), None)
    if python is None:
        pytest.skip("no Python that the user nobody may run")
    server, port = listen([python, "-I", "-c", PLAIN_SERVER], preexec_fn=as_nobody, cwd="/")
    assert psutil.Process(server.pid).uids().real == NOBODY

    stopped = webgrade_stop(port)

    assert stopped.returncode == 1
    assert f"(pid {server.pid}" in stopped.stderr
    assert "not stopped, because it belongs to the user " in stopped.stderr and ", not to you" in stopped.stderr
    assert server.poll() is None and not port_is_free(port)


def _runs_as_nobody(python: str) -> bool:
    def as_nobody() -> None:
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    try:
        return subprocess.run([python, "-I", "-c", "pass"], preexec_fn=as_nobody, cwd="/", timeout=60).returncode == 0
    except OSError:
        return False


def test_refuses_the_program_it_runs_in() -> None:
    """The stop never stops its own Python (a notebook's kernel) nor one it runs under (Jupyter's server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]

        itself = stop_server(port)  # in this process: the kernel's case
        assert not itself.stopped
        assert "not stopped, because it is this very Python" in itself.message

        parent = webgrade_stop(port)  # the command runs under this process: Jupyter's server's case
        assert parent.returncode == 1
        assert f"(pid {os.getpid()}" in parent.stderr and "this program runs inside it" in parent.stderr


def test_says_when_nothing_listens() -> None:
    port = free_port()
    stopped = webgrade_stop(port)
    assert stopped.returncode == 1
    assert stopped.stderr.strip() == f"webgrade: nothing listens on port {port}: there is no server to stop"
