"""The launcher's supervisor process: fork, then wait for the student's program and tear its tree down.

Part of the launcher, in a file of its own for size alone: ``launcher.py``
loads it by path into its own namespace (never ``import``: see its
docstring), and the two are copied together into the run's folder.  So this
file, too, is standard library only and runs in the student's Python.

Contents, in this order: the tree (``/proc``), who sent a stop signal, the
portable backend's process group, the grader's death, the output cap
(``Output``, ``_pump``), the relay for a sandboxed ``--command``, rights,
then ``supervise``.  Windows, which cannot fork, has ``supervise_windows``
in ``launcher.py``; it shares ``Output`` and the times below.

Why a supervisor: the process first forks.  The parent stays behind as a
*child subreaper* (Linux ``prctl``), so anything the student's code starts,
even in a new session with ``start_new_session=True``, is re-parented to it
when its own parent exits and can still be found and killed.  It also asks
the kernel for ``PARENT_DIED`` when the grader dies (``PR_SET_PDEATHSIG``),
and watches the lifeline pipe that ends when the grader dies (the kernel may
not deliver a parent-death signal across user ids), so a grader killed with
SIGKILL leaves nothing behind.

Nor any file: a grader killed with SIGKILL cannot remove its run's folder, so
whoever outlives it does, once the tree is stopped.  Outside the sandbox that
is the supervisor, which sees the folder (``WEBGRADE_RUN_DIR``) and runs as
the grader's user.  In the sandbox it sees only part of the folder, and a
root grader's supervisor runs as another user: there the grader's janitor
(``grader.run.workspace.Janitor``) removes the folder, and the supervisor only
keeps the janitor's pipe (``WEBGRADE_HOLD``) open until the tree is gone.

Without Linux's facilities (``WEBGRADE_PROCESS``, ``grader/run/backend.py``):
the portable backend (macOS) forks too, but the child leads a process group
of its own, which the supervisor stops with ``killpg``; the grader's death
is noticed through the lifeline alone, and the grader finds the rest of the
tree with psutil.  Windows cannot fork: ``supervise_windows`` starts
``launcher.py child`` as a process in a console process group of its own,
inside the grader's Job Object.

Subreaper, not cgroup: a cgroup (``cgroup.kill``) would also catch a process
that escaped the tree some other way, but creating one needs a delegated
cgroup v2 subtree (systemd) or root with a writable cgroup file system, which
a student laptop, a CI container or a Mac does not reliably grant; the
subreaper needs no privilege.  A process re-parented to us cannot escape
without our pid, and inside bubblewrap the supervisor is also the init of a
pid namespace of its own (``--as-pid-1``): when it exits the kernel kills
every process left in that namespace, which is as strong as ``cgroup.kill``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

# Not typing.TYPE_CHECKING: importing typing would delay the student's server (type checkers know this name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 1.0  # how long the server gets to exit after SIGTERM before SIGKILL
FLUSH_S = 0.1  # how often the kept end of a long output is rewritten
#: The kernel's word that the thread which started us has exited (``PR_SET_PDEATHSIG``): a signal of
#: its own, not SIGTERM, because it is not the grader's "stop" but news that the grader is dying.  A
#: SIGKILL ends a grader's threads one by one: this can come while its pid is still our parent and
#: the lifeline still open, so the grader is waited for (``DYING_S``) before its folder is removed.
PARENT_DIED = signal.SIGUSR2
#: How long a grader whose starting thread has exited may take to end, before we leave its folder to it.
DYING_S = 30.0


class _Stop(Exception):
    """Raised by the supervisor's signal handler: tear the tree down."""


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: best effort only
        pass


def _parse_stat(stat: bytes) -> tuple[bytes, int]:
    """The state (``b"S"``, ``b"Z"`` for a zombie...) and the parent's pid in a ``/proc/PID/stat`` line."""
    # The command name may contain spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[0], int(fields[1])


def _descendants(root: int) -> list[int]:
    """Live (non-zombie) descendants of ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        state, ppid = _parse_stat(stat)
        if state == b"Z":
            continue
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _kill_tree() -> None:
    """TERM every descendant, give them a moment, then STOP and KILL until none is left."""
    me = os.getpid()
    _signal_all(_descendants(me), signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        _reap()
        if not _descendants(me):
            return
        time.sleep(0.001)
    for _ in range(200):  # bounded: a fork bomb is also capped by RLIMIT_NPROC
        left = _descendants(me)
        if not left:
            return
        _signal_all(left, signal.SIGSTOP)  # freeze first, so nobody forks while we kill
        _signal_all(_descendants(me), signal.SIGKILL)
        time.sleep(0.005)
        _reap()


def _descends_from(pid: int, ancestor: int) -> bool | None:
    """``pid`` is ``ancestor``'s descendant (a zombie counts); None if it is gone and cannot be told."""
    for _ in range(4096):  # bounded: the kernel's parent links have no cycle, but /proc changes as we read
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                pid = _parse_stat(f.read())[1]
        except (OSError, ValueError, IndexError):
            return None
    return False


