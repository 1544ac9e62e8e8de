"""The Windows process backend: the student's server in a Job Object that ends with the grader.

Windows has no fork, no POSIX process groups or signals, no ``/proc`` and no
bubblewrap.  What holds instead, each on documented Win32 behaviour:

* **Nothing outlives the grader.**  The grader creates a job object
  (CreateJobObjectW [1]) and sets ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE``
  (SetInformationJobObject [2] with JOBOBJECT_EXTENDED_LIMIT_INFORMATION
  [3]): "causes all processes associated with the job to terminate when the
  last handle to the job is closed" [4].  Only the grader holds a handle
  (made without ``lpJobAttributes``, so not inheritable), and the system
  closes a process's handles when it ends, however it ends: a grader killed
  outright leaves nothing running.
* **The whole tree is in the job.**  The launcher is assigned to it
  (AssignProcessToJobObject [5]; the process handle needs
  ``PROCESS_SET_QUOTA`` and ``PROCESS_TERMINATE`` [6]) before it starts the
  student's program: it waits for :data:`GO` on its standard input (the
  lifeline), which the grader writes after the assignment.  Processes that a
  process in a job creates are in the job too [7], and this job never sets
  ``JOB_OBJECT_LIMIT_BREAKAWAY_OK``, so nothing the server starts leaves it.
  A grader that is itself in a job (CI runners, some terminals) is fine:
  jobs nest since Windows 8 [5].
* **The stop.**  A byte on the launcher's standard input asks it to stop:
  it sends ``CTRL_BREAK_EVENT`` (GenerateConsoleCtrlEvent [8]) to the
  student's program, which it started with ``CREATE_NEW_PROCESS_GROUP`` [9]
  (so it is the root of a console process group of its own, and a Ctrl+C in
  the grader's console does not reach it), then terminates it after a
  grace.  The grader then ends whatever is left with TerminateJobObject
  [10].  Both steps run :func:`grader.run.portable.stop_tree`.
* **Limits.**  Per process: committed memory (``JOB_OBJECT_LIMIT_PROCESS_MEMORY``:
  an allocation past it fails, and Python raises ``MemoryError``) and
  user-mode CPU time (``JOB_OBJECT_LIMIT_PROCESS_TIME``: "the process is
  terminated" [3]); for the job, the number of processes at once
  (``JOB_OBJECT_LIMIT_ACTIVE_PROCESS``, the launcher counted: a process past
  it "is terminated and the association fails" [5]).  Windows has no limit
  on the size of a file.  ``JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION``
  keeps a crashed server from waiting on an error dialog.
* **The tree and its ports**: the job's process list (QueryInformationJobObject
  [11] with JobObjectBasicProcessIdList, JOBOBJECT_BASIC_PROCESS_ID_LIST [12])
  and psutil.

[1] https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-createjobobjectw
[2] https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-setinformationjobobject
[3] https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-jobobject_basic_limit_information
[4] https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-jobobject_extended_limit_information
[5] https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-assignprocesstojobobject
[6] https://learn.microsoft.com/windows/win32/procthread/process-security-and-access-rights
[7] https://learn.microsoft.com/windows/win32/procthread/job-objects
[8] https://learn.microsoft.com/windows/console/generateconsolectrlevent
[9] https://learn.microsoft.com/windows/win32/procthread/process-creation-flags
[10] https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-terminatejobobject
[11] https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-queryinformationjobobject
[12] https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-jobobject_basic_process_id_list

What calls Windows is in :class:`Win32Jobs`, defined on Windows only; the
rest (the limit structure and its layout, the process list's layout, the
job's bookkeeping over any :class:`JobApi`, the stop) is unit-tested on any
system (``tests/unit/test_backend_windows.py``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import psutil  # type: ignore[import-untyped]  # no types-psutil in the dev group

from grader.run import procfs
from grader.run.limits import Limits
from grader.run.portable import PortableRunning, Proc, Seen, Spawned, stop_tree
from grader.run.server_log import ServerLog

if TYPE_CHECKING:
    from typing import Unpack

#: Written on the launcher's lifeline once it is in the job: it may start the student's program (launcher.GO).
GO = b"g"
#: Process creation flag [9]: the launcher ignores Ctrl+C in the grader's console (the grader stops it).
CREATE_NEW_PROCESS_GROUP = 0x00000200

# LimitFlags of JOBOBJECT_BASIC_LIMIT_INFORMATION [3] (winnt.h).
JOB_OBJECT_LIMIT_PROCESS_TIME = 0x00000002
JOB_OBJECT_LIMIT_ACTIVE_PROCESS = 0x00000008
JOB_OBJECT_LIMIT_PROCESS_MEMORY = 0x00000100
JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
# JOBOBJECTINFOCLASS values [2].
JOB_OBJECT_BASIC_PROCESS_ID_LIST = 3
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9
# Process access rights that AssignProcessToJobObject needs [5][6].
PROCESS_TERMINATE = 0x0001
PROCESS_SET_QUOTA = 0x0100
#: PerProcessUserTimeLimit counts 100-nanosecond ticks [3].
TICKS_PER_SECOND = 10_000_000
#: How many processes the grader asks the job to list: the process limit, and room to spare.
LISTED = 1024


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):  # Windows' own names, as in winnt.h [3]
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),  # LARGE_INTEGER
        ("PerJobUserTimeLimit", ctypes.c_int64),  # LARGE_INTEGER
        ("LimitFlags", ctypes.c_uint32),  # DWORD
        ("MinimumWorkingSetSize", ctypes.c_size_t),  # SIZE_T
        ("MaximumWorkingSetSize", ctypes.c_size_t),  # SIZE_T
        ("ActiveProcessLimit", ctypes.c_uint32),  # DWORD
        ("Affinity", ctypes.c_size_t),  # ULONG_PTR
        ("PriorityClass", ctypes.c_uint32),  # DWORD
        ("SchedulingClass", ctypes.c_uint32),  # DWORD
    ]


class IO_COUNTERS(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)  # ULONGLONG
        for name in (
            "ReadOperationCount",
            "WriteOperationCount",
            "OtherOperationCount",
            "ReadTransferCount",
            "WriteTransferCount",
            "OtherTransferCount",
        )
    ]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):  # [4]
    _fields_ = [
        ("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
        ("IoInfo", IO_COUNTERS),
        ("ProcessMemoryLimit", ctypes.c_size_t),  # SIZE_T
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


def limit_information(limits: Limits) -> JOBOBJECT_EXTENDED_LIMIT_INFORMATION:
    """The job's limits: ``limits`` as Windows has them, and the tree ended when the grader's handle closes."""
    info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    basic = info.BasicLimitInformation
    basic.LimitFlags = (
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
        | JOB_OBJECT_LIMIT_PROCESS_MEMORY
        | JOB_OBJECT_LIMIT_PROCESS_TIME
        | JOB_OBJECT_LIMIT_ACTIVE_PROCESS
    )
    basic.PerProcessUserTimeLimit = limits.cpu_s * TICKS_PER_SECOND
    basic.ActiveProcessLimit = limits.processes + 1  # the launcher is in the job too
    info.ProcessMemoryLimit = limits.memory_mb * 1024 * 1024
    return info


def process_ids(buffer: bytes, pointer_size: int = ctypes.sizeof(ctypes.c_size_t)) -> list[int]:
    """The pids in a JOBOBJECT_BASIC_PROCESS_ID_LIST [12]: two DWORDs, then ``NumberOfProcessIdsInList`` ULONG_PTRs.

    The list starts at byte 8 on 32- and 64-bit Windows alike (a ULONG_PTR's
    alignment is at most 8).
    """
    _assigned, listed = struct.unpack_from("<II", buffer, 0)
    listed = min(listed, (len(buffer) - 8) // pointer_size)
    return list(struct.unpack_from(f"<{listed}{'Q' if pointer_size == 8 else 'I'}", buffer, 8))


class JobApi(Protocol):
    """The job object calls, each raising OSError when Windows says no (:class:`Win32Jobs`; tests give fakes)."""

    def create(self) -> int:
        """A new job's handle, not inheritable."""
        ...

    def set_limits(self, job: int, info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION) -> None: ...

    def assign(self, job: int, pid: int) -> None: ...

    def process_ids(self, job: int) -> list[int]: ...

    def terminate(self, job: int, code: int) -> None: ...

    def close(self, handle: int) -> None: ...


