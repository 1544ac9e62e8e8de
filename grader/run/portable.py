"""The portable process backend, on the grader's side: the server's tree found and stopped with psutil.

For systems without Linux's ``/proc`` and ``prctl`` (macOS), and for Linux
with ``WEBGRADE_PROCESS=portable`` (how CI tests this path).  The promises,
and what keeps each:

* **The whole tree is stopped.**  The student's program leads a process
  group of its own (``launcher.py``), which the supervisor stops with
  ``killpg`` when the grader asks on the lifeline.  Whatever left that group
  (``setpgid``, ``setsid``) while its parent lives is still in the tree that
  psutil finds from the launcher (:func:`grader.run.procfs.tree`): this side
  asks it to stop too, and kills what is left after the grace.
* **Detached processes.**  A process whose parent exited belongs to nobody's
  tree any more (there is no subreaper here).  So after the stop this side
  sweeps the processes started since the server by this user (:func:`strays`)
  for the run's mark: its own ``WEBGRADE_OUT`` in their environment (which
  psutil reads as it was at their start) or a working directory inside the
  run's folder.  A process that detached itself into a new session, then
  ``exec``'d with an empty environment and left the folder, cannot be told
  from any other process of the user's: the report says so
  (:func:`grader.run.backend.note`), as it says that there is no sandbox.
* **The grader's death** is noticed by the supervisor through the lifeline
  alone (no parent-death signal); it then stops its group and removes the
  run's folder.
* **Ports** (``--command``'s readiness, "listens on another port"): psutil's
  per-process connections.

The stop sequence (:func:`stop_tree`) and its bookkeeping (:class:`Seen`)
know no system: the Windows backend (``grader.run.windows``) runs them too,
and ``tests/unit/test_backend_portable.py`` drives them with fake processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict

import psutil  # type: ignore[import-untyped]  # no types-psutil in the dev group

from grader.run import procfs
from grader.run.launch import Running
from grader.run.sandbox import Mode
from grader.run.server_log import ServerLog

if TYPE_CHECKING:
    from typing import Unpack

#: Written on the lifeline to ask the supervisor to stop (any byte does; end-of-file means the grader is gone).
STOP = b"s"
#: psutil's start times come from the kernel's clock ticks: a process started just after the spawn may
#: read as a little before it.
CLOCK_SLACK_S = 1.0


class Proc(Protocol):
    """What the stop needs of a process: psutil's ``Process`` (tests give fakes)."""

    @property
    def pid(self) -> int: ...

    def create_time(self) -> float: ...

    def is_running(self) -> bool:
        """Still running, and still the same process (psutil compares the start time)."""
        ...

    def ppid(self) -> int: ...

    def send_signal(self, sig: int) -> None:
        """Signal it, unless its pid now belongs to another process (psutil checks)."""
        ...


class Seen:
    """The processes of one server's tree seen so far, each by identity: its pid and its start time.

    So a pid that the system has given to another process since is never
    taken for ours (psutil's ``is_running`` compares the start time too).
    ``group_of`` finds a process's group (``os.getpgid``; None where there
    are no process groups): the groups seen are killed whole at the end,
    but only those a process of the tree leads, and never ``spare`` (the
    grader's own).  A student's process may join another group of the
    grader's session (its terminal's, say): that group is not the tree's.
    """

    def __init__(self, group_of: Callable[[int], int | None] | None = None, spare: Iterable[int] = ()) -> None:
        self._by_identity: dict[tuple[int, float], Proc] = {}
        self._group_of = group_of
        self._spare = set(spare)
        self._groups: set[int] = set()

    def add(self, processes: Iterable[Proc]) -> None:
        for process in processes:
            try:
                key = (process.pid, process.create_time())
            except (psutil.Error, OSError):
                continue  # gone already
            self._by_identity.setdefault(key, process)
            if self._group_of is not None:
                group = self._group_of(process.pid)
                if group is not None and group not in self._spare:
                    self._groups.add(group)

    def __len__(self) -> int:
        return len(self._by_identity)

    @property
    def pids(self) -> set[int]:
        return {pid for pid, _ in self._by_identity}

    @property
    def groups(self) -> set[int]:
        """The process groups to kill whole: those seen whose leader is a process of the tree."""
        return self._groups & self.pids

    def alive(self) -> list[Proc]:
        """Those seen that still run (a zombie still counts: it is killed again, harmlessly)."""
        return [process for process in self._by_identity.values() if _running(process)]