def _sent_by_student(sender: int, me: int, parent: int, sandboxed: bool) -> bool:
    """A stop signal came from the student's own processes (say ``os.kill(os.getppid(), SIGTERM)``).

    Such a signal must not end the grading; the grader's, the kernel's and
    our own (the lifeline's watcher) must.  ``sender`` is the signal's
    ``si_pid``: 0 when it came from outside our pid namespace (the grader and
    bubblewrap, seen from the sandbox) or from the kernel (a terminal's hang-up).
    In the sandbox every other process we see is the student's.  Outside it,
    the grader is ``parent``; anyone else is the student's if it descends
    from us, or is already gone (the grader's processes do not vanish the
    moment they signal; a student's ``kill`` and exit may).
    """
    if sender in (0, me):
        return False
    if sandboxed:
        return True
    if sender == parent:
        return False
    return _descends_from(sender, me) is not False


def _reaped(pid: int) -> int | None:
    """Reap every child that has exited; our child's exit code if it was among them, else None."""
    try:
        while True:
            waited, status = os.waitpid(-1, os.WNOHANG)
            if waited == 0:
                return None
            if waited == pid:
                return os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        return 0


def _wait_linux(pid: int, waited: set[signal.Signals], parent: int, sandboxed: bool) -> tuple[int, bool]:
    """Until our child exits (its exit code) or someone but the student's processes says stop (0).

    ``waited``: the stop signals, ``SIGCHLD`` and :data:`PARENT_DIED`, blocked
    in every thread, so each waits here, pending, with who sent it
    (``sigwaitinfo``'s ``si_pid``).  Also says whether the stop was
    :data:`PARENT_DIED`.
    """
    me = os.getpid()
    while True:
        info = signal.sigwaitinfo(waited)
        if info.si_signo == signal.SIGCHLD:
            code = _reaped(pid)
            if code is not None:
                return code, False
        elif not _sent_by_student(info.si_pid, me, parent, sandboxed):
            return 0, info.si_signo == PARENT_DIED


def _wait_child(pid: int) -> int:
    """Until our child exits: its exit code (0 if it is gone already)."""
    try:
        while True:
            waited, status = os.waitpid(-1, 0)
            if waited == pid:
                return os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        return 0


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to the process group ``group``; False if it has no process left."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a member that became another user: the rest were signalled
    return True