class Job:
    """One Job Object, held by the grader only: made with its limits, given the launcher, ended once."""

    def __init__(self, limits: Limits, api: JobApi | None = None) -> None:
        self._api = api if api is not None else _win32()
        self._handle: int | None = self._api.create()
        try:
            self._api.set_limits(self._handle, limit_information(limits))
        except OSError:
            self.close()
            raise

    @property
    def open(self) -> bool:
        return self._handle is not None

    def admit(self, pid: int) -> None:
        """Put process ``pid`` in the job (everything it starts from now on will be in it too)."""
        if self._handle is None:
            raise OSError("the job is closed")
        self._api.assign(self._handle, pid)

    def pids(self) -> list[int]:
        """The processes in the job now ([] once it is closed, or if Windows will not say)."""
        if self._handle is None:
            return []
        try:
            return self._api.process_ids(self._handle)
        except OSError:
            return []

    def terminate(self) -> None:
        """End every process in the job now (TerminateJobObject [10])."""
        if self._handle is not None:
            try:
                self._api.terminate(self._handle, 1)
            except OSError:
                pass  # nothing left in it, or Windows refused: closing the handle ends them too

    def close(self) -> None:
        """Let go of the job: with KILL_ON_JOB_CLOSE, whatever is still in it ends."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._api.close(handle)


def admit(job: Job, pid: int, lifeline: int) -> str | None:
    """Put the launcher ``pid`` in ``job``, then tell it to go on; a warning for the report if Windows refused."""
    warning = None
    try:
        job.admit(pid)
    except OSError as error:
        warning = (
            f"processes: Windows would not put the server in a Job Object ({error}): "
            "what it starts may outlive grading, and its memory, CPU and process limits do not hold"
        )
    try:
        os.write(lifeline, GO)
    except OSError:
        pass  # it is gone already: the readiness loop says why
    return warning


class WindowsRunning(PortableRunning):
    """A launcher run by the Windows backend: its tree is its Job Object; asked to stop on its standard input."""

    def __init__(self, popen: subprocess.Popen[bytes], log: ServerLog, *, job: Job, **spawned: Unpack[Spawned]) -> None:
        super().__init__(popen, log, handed_over=None, **spawned)
        self.job = job

    def _tree(self) -> list[psutil.Process]:
        """The launcher's tree and everything else in the job (a process whose parent exited is in it still)."""
        processes = procfs.tree(self.popen.pid)
        known = {process.pid for process in processes}
        for pid in self.job.pids():
            if pid not in known:
                try:
                    processes.append(psutil.Process(pid))
                except psutil.Error:
                    continue
        return processes

    def listening_ports(self) -> set[int]:
        return procfs.listening_ports_of(self._tree())

    def retire(self) -> None:
        super().retire()
        self.job.terminate()
        self.job.close()

    def stop(self, grace: float) -> None:
        stop_tree(self, grace, Seen())  # no groups, and no sweep: the job holds every process of the run

    # --- Stoppable ---

    def snapshot(self) -> Iterable[Proc]:
        processes: list[Proc] = self._tree()
        return processes

    def ask(self, seen: Seen) -> None:
        """The byte on the launcher's standard input: it sends CTRL_BREAK_EVENT, then terminates its child."""
        self.terminate()

    def force(self, seen: Seen, left: list[Proc]) -> None:
        self.job.terminate()
        for process in left:  # in case Windows refused to end the job
            try:
                process.send_signal(signal.SIGTERM)  # psutil: TerminateProcess on Windows
            except (psutil.Error, OSError):
                continue

    def reap(self) -> None:
        super().reap()
        self.job.close()