def _running(process: Proc) -> bool:
    try:
        return process.is_running()
    except (psutil.Error, OSError):
        return False


class Stoppable(Protocol):
    """A launcher as :func:`stop_tree` sees it: a :class:`PortableRunning` or a ``WindowsRunning``."""

    def snapshot(self) -> Iterable[Proc]:
        """The launcher's tree now, the launcher included."""
        ...

    def ask(self, seen: Seen) -> None:
        """Ask the launcher to stop the student's program, and whatever it cannot reach to stop too."""
        ...

    def wait(self, timeout: float) -> bool:
        """The launcher has exited, within ``timeout`` seconds."""
        ...

    def force(self, seen: Seen, left: list[Proc]) -> None:
        """Kill ``left``, what is left of the tree, and anything else the system can end at once."""
        ...

    def reap(self) -> None:
        """The launcher is gone: collect its exit and let go of what we hold."""
        ...


def stop_tree(run: Stoppable, grace: float, seen: Seen) -> list[Proc]:
    """Stop a tree without a subreaper: see it, ask, wait up to ``grace``, force what is left.

    The tree is seen before the asking (a process whose parent then exits
    leaves the tree) and once more if the launcher is still there after the
    grace (what it started meanwhile).  ``force`` is always called: the
    Windows backend ends its Job Object there, which holds processes no
    snapshot shows.  Returns the processes that had to be forced.
    """
    seen.add(run.snapshot())
    run.ask(seen)
    if not run.wait(grace):
        seen.add(run.snapshot())
    left = seen.alive()
    run.force(seen, left)
    run.reap()
    return left


def group_of(pid: int) -> int | None:
    """``pid``'s process group, or None once it is gone."""
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def listening_ports(root: int, port: int, handed_over: str | None) -> set[int]:
    """TCP ports ``root``'s tree listens on, besides the socket we handed it (on ``port``), read with psutil."""
    ports = procfs.listening_ports_psutil(root)
    if handed_over is not None:
        ports.discard(port)  # ours: nobody else can listen on a port while we hold it bound
    return ports


def strays(marker: tuple[str, str], folder: Path, since: float, spare: Iterable[int] = ()) -> list[psutil.Process]:
    """Processes of one run that left its tree: started since ``since`` by this user, with the run's mark.

    The mark: ``marker`` (a name and value) in the environment they started
    with, or a working directory inside ``folder``.
    """
    name, value = marker
    inside = str(folder)
    uid = os.getuid()
    spared = {os.getpid(), *spare}
    found = []
    for process in psutil.process_iter(["create_time", "uids"]):
        info = process.info
        uids, started = info.get("uids"), info.get("create_time")
        if process.pid in spared or uids is None or started is None:
            continue
        if uids.real != uid or started < since - CLOCK_SLACK_S:
            continue
        try:
            if process.environ().get(name) == value:
                found.append(process)
                continue
            cwd = process.cwd()
        except psutil.Error:
            continue
        if cwd == inside or cwd.startswith(inside + os.sep):
            found.append(process)
    return found


def kill(processes: Iterable[Proc], groups: Iterable[int] = ()) -> None:
    """Freeze ``processes`` (so none forks while we kill), kill their ``groups`` whole, then each of them."""
    processes = list(processes)
    for process in processes:
        _send(process, signal.SIGSTOP)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    for process in processes:
        _send(process, signal.SIGKILL)


def _send(process: Proc, sig: int) -> None:
    try:
        process.send_signal(sig)
    except (psutil.Error, OSError):
        pass


