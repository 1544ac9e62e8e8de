"""launcher.py's supervisor, as the backends need it: who sent a stop signal, limits a system refuses,
and the output cap where there is no pwrite (Windows)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.run import launcher

LAUNCHER_DIR = Path(launcher.__file__).parent
linux = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc, as Linux's backend does")


def test_the_grader_the_kernel_and_the_supervisor_itself_may_stop_it():
    me, parent = os.getpid(), os.getppid()
    assert not launcher._sent_by_student(0, me, parent, sandboxed=False)  # the kernel (a terminal's hang-up)
    assert not launcher._sent_by_student(me, me, parent, sandboxed=False)  # our lifeline's watcher
    assert not launcher._sent_by_student(parent, me, parent, sandboxed=False)  # the grader
    assert not launcher._sent_by_student(0, 1, 4242, sandboxed=True)  # from outside the sandbox's pid namespace


def test_in_the_sandbox_every_other_sender_is_the_students():
    """Its pid namespace holds the supervisor and the student's processes only (the grader's pid may recur there)."""
    assert launcher._sent_by_student(4242, 1, 4242, sandboxed=True)
    assert launcher._sent_by_student(7, 1, 4242, sandboxed=True)


@linux
def test_outside_the_sandbox_a_descendant_is_the_students_and_a_stranger_is_not():
    me = os.getpid()
    child = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', 'input()'])"],
        stdin=subprocess.PIPE,
    )
    try:
        grandchild = None
        while grandchild is None:  # its child is started (no clock: it exists or it does not yet)
            assert child.poll() is None
            with open(f"/proc/{child.pid}/task/{child.pid}/children") as f:
                found = f.read().split()
            grandchild = int(found[0]) if found else None
        assert launcher._sent_by_student(child.pid, me, parent=1, sandboxed=False)
        assert launcher._sent_by_student(grandchild, me, parent=1, sandboxed=False)
        assert launcher._descends_from(grandchild, me) is True
        # Our own parent is no descendant of ours: someone else's signal, which may stop us.
        assert not launcher._sent_by_student(os.getppid(), me, parent=1, sandboxed=False)
        assert launcher._descends_from(os.getppid(), me) is False
    finally:
        child.kill()
        child.wait()


@linux
def test_a_sender_already_gone_is_taken_for_the_students():
    """A student's process may signal and exit at once; the grader's never vanishes that fast."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert launcher._descends_from(gone.pid, os.getpid()) is None
    assert launcher._sent_by_student(gone.pid, os.getpid(), parent=1, sandboxed=False)


@pytest.mark.skipif(os.name != "posix", reason="resource limits are POSIX's")
def test_a_limit_the_system_refuses_is_skipped_not_a_crash():
    """macOS takes some limits and refuses others: the student's program starts all the same."""
    code = (
        "import resource, launcher\n"
        "real = resource.setrlimit\n"
        "def refusing(limit, values):\n"
        "    if limit == resource.RLIMIT_AS:\n"
        "        raise ValueError('not allowed to raise maximum limit')\n"
        "    real(limit, values)\n"
        "resource.setrlimit = refusing\n"
        "launcher._apply_limits()\n"
        "print(resource.getrlimit(resource.RLIMIT_FSIZE)[0], resource.getrlimit(resource.RLIMIT_CPU)[0])\n"
    )
    env = {
        **os.environ,
        "WEBGRADE_LIMIT_AS": "1000000000",
        "WEBGRADE_LIMIT_FSIZE": "1048576",
        "WEBGRADE_LIMIT_CPU": "50",
    }
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=LAUNCHER_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1048576", "50"]  # the others were set


def test_the_output_cap_works_without_pwrite(tmp_path, monkeypatch):
    """Windows has no os.pwrite: the kept tail is rewritten with a seek and a write instead."""
    monkeypatch.delattr(launcher.os, "pwrite", raising=False)
    lines = [f"line {n}\n".encode() for n in range(20_000)]
    everything = b"".join(lines)
    with open(tmp_path / "log", "wb") as f:
        output = launcher.Output(f.fileno(), keep=1000)
        for line in lines:
            output.write(line)
        output.flush()
    note = f"\n[webgrade: {len(everything) - 2000} bytes of the server's output left out here]\n".encode()
    assert (tmp_path / "log").read_bytes() == everything[:1000] + note + everything[-1000:]
