"""launcher.py's pure parts: the output cap, finding the app, reading /proc/PID/stat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from grader.run import launcher

NOTE = "\n[webgrade: {} bytes of the server's output left out here]\n"


def written(path: Path, keep: int, chunks: list[bytes]) -> bytes:
    with open(path, "wb") as f:
        output = launcher.Output(f.fileno(), keep=keep)
        for chunk in chunks:
            output.write(chunk)
        output.flush()
    return path.read_bytes()


def test_output_keeps_the_first_and_the_last_bytes(tmp_path):
    text = written(tmp_path / "log", 10, [b"0123456789abcdefghijKLMNOPQRST"])
    assert text == b"0123456789" + NOTE.format(10).encode() + b"KLMNOPQRST"


def test_output_keeps_everything_that_fits(tmp_path):
    assert written(tmp_path / "log", 10, [b"0123456", b"789abc", b"de"]) == b"0123456789abcde"


def test_output_of_many_writes_is_the_same_as_of_one(tmp_path):
    """The tail is rewritten in place, however often it was flushed on the way."""
    lines = [f"line {n}\n".encode() for n in range(20_000)]
    everything = b"".join(lines)
    text = written(tmp_path / "log", 1000, lines)
    assert text == everything[:1000] + NOTE.format(len(everything) - 2000).encode() + everything[-1000:]


def test_find_app_is_the_one_named_app_first():
    app, other = Flask("app"), Flask("other")
    assert launcher._find_app({"other": other, "app": app, "application": other}) is app
    assert launcher._find_app({"other": other, "application": app}) is app


def test_find_app_takes_the_only_flask_app():
    app = Flask("anything")
    assert launcher._find_app({"server": app, "name": "app"}) is app


def test_find_app_calls_a_factory():
    app = Flask("made")
    assert launcher._find_app({"create_app": lambda: app}) is app
    assert launcher._find_app({"make_app": lambda: app}) is app


def test_find_app_finds_none_where_there_is_none():
    assert launcher._find_app({}) is None
    assert launcher._find_app({"app": "not an app", "create_app": lambda: 42}) is None


@pytest.mark.parametrize(
    ("stat", "state", "ppid"),
    [
        (b"1234 (python3) S 1 1234 1234 0 -1 4194560 1449", b"S", 1),
        (b"99 (my (odd) prog) R 42 99 99", b"R", 42),  # spaces and parentheses in the name
        (b"7 (sh) Z 3 7 7", b"Z", 3),
    ],
)
def test_parse_stat_reads_state_and_parent(stat, state, ppid):
    assert launcher._parse_stat(stat) == (state, ppid)


def test_descendants_include_a_child():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child.pid in launcher._descendants(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert child.pid not in launcher._descendants(os.getpid())


def test_the_supervisor_is_loaded_by_path_and_never_imported():
    """launcher.py takes supervisor.py's names, and no module of ours is in sys.modules to shadow a student's."""
    code = (
        "import runpy, sys\n"
        "names = runpy.run_path(sys.argv[1])\n"
        "assert callable(names['supervise']) and callable(names['Output']) and callable(names['run_script'])\n"
        "print(sorted(m for m in sys.modules if 'supervisor' in m or 'launcher' in m))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code, launcher.__file__], capture_output=True, text=True, timeout=60, cwd=os.sep
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"