def _parent(process: Proc) -> int | None:
    try:
        return process.ppid()
    except (psutil.Error, OSError):
        return None


class Spawned(TypedDict):
    """What a launcher watched with psutil is made with, by this backend and by Windows' (``WindowsRunning``)."""

    lifeline: int  #: our end of the lifeline
    port: int
    out: Path  #: the launcher's drop box
    started: float  #: when it was spawned, as ``time.time()``


class PortableRunning(Running):
    """A launcher run by the portable backend: asked to stop on its lifeline, its tree stopped with psutil."""

    def __init__(
        self, popen: subprocess.Popen[bytes], log: ServerLog, *, handed_over: str | None, **spawned: Unpack[Spawned]
    ) -> None:
        super().__init__(
            popen,
            log,
            lifeline=spawned["lifeline"],
            port=spawned["port"],
            mode=Mode.NONE,
            out=spawned["out"],
            handed_over=handed_over,
        )
        #: When it was spawned (``time.time()``, as psutil's start times): what started before is not this run's.
        self.started = spawned["started"]
        #: The processes that had left the tree, found by :func:`strays` and stopped.
        self._strays: set[int] = set()
        self._lifeline_lock = threading.Lock()  # terminate() may come from the time limit's thread

    # --- watching ---

    def listening_ports(self) -> set[int]:
        return listening_ports(self.popen.pid, self.port, self.handed_over)

    def supervisor(self) -> int | None:
        return self.popen.pid if self.popen.poll() is None else None

    # --- stopping ---

    def terminate(self) -> None:
        """Ask the supervisor to stop its group: a byte on the lifeline (no signal stops it here)."""
        with self._lifeline_lock:
            if self.lifeline < 0:
                return
            try:
                os.write(self.lifeline, STOP)
            except OSError:
                pass  # it is gone already

    def retire(self) -> None:
        self.popen.wait()
        self._close_lifeline()

    @property
    def strays(self) -> int:
        """How many processes that had left the tree (a new session, their parent gone) were found and stopped."""
        return len(self._strays)

    def stop(self, grace: float) -> None:
        stop_tree(self, grace, Seen(group_of, spare={os.getpgrp()}))
        for _ in range(3):  # what left the tree meanwhile; again, in case one started another while we looked
            found = self._find_strays(spare=set())
            if not found:
                return
            kill(found)

    def _find_strays(self, spare: set[int]) -> list[psutil.Process]:
        found = strays(("WEBGRADE_OUT", str(self.out)), self.out.parent, self.started, spare)
        self._strays.update(process.pid for process in found)
        return found

    # --- Stoppable ---

    def snapshot(self) -> Iterable[Proc]:
        processes: list[Proc] = procfs.tree(self.popen.pid)
        return processes

    def ask(self, seen: Seen) -> None:
        """The lifeline's byte for the supervisor, and TERM for the processes outside the groups it stops.

        The supervisor leads its own group (xprocess made it so) and its child,
        the student's program, leads another: those are its to stop.  The
        others are this side's: those in the tree, and the strays that already
        left it (found now, so that they are not still holding the server's
        output when the supervisor waits for it to end).
        """
        self.terminate()
        seen.add(self._find_strays(spare=seen.pids))
        alive = seen.alive()
        supervisor = self.popen.pid
        leaders = {supervisor} | {process.pid for process in alive if _parent(process) == supervisor}
        for process in alive:
            group = group_of(process.pid)
            if process.pid not in leaders and group not in leaders and group not in (None, os.getpgrp()):
                _send(process, signal.SIGTERM)

    def wait(self, timeout: float) -> bool:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def force(self, seen: Seen, left: list[Proc]) -> None:
        kill(left, seen.groups)

    def reap(self) -> None:
        try:
            self.popen.kill()
        except ProcessLookupError:
            pass
        self.popen.wait()
        self._close_lifeline()

    def _close_lifeline(self) -> None:
        with self._lifeline_lock:
            if self.lifeline >= 0:
                os.close(self.lifeline)
                self.lifeline = -1
