"""windows: what of the Windows backend does not call Windows, tested on any system.

The job's limit structure and its layout (as winnt.h declares it), the process list's layout, the job's
bookkeeping over a fake kernel32, the start hand-shake (the launcher goes on only once it is in the job),
the stop sequence of a WindowsRunning, and the launcher's Windows half (CRLF, CTRL_BREAK then terminate).
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import sys

import pytest

from grader.run import launcher, windows
from grader.run.limits import Limits
from grader.run.portable import STOP
from grader.run.windows import (
    JOBOBJECT_BASIC_LIMIT_INFORMATION,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    Job,
    WindowsRunning,
)

BITS64 = ctypes.sizeof(ctypes.c_size_t) == 8


@pytest.mark.skipif(not BITS64, reason="the 64-bit layout")
def test_the_limit_structures_have_windows_64_bit_layout():
    """Offsets and sizes of x64's winnt.h: a wrong one and Windows reads every limit from the wrong place."""
    basic = JOBOBJECT_BASIC_LIMIT_INFORMATION
    offsets = {name: getattr(basic, name).offset for name, _ in basic._fields_}
    assert offsets == {
        "PerProcessUserTimeLimit": 0,
        "PerJobUserTimeLimit": 8,
        "LimitFlags": 16,
        "MinimumWorkingSetSize": 24,
        "MaximumWorkingSetSize": 32,
        "ActiveProcessLimit": 40,
        "Affinity": 48,
        "PriorityClass": 56,
        "SchedulingClass": 60,
    }
    assert ctypes.sizeof(basic) == 64
    extended = JOBOBJECT_EXTENDED_LIMIT_INFORMATION
    assert extended.IoInfo.offset == 64 and extended.ProcessMemoryLimit.offset == 112
    assert ctypes.sizeof(extended) == 144


def test_the_job_ends_everything_with_the_graders_handle_and_holds_the_limits():
    info = windows.limit_information(Limits(memory_mb=512, cpu_s=30, processes=16))
    flags = info.BasicLimitInformation.LimitFlags
    for flag in (
        windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        windows.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION,
        windows.JOB_OBJECT_LIMIT_PROCESS_MEMORY,
        windows.JOB_OBJECT_LIMIT_PROCESS_TIME,
        windows.JOB_OBJECT_LIMIT_ACTIVE_PROCESS,
    ):
        assert flags & flag == flag
    assert flags & 0x00000800 == 0  # JOB_OBJECT_LIMIT_BREAKAWAY_OK: nothing may leave the job
    assert info.ProcessMemoryLimit == 512 * 1024 * 1024
    assert info.BasicLimitInformation.PerProcessUserTimeLimit == 30 * 10_000_000  # 100 ns ticks
    assert info.BasicLimitInformation.ActiveProcessLimit == 17  # the launcher counts


@pytest.mark.parametrize(("pointer", "code"), [(8, "Q"), (4, "I")])
def test_the_process_list_is_read_on_32_and_64_bits(pointer, code):
    buffer = struct.pack("<II", 3, 2) + struct.pack(f"<2{code}", 4242, 77) + b"\0" * pointer * 6
    assert windows.process_ids(buffer, pointer) == [4242, 77]
    assert windows.process_ids(struct.pack("<II", 9, 9) + struct.pack(f"<{code}", 5), pointer) == [5]  # cut short


class FakeKernel:
    """The job calls, recorded; ``fail`` names the ones that raise OSError."""

    def __init__(self, *fail: str) -> None:
        self.fail = set(fail)
        self.calls: list[tuple[object, ...]] = []
        self.in_job: list[int] = []

    def _call(self, *call: object) -> None:
        self.calls.append(call)
        if call[0] in self.fail:
            raise OSError(f"{call[0]} refused")

    def create(self) -> int:
        self._call("create")
        return 99

    def set_limits(self, job, info):
        self._call("set_limits", job, info.BasicLimitInformation.LimitFlags)

    def assign(self, job, pid):
        self._call("assign", job, pid)
        self.in_job.append(pid)

    def process_ids(self, job):
        self._call("process_ids", job)
        return list(self.in_job)

    def terminate(self, job, code):
        self._call("terminate", job, code)

    def close(self, handle):
        self._call("close", handle)


def test_a_job_is_made_with_its_limits_admits_lists_ends_and_is_closed_once():
    kernel = FakeKernel()
    job = Job(Limits(), kernel)
    job.admit(1234)
    assert job.pids() == [1234]
    job.terminate()
    job.close()
    job.close()
    job.terminate()  # closed: nothing more reaches Windows
    assert job.pids() == [] and not job.open
    names = [call[0] for call in kernel.calls]
    assert names == ["create", "set_limits", "assign", "process_ids", "terminate", "close"]
    assert kernel.calls[1][2] & windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    with pytest.raises(OSError, match="closed"):
        job.admit(1)