def _child_gone(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def _stop_group(group: int, quiet: Callable[[], bool]) -> None:
    """Portable backend: TERM the student's process group, then KILL it once it is quiet or after ``GRACE_S``.

    Without ``/proc`` the group cannot be listed.  It is quiet once our child
    (its leader) is reaped and ``quiet()`` says nobody holds its output pipe
    any more.  A process that left the group (``setsid``) is the grader's to
    find, with psutil (``grader/run/portable.py``).
    """
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and not (_child_gone(group) and quiet()):
        time.sleep(0.002)
    for _ in range(3):  # one SIGKILL takes the whole group; again in case a member was forking meanwhile
        if not _signal_group(group, signal.SIGKILL):
            break
        _reap()
        time.sleep(0.002)
    _reap()


def _grader_gone(parent: int, lifeline: int) -> bool:
    """The grader is dead: we were re-parented, or the lifeline, which only it holds, has ended."""
    if parent and os.getppid() != parent:
        return True
    if lifeline < 0:
        return False
    import select

    try:
        readable = select.select([lifeline], [], [], 0)[0]
        return bool(readable) and os.read(lifeline, 1) == b""
    except OSError:
        return False


def _grader_ends(parent: int, lifeline: int, within: float) -> bool:
    """Whether the grader, whose thread that started us has exited, ends within ``within`` seconds."""
    import select

    deadline = time.monotonic() + within
    while not _grader_gone(parent, lifeline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:  # wakes when the lifeline ends; without one, looks again every 50 ms
            select.select([lifeline] if lifeline >= 0 else [], [], [], min(left, 0.05 if lifeline < 0 else left))
        except OSError:
            time.sleep(0.05)
    return True


def _remove_run_dir(run_dir: str) -> None:
    """Remove the run's folder, which holds this launcher; for a grader that died and cannot."""
    if os.path.dirname(os.path.abspath(__file__)) != os.path.abspath(run_dir):
        return  # only ever the folder we were copied into
    import shutil  # not at the top: the launcher's start-up delays the student's server

    shutil.rmtree(run_dir, ignore_errors=True)


class Output:
    """The server's output, kept in our stdout: the first ``keep`` bytes, then the last ``keep``.

    The student's program writes into a pipe (:func:`_pump`); our stdout is
    the grader's log file.  The head is written as it comes.  Past it, only a
    tail of ``keep`` bytes is held in memory and rewritten after the head at
    most every ``FLUSH_S``, with a line saying how much was left out in
    between.  So a program that prints without end neither fills the disk
    nor slows the grader down.
    """

    def __init__(self, fd: int, keep: int) -> None:
        import stat

        self.fd, self.keep = fd, keep
        self.head_left = keep
        self.head_end = 0
        self.tail = bytearray()
        self.past_head = 0
        self.dirty = False
        self.flushed = 0.0
        try:
            self.seekable = stat.S_ISREG(os.fstat(fd).st_mode)
            self.head_end = os.lseek(fd, 0, os.SEEK_CUR) if self.seekable else 0
        except OSError:
            self.seekable = False

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def write(self, data: bytes) -> None:
        if self.head_left > 0:
            part = data[: self.head_left]
            self._write_all(part)
            self.head_left -= len(part)
            self.head_end += len(part)
            data = data[len(part) :]
        if data:
            self.past_head += len(data)
            self.tail += data
            if len(self.tail) > self.keep:
                del self.tail[: len(self.tail) - self.keep]
            self.dirty = True
            if time.monotonic() - self.flushed >= FLUSH_S:
                self.flush()

    def flush(self) -> None:
        if not self.dirty:
            return
        left_out = self.past_head - len(self.tail)
        note = f"\n[webgrade: {left_out} bytes of the server's output left out here]\n".encode() if left_out else b""
        if self.seekable and hasattr(os, "pwrite"):
            os.pwrite(self.fd, note + self.tail, self.head_end)
            os.ftruncate(self.fd, self.head_end + len(note) + len(self.tail))
        elif self.seekable:  # Windows has no pwrite: seek, then write
            os.lseek(self.fd, self.head_end, os.SEEK_SET)
            self._write_all(note + self.tail)
            os.ftruncate(self.fd, self.head_end + len(note) + len(self.tail))
        else:
            self._write_all(note + self.tail)
            self.tail.clear()
            self.past_head = 0
        self.dirty = False
        self.flushed = time.monotonic()


def _pump(read_fd: int, output: Output, lifeline: int, asked: list[bool]) -> None:
    """Copy the child's output pipe into ``output`` until every writer has closed it.

    Also watches ``lifeline``, a pipe whose other end only the grader holds:
    when it ends, the grader is gone, and the supervisor stops the tree.  The
    portable backend's grader also writes a byte on it to ask for the stop
    (there, no signal stops the supervisor: see ``supervise``).  Either way
    ``asked`` is set, then the main thread is woken with a SIGTERM of our own.
    """
    import select

    watched = [read_fd] + ([lifeline] if lifeline >= 0 else [])
    try:
        while True:
            ready, _, _ = select.select(watched, [], [], FLUSH_S)
            if lifeline in ready:
                watched.remove(lifeline)
                asked.append(True)
                os.kill(os.getpid(), signal.SIGTERM)  # taken by the main thread: we block it here
            if read_fd not in ready:
                output.flush()
                continue
            data = os.read(read_fd, 65536)
            if not data:
                break
            output.write(data)
    except OSError:
        pass
    output.flush()


def _relay(listen_fd: int, host: str, port: int) -> None:
    """Pass each connection from the grader's socket on to ``host:port`` in our network namespace.

    For ``--command`` servers in the sandbox: they bind their own port in a
    network namespace the grader cannot reach, so the supervisor, which holds
    the grader's socket, forwards bytes both ways.
    """
    import socket
    import threading

    listener = socket.socket(fileno=listen_fd)

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass

    def serve(client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((host, port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()  # not listening yet: the grader sees a closed connection and retries
            return
        back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        back.start()
        pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()

    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(client,), daemon=True).start()


def _drop_rights() -> None:
    """Become the run's own user (a root grader in the sandbox): no capability is left after this."""
    uid = os.environ.get("WEBGRADE_UID")
    if uid:
        os.setgroups([])
        os.setresgid(int(uid), int(uid), int(uid))
        os.setresuid(int(uid), int(uid), int(uid))


def supervise(child_main: Callable[[], None], *, relay: bool = False) -> None:
    """Fork; run ``child_main`` in the child (it sets the resource limits first) and supervise it in the parent.

    ``WEBGRADE_PROCESS=portable`` (``grader/run/backend.py``): no ``prctl``
    and no ``/proc``.  The child then leads a process group of its own, which
    is what we stop (``_stop_group``), and the grader asks for the stop on
    the lifeline, since without ``sigwaitinfo`` (macOS has none) a signal's
    sender cannot be told.
    """
    parent = int(os.environ.get("WEBGRADE_PARENT") or 0)
    sandboxed = bool(os.environ.get("WEBGRADE_SANDBOX"))
    portable = os.environ.get("WEBGRADE_PROCESS") == "portable"
    run_dir = "" if sandboxed else os.environ.get("WEBGRADE_RUN_DIR", "")
    _drop_rights()
    if not portable:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, PARENT_DIED)
    # In the sandbox our parent is bubblewrap (outside our pid namespace), which dies with the grader.
    if parent and not sandboxed and os.getppid() != parent:  # the grader died before prctl took effect
        if run_dir:
            _remove_run_dir(run_dir)
        sys.exit(70)

    # The stop signals wait, blocked, until we wait for them; our helper threads inherit the mask and
    # never take them.  A stop from the student's own processes is ignored (_sent_by_student): Linux
    # tells the sender with sigwaitinfo; the portable backend stops only when the lifeline asked.
    stops = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    waited = stops if portable else stops | {signal.SIGCHLD, PARENT_DIED}
    asked: list[bool] = []  # set by the lifeline's watcher (_pump)
    waiting: list[bool] = []  # portable: set while the main thread waits for the child, where _Stop is caught

    def stop(signum: int, frame: object) -> None:
        if asked and waiting:
            waiting.clear()
            raise _Stop

    if portable:
        for sig in stops:
            signal.signal(sig, stop)
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)

    # The lifeline: a parent-death signal is not enough in the sandbox, where our parent is
    # bubblewrap, which has dropped every capability and so may not signal another user id.
    lifeline = int(os.environ.get("WEBGRADE_LIFELINE") or -1)
    # The janitor's pipe (sandbox only): held by us until we exit, never by the student's processes.
    hold = int(os.environ.get("WEBGRADE_HOLD") or -1)
    out = os.environ.get("WEBGRADE_OUT")
    if out:  # tells the grader that the sandbox started and our code runs
        with open(os.path.join(out, "started"), "w"):
            pass
    listen_fd = int(os.environ.get("WEBGRADE_FD") or -1)
    read_fd, write_fd = os.pipe()
    supervisor = os.getpid()
    pid = os.fork()
    if pid == 0:
        for sig in waited:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)
        if portable:
            os.setpgid(0, 0)  # a process group of its own, which the supervisor stops with killpg
        else:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != supervisor:
                os._exit(70)
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        os.close(read_fd)
        for fd in (lifeline, hold):
            if fd >= 0:
                os.close(fd)
        if relay and listen_fd >= 0:
            os.close(listen_fd)  # the relay in the supervisor serves it
        child_main()
        return

    os.close(write_fd)
    if portable:
        try:
            os.setpgid(pid, pid)  # here too, so no stop can reach the group before the child's own call
        except OSError:
            pass  # it did so already, or has exec'd (--command)
    if listen_fd >= 0 and not relay:
        os.close(listen_fd)  # the server holds it now; when the server dies, the port closes
    import threading

    output = Output(1, int(os.environ.get("WEBGRADE_OUTPUT_KEEP") or 65536))
    pump = threading.Thread(target=_pump, args=(read_fd, output, lifeline, asked), daemon=True)
    pump.start()
    if relay and listen_fd >= 0:
        target = (os.environ.get("WEBGRADE_HOST", "127.0.0.1"), int(os.environ["WEBGRADE_PORT"]))
        threading.Thread(target=_relay, args=(listen_fd, *target), daemon=True).start()

    orphaned = False  # stopped by PARENT_DIED: the grader may still be ending
    if portable:
        try:
            try:
                waiting.append(True)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)  # the main thread alone takes them
                code = _wait_child(pid)
            finally:
                waiting.clear()  # after this, stop() never raises
        except _Stop:
            code = 0
        for sig in stops:
            signal.signal(sig, signal.SIG_IGN)
        _stop_group(pid, quiet=lambda: not pump.is_alive())
    else:
        code, orphaned = _wait_linux(pid, waited, parent, sandboxed)
        for sig in stops:
            signal.signal(sig, signal.SIG_IGN)
        _kill_tree()
    pump.join(timeout=1.0)  # every writer is gone: the pipe ends at once
    output.flush()
    if run_dir and (_grader_gone(parent, lifeline) or (orphaned and _grader_ends(parent, lifeline, DYING_S))):
        _remove_run_dir(run_dir)  # a live grader reads our log first, then removes the folder itself
    # A negative exit code means "killed by signal N": report it as 128 + N, as shells do.
    os._exit(code if code >= 0 else 128 - code)