def _win32() -> JobApi:
    if sys.platform == "win32":
        return Win32Jobs()
    raise OSError("Job Objects are Windows'")


if sys.platform == "win32":
    from ctypes import wintypes

    class Win32Jobs:
        """:class:`JobApi` on kernel32, each call as its page documents it."""

        def __init__(self) -> None:
            k = ctypes.WinDLL("kernel32", use_last_error=True)
            k.CreateJobObjectW.argtypes = (ctypes.c_void_p, wintypes.LPCWSTR)
            k.CreateJobObjectW.restype = wintypes.HANDLE
            k.SetInformationJobObject.argtypes = (wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD)
            k.SetInformationJobObject.restype = wintypes.BOOL
            k.QueryInformationJobObject.argtypes = (
                wintypes.HANDLE,
                ctypes.c_int,
                ctypes.c_void_p,
                wintypes.DWORD,
                ctypes.POINTER(wintypes.DWORD),
            )
            k.QueryInformationJobObject.restype = wintypes.BOOL
            k.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
            k.OpenProcess.restype = wintypes.HANDLE
            k.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
            k.AssignProcessToJobObject.restype = wintypes.BOOL
            k.TerminateJobObject.argtypes = (wintypes.HANDLE, wintypes.UINT)
            k.TerminateJobObject.restype = wintypes.BOOL
            k.CloseHandle.argtypes = (wintypes.HANDLE,)
            k.CloseHandle.restype = wintypes.BOOL
            self._k = k

        @staticmethod
        def _check(ok: int) -> None:
            if not ok:
                raise ctypes.WinError(ctypes.get_last_error())

        def create(self) -> int:
            handle: int | None = self._k.CreateJobObjectW(None, None)  # no attributes: not inheritable
            if not handle:
                raise ctypes.WinError(ctypes.get_last_error())
            return handle

        def set_limits(self, job: int, info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION) -> None:
            self._check(
                self._k.SetInformationJobObject(
                    job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(info), ctypes.sizeof(info)
                )
            )

        def assign(self, job: int, pid: int) -> None:
            process: int | None = self._k.OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, False, pid)
            if not process:
                raise ctypes.WinError(ctypes.get_last_error())
            try:
                self._check(self._k.AssignProcessToJobObject(job, process))
            finally:
                self._k.CloseHandle(process)

        def process_ids(self, job: int) -> list[int]:
            size = 8 + LISTED * ctypes.sizeof(ctypes.c_size_t)
            buffer = ctypes.create_string_buffer(size)
            self._check(self._k.QueryInformationJobObject(job, JOB_OBJECT_BASIC_PROCESS_ID_LIST, buffer, size, None))
            return process_ids(buffer.raw)

        def terminate(self, job: int, code: int) -> None:
            self._check(self._k.TerminateJobObject(job, code))

        def close(self, handle: int) -> None:
            self._k.CloseHandle(handle)