def test_a_job_whose_limits_are_refused_is_not_left_open():
    kernel = FakeKernel("set_limits")
    with pytest.raises(OSError, match="set_limits refused"):
        Job(Limits(), kernel)
    assert kernel.calls[-1] == ("close", 99)


def test_a_job_says_nothing_rather_than_fail_when_it_cannot_list_or_end():
    job = Job(Limits(), FakeKernel("process_ids", "terminate"))
    assert job.pids() == []
    job.terminate()  # closing the handle ends them anyway


def test_without_windows_there_is_no_job():
    if sys.platform == "win32":
        pytest.skip("Windows has jobs")
    with pytest.raises(OSError, match="Windows'"):
        Job(Limits())


@pytest.mark.parametrize("refused", [False, True])
def test_the_launcher_goes_on_only_after_the_job_took_it(refused):
    kernel = FakeKernel(*(["assign"] if refused else []))
    job = Job(Limits(), kernel)
    theirs, ours = os.pipe()
    try:
        warning = windows.admit(job, 4321, ours)
        assert ("assign", 99, 4321) in kernel.calls
        assert os.read(theirs, 1) == windows.GO == launcher.GO  # either way: a refusal is said, not a hang
    finally:
        os.close(theirs)
        os.close(ours)
    if refused:
        assert warning is not None and "would not put the server in a Job Object (assign refused)" in warning
    else:
        assert warning is None


def test_a_windows_run_asks_its_launcher_then_ends_and_closes_its_job(tmp_path):
    """The stop sequence: the byte on the launcher's standard input, then TerminateJobObject, then the handle."""
    theirs, ours = os.pipe()
    # Stands in for the launcher: reads its standard input, and exits on the stop byte.
    stop = f"import sys; sys.exit(sys.stdin.buffer.read(1) == {STOP!r} and 7)"
    child = subprocess.Popen([sys.executable, "-c", stop], stdin=theirs)
    os.close(theirs)
    kernel = FakeKernel()
    job = Job(Limits(), kernel)
    run = WindowsRunning(child, None, lifeline=ours, port=5000, out=tmp_path / "out", started=0.0, job=job)  # type: ignore[arg-type]
    try:
        run.stop(grace=60)
        assert child.returncode == 7  # it read the stop byte
        names = [call[0] for call in kernel.calls]
        assert names[-2:] == ["terminate", "close"] and not job.open
        assert run.lifeline == -1
    finally:
        child.kill()
        child.wait()


# --- the launcher's Windows half ---


@pytest.mark.parametrize(
    "chunks",
    [[b"a\r\nb\r\n"], [b"a\r", b"\nb\r\n"], [b"a\r", b"\n", b"b\r", b"\n"], [b"a\r\nb\r", b""]],
)
def test_crlf_becomes_lf_however_the_output_is_cut(chunks):
    newlines = launcher._Newlines()
    joined = b"".join(newlines.feed(chunk) for chunk in chunks) + newlines.end()
    assert joined == (b"a\nb\n" if b"".join(chunks).endswith(b"\n") else b"a\nb\r")


def test_a_lone_cr_is_kept():
    newlines = launcher._Newlines()
    assert newlines.feed(b"progress 1\rprogress 2\r") + newlines.feed(b"done\n") == b"progress 1\rprogress 2\rdone\n"


class Child:
    """A child process as _stop_child sees it: it exits on the polite signal, or only when killed."""

    def __init__(self, polite_works: bool, polite_fails: bool = False) -> None:
        self.polite_works, self.polite_fails = polite_works, polite_fails
        self.calls: list[str] = []
        self.done = False

    def send_signal(self, sig):
        self.calls.append(f"signal {sig}")
        if self.polite_fails:
            raise OSError("no console shared with it")
        self.done = self.polite_works

    def wait(self, timeout=None):
        self.calls.append(f"wait {timeout}")
        if not self.done and timeout is not None:
            raise subprocess.TimeoutExpired("child", timeout)
        return 0

    def kill(self):
        self.calls.append("kill")
        self.done = True


def test_the_child_gets_ctrl_break_and_the_grace():
    child = Child(polite_works=True)
    launcher._stop_child(child, 1.0, 21)
    assert child.calls == ["signal 21", "wait 1.0"]


def test_a_child_that_ignores_ctrl_break_is_terminated_after_the_grace():
    child = Child(polite_works=False)
    launcher._stop_child(child, 1.0, 21)
    assert child.calls == ["signal 21", "wait 1.0", "kill", "wait None"]


def test_without_a_shared_console_the_child_is_terminated_at_once():
    child = Child(polite_works=False, polite_fails=True)
    launcher._stop_child(child, 1.0, 21)
    assert child.calls == ["signal 21", "wait 0", "kill", "wait None"]
