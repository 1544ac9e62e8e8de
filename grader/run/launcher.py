"""The launcher: runs in the child process, as a small supervisor and then the student's server.

``grader.run.workspace`` copies this file into the run's temporary directory and
``grader.run.server`` starts it with the student's Python (inside bubblewrap when sandboxed)::

    python launcher.py run SCRIPT DISPLAY_NAME SYS_PATH_DIR
    python launcher.py exec CMD [ARG ...]
    python launcher.py child SCRIPT DISPLAY_NAME SYS_PATH_DIR    (Windows: started by the supervisor)

One standalone file, stdlib only, on purpose.  It runs in the student's
Python, which need not have webgrade installed, and must not see the
grader's files: it is copied alone into the run's folder (and so into the
sandbox).  And it must not be split: a sibling module it imported (say
``output.py``) would sit in ``sys.modules`` of the student's process and
shadow the student's own module of the same name.

Contents, in this order:

* the supervisor process: ``supervise`` (fork, then wait and tear down) after
  its helpers: the tree, who sent a stop signal, the portable backend's
  process group, the grader's death, rights, the output cap (``Output``,
  ``_pump``) and the relay for a sandboxed ``--command``; then Windows'
  ``supervise_windows``, which cannot fork and starts ``launcher.py child``;
* the child process: ``_apply_limits``, then ``run_script`` (the student's
  file, with ``app.run()`` pointed at our socket) or ``--command``'s program;
* ``main``: the command line above.

Settings come from the environment, all of it written by
``grader.run.launch.launch_env`` (a test checks that each name read here is
written there): ``WEBGRADE_HOST`` and ``WEBGRADE_PORT`` (where to listen),
``WEBGRADE_FD`` (a listening socket on that port, bound by the grader:
``app.run()`` serves on it), ``WEBGRADE_OUT`` (a folder for the app's URL map
and the "started" mark), ``WEBGRADE_PARENT`` (the grader's pid),
``WEBGRADE_LIFELINE`` (a pipe that ends when the grader dies),
``WEBGRADE_SANDBOX`` (set inside bubblewrap), ``WEBGRADE_UID`` (the user id to
run as), ``WEBGRADE_LIMIT_*`` and ``WEBGRADE_OUTPUT_KEEP``
(``grader/run/limits.py``), ``WEBGRADE_RUN_DIR`` and ``WEBGRADE_HOLD`` (see
"Nor any file" below).

Why a supervisor: the process first forks.  The parent stays behind as a
*child subreaper* (Linux ``prctl``), so anything the student's code starts,
even in a new session with ``start_new_session=True``, is re-parented to it
when its own parent exits and can still be found and killed.  It also asks
the kernel for ``SIGTERM`` when the grader dies (``PR_SET_PDEATHSIG``), and
watches the lifeline pipe that ends when the grader dies (the kernel may not
deliver a parent-death signal across user ids), so a grader killed with
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

import json
import os
import signal
import sys
import time

# Not typing.TYPE_CHECKING: importing typing would delay the student's server (type checkers know this name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 1.0  # how long the server gets to exit after SIGTERM before SIGKILL
FLUSH_S = 0.1  # how often the kept end of a long output is rewritten
#: Windows: the grader writes this on our lifeline once we are in its Job Object (grader/run/windows.py).
GO = b"g"
#: Windows (Process Creation Flags, learn.microsoft.com/windows/win32/procthread/process-creation-flags):
#: the child is the root of a console process group of its own, so it is sent CTRL_BREAK_EVENT alone.
CREATE_NEW_PROCESS_GROUP = 0x00000200


# --- the supervisor process ---
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


def _wait_linux(pid: int, waited: set[signal.Signals], parent: int, sandboxed: bool) -> int:
    """Until our child exits (its exit code) or someone but the student's processes says stop (0).

    ``waited``: the stop signals and ``SIGCHLD``, blocked in every thread, so
    each waits here, pending, with who sent it (``sigwaitinfo``'s ``si_pid``).
    """
    me = os.getpid()
    while True:
        info = signal.sigwaitinfo(waited)
        if info.si_signo == signal.SIGCHLD:
            code = _reaped(pid)
            if code is not None:
                return code
        elif not _sent_by_student(info.si_pid, me, parent, sandboxed):
            return 0


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
    """Fork; run ``child_main`` in the child and supervise it in the parent.

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
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    # In the sandbox our parent is bubblewrap (outside our pid namespace), which dies with the grader.
    if parent and not sandboxed and os.getppid() != parent:  # the grader died before prctl took effect
        if run_dir:
            _remove_run_dir(run_dir)
        sys.exit(70)

    # The stop signals wait, blocked, until we wait for them; our helper threads inherit the mask and
    # never take them.  A stop from the student's own processes is ignored (_sent_by_student): Linux
    # tells the sender with sigwaitinfo; the portable backend stops only when the lifeline asked.
    stops = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    waited = stops if portable else stops | {signal.SIGCHLD}
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
        _apply_limits()
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
        code = _wait_linux(pid, waited, parent, sandboxed)
        for sig in stops:
            signal.signal(sig, signal.SIG_IGN)
        _kill_tree()
    pump.join(timeout=1.0)  # every writer is gone: the pipe ends at once
    output.flush()
    if run_dir and _grader_gone(parent, lifeline):
        _remove_run_dir(run_dir)  # a live grader reads our log first, then removes the folder itself
    # A negative exit code means "killed by signal N": report it as 128 + N, as shells do.
    os._exit(code if code >= 0 else 128 - code)


class _Newlines:
    """Windows: a program's text-mode output ends its lines with CRLF; the log keeps LF, as everywhere else."""

    def __init__(self) -> None:
        self.cr = False  # the last chunk ended with CR: its LF may open the next one

    def feed(self, data: bytes) -> bytes:
        if self.cr:
            data, self.cr = b"\r" + data, False
        if data.endswith(b"\r"):
            data, self.cr = data[:-1], True
        return data.replace(b"\r\n", b"\n")

    def end(self) -> bytes:
        """What is still held back once the output has ended."""
        held, self.cr = (b"\r" if self.cr else b""), False
        return held


def _stop_child(child: Any, grace: float, polite: int) -> None:
    """Windows: ``polite`` (CTRL_BREAK_EVENT) to the child's process group, then TerminateProcess after ``grace``.

    ``child`` is a ``subprocess.Popen`` started with CREATE_NEW_PROCESS_GROUP:
    ``send_signal(CTRL_BREAK_EVENT)`` is GenerateConsoleCtrlEvent for that
    group, which needs a console shared with it (learn.microsoft.com/windows/
    console/generateconsolectrlevent); without one it fails, and the child is
    terminated at once.  What the child started is left to the grader, which
    ends the whole Job Object.
    """
    try:
        child.send_signal(polite)
    except (OSError, ValueError):
        grace = 0
    try:
        child.wait(timeout=grace)
        return
    except Exception:  # subprocess.TimeoutExpired: not imported here, for the launcher's start-up
        pass
    try:
        child.kill()  # TerminateProcess
    except OSError:
        pass
    child.wait()


def supervise_windows(argv: list[str]) -> NoReturn:
    """Windows, which cannot fork: run ``argv`` as our child process and supervise it.

    We start it only once the grader has put us in its Job Object: the grader
    writes ``GO`` on our lifeline (our standard input) after
    AssignProcessToJobObject, and everything we start from then on is in the
    job, which ends with the grader (``grader/run/windows.py``).  The child
    leads a console process group of its own, so a Ctrl+C in the grader's
    console does not reach it; a byte on the lifeline (or its end) asks for
    the stop, which is ``_stop_child``.  The child's output is kept as on
    POSIX (``Output``), with Windows' CRLF turned into LF.
    """
    import subprocess
    import threading

    lifeline = int(os.environ.get("WEBGRADE_LIFELINE") or -1)
    if lifeline >= 0 and os.read(lifeline, 1) != GO:
        sys.exit(70)  # the grader is gone before it could put us in its job
    out = os.environ.get("WEBGRADE_OUT")
    if out:
        with open(os.path.join(out, "started"), "w"):
            pass
    child = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        creationflags=CREATE_NEW_PROCESS_GROUP,
    )
    output = Output(1, int(os.environ.get("WEBGRADE_OUTPUT_KEEP") or 65536))
    lock = threading.Lock()  # Output is written by the pump, flushed by the main thread
    newlines = _Newlines()
    stop = threading.Event()

    def pump(fd: int) -> None:
        try:
            while data := os.read(fd, 65536):
                with lock:
                    output.write(newlines.feed(data))
        except OSError:
            pass
        with lock:
            output.write(newlines.end())

    def watch() -> None:  # a byte: stop; end-of-file: the grader is gone (and the job ends us anyway)
        try:
            os.read(lifeline, 1)
        except OSError:
            pass
        stop.set()

    assert child.stdout is not None
    pumping = threading.Thread(target=pump, args=(child.stdout.fileno(),), daemon=True)
    pumping.start()
    if lifeline >= 0:
        threading.Thread(target=watch, daemon=True).start()
    while child.poll() is None and not stop.wait(FLUSH_S):
        with lock:
            output.flush()
    code = child.poll()
    if code is None:
        _stop_child(child, GRACE_S, getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
        code = 0  # stopped as asked, as on POSIX
    pumping.join(timeout=1.0)
    with lock:
        output.flush()
    # Windows' exit codes are unsigned 32-bit (0xC000013A after CTRL_BREAK); os._exit takes a C int.
    os._exit(code - 2**32 if code >= 2**31 else code)


# --- the child process: limits, then the student's program with app.run() pointed at our port ---
def _apply_limits() -> None:
    """The resource limits of ``grader/run/limits.py``, set in the child before the student's code runs.

    A limit this system lacks or refuses is skipped, never a crash: macOS has
    every name but does not take every value, and Windows has no
    ``resource`` module at all (the grader's Job Object holds its limits).
    The report says which limits held (``grader/run/backend.py``).
    """
    try:
        import resource
    except ImportError:  # Windows
        return

    for name, limit_name in (
        ("WEBGRADE_LIMIT_AS", "RLIMIT_AS"),
        ("WEBGRADE_LIMIT_CPU", "RLIMIT_CPU"),
        ("WEBGRADE_LIMIT_FSIZE", "RLIMIT_FSIZE"),
        ("WEBGRADE_LIMIT_NPROC", "RLIMIT_NPROC"),
    ):
        value = os.environ.get(name)
        limit = getattr(resource, limit_name, None)
        if not value or limit is None:
            continue
        try:
            soft, hard = resource.getrlimit(limit)
            wanted = int(value)
            if hard != resource.RLIM_INFINITY:
                wanted = min(wanted, hard)
            # CPU: a little room between the soft limit (SIGXCPU, which says why) and the hard one (SIGKILL).
            cpu = limit == resource.RLIMIT_CPU and hard == resource.RLIM_INFINITY
            resource.setrlimit(limit, (wanted, wanted + 5 if cpu else wanted))
        except (ValueError, OSError):
            continue
    # Past RLIMIT_FSIZE a write fails with "File too large" instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


_served = False


def _write_routes(application: Any) -> None:
    """Tell the grader which routes the app defines, and on which line; its arrival means "serving now"."""
    out = os.environ.get("WEBGRADE_OUT")
    if not out:
        return
    path = os.path.join(out, "routes.json")
    url_map = getattr(application, "url_map", None)
    routes = []
    for rule in url_map.iter_rules() if url_map is not None else ():
        if rule.endpoint == "static":
            continue
        view = getattr(application, "view_functions", {}).get(rule.endpoint)
        code = getattr(view, "__code__", None)
        routes.append(
            {
                "rule": rule.rule,
                "endpoint": rule.endpoint,
                "methods": sorted(m for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS")),
                "file": code.co_filename if code else None,
                "line": code.co_firstlineno if code else None,
            }
        )
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(routes, f)
    os.replace(path + ".tmp", path)


def _patch_run_simple() -> None:
    """Point every ``app.run()`` (and direct ``run_simple``) at our host and port.

    Flask's ``run`` imports ``werkzeug.serving.run_simple`` at call time, so
    replacing that one function covers both.  If werkzeug is missing, the
    student's own ``import flask`` will fail and say so.
    """
    try:
        import werkzeug.serving as serving
    except ImportError:
        return
    if getattr(serving.run_simple, "webgrade", False):
        return
    # Plain request log lines: werkzeug colours them with ANSI codes on POSIX, which read as noise in a log file.
    serving._log_add_style = False
    import inspect

    original = serving.run_simple
    signature = inspect.signature(original)
    host = os.environ.get("WEBGRADE_HOST", "127.0.0.1")
    port = int(os.environ["WEBGRADE_PORT"])

    fd = os.environ.get("WEBGRADE_FD")

    def run_simple(*args: Any, **kwargs: Any) -> Any:
        global _served
        bound = signature.bind(*args, **kwargs)
        asked = f"{bound.arguments.get('hostname')}:{bound.arguments.get('port')}"
        bound.arguments.update(hostname=host, port=port, use_reloader=False, use_debugger=False)
        if fd:
            # Serve on the grader's socket, as werkzeug's reloader child does: the
            # server needs no network of its own, and nobody can take the port meanwhile.
            os.environ["WERKZEUG_RUN_MAIN"] = "true"
            os.environ["WERKZEUG_SERVER_FD"] = fd
        _write_routes(bound.arguments.get("application"))
        _served = True
        print(f"webgrade: serving on http://{host}:{port} (the program asked for {asked})", flush=True)
        return original(*bound.args, **bound.kwargs)

    run_simple.webgrade = True  # type: ignore[attr-defined]  # the mark that it is patched already
    serving.run_simple = run_simple


def _find_app(namespace: dict[str, Any]) -> Any:
    """Find the Flask app the way ``flask --app`` does: app, application, the only one, a factory."""
    try:
        from flask import Flask
    except ImportError:
        return None
    for name in ("app", "application"):
        if isinstance(namespace.get(name), Flask):
            return namespace[name]
    apps = [value for value in namespace.values() if isinstance(value, Flask)]
    if apps:
        return apps[0]
    for name in ("create_app", "make_app"):
        factory = namespace.get(name)
        if callable(factory):
            app = factory()
            if isinstance(app, Flask):
                return app
    return None


def _main_block(source: str) -> int | None:
    """The line of the file's top-level ``if`` that tests ``__name__`` (its __main__ block); None if it has none."""
    import ast  # not at the top: only a program that ended without serving gets here

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in tree.body:
        if isinstance(node, ast.If) and any(
            isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test)
        ):
            return node.lineno
    return None


def _write_out(name: str, data: object) -> None:
    """Leave ``data`` as JSON in ``WEBGRADE_OUT`` for the grader."""
    out = os.environ.get("WEBGRADE_OUT")
    if not out:
        return
    path = os.path.join(out, name)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def run_script(script: str, display: str, path_dir: str) -> None:
    """Run the student's file as ``__main__``, as ``python main.py`` would."""
    import linecache
    import traceback
    import types

    with open(script, encoding="utf-8", errors="replace") as f:
        source = f.read()
    # Tracebacks name the student's file ("main.py", "lesson.ipynb, cell 7"), not our temp copy.
    linecache.cache[display] = (len(source), None, source.splitlines(True), display)
    main = types.ModuleType("__main__")
    main.__file__ = os.path.join(path_dir, os.path.basename(display.split(",")[0]))
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    sys.argv = [display]
    sys.path[0] = path_dir
    _patch_run_simple()
    try:
        exec(compile(source, display, "exec"), main.__dict__)
        if not _served:
            block = _main_block(source)
            if block is not None:
                # `python main.py` would end here too: its __main__ block ran (or was skipped) without app.run().
                print(
                    f"webgrade: {display} finished without starting a server: "
                    f"its `if __name__` block (line {block}) never called app.run().",
                    flush=True,
                )
                sys.exit(3)
            app = _find_app(main.__dict__)
            if app is None:
                print(
                    f"webgrade: {display} finished without starting a server, and it defines no Flask app to serve.",
                    flush=True,
                )
                sys.exit(3)
            # No __main__ block at all: a module written for `flask --app`, served as that command would.
            name = next((key for key, value in main.__dict__.items() if value is app), "")
            _write_out("served_app.json", {"app": name})
            print(f"webgrade: {display} never calls app.run(); serving its Flask app.", flush=True)
            _patch_run_simple()  # werkzeug is imported now, if it was not before
            app.run()
    except SystemExit:
        raise
    except BaseException as error:
        # Drop our own frames: the student should see only their code.
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        traceback.print_exception(type(error), error, tb)
        sys.stderr.flush()
        os._exit(1)


def main(argv: list[str]) -> None:
    windows = os.environ.get("WEBGRADE_PROCESS") == "windows"  # no fork: the child is a process of its own
    if len(argv) >= 4 and argv[0] == "run" and windows:
        supervise_windows([sys.executable, os.path.abspath(__file__), "child", *argv[1:4]])
    elif len(argv) >= 4 and argv[0] == "child":  # Windows: the child that supervise_windows started
        _apply_limits()
        run_script(argv[1], argv[2], argv[3])
    elif len(argv) >= 4 and argv[0] == "run":
        supervise(lambda: run_script(argv[1], argv[2], argv[3]))
    elif len(argv) >= 2 and argv[0] == "exec" and windows:
        supervise_windows(argv[1:])
    elif len(argv) >= 2 and argv[0] == "exec":
        # Sandboxed, a --command server binds its port in a network namespace of its own: relay to it.
        supervise(lambda: os.execvp(argv[1], argv[1:]), relay=bool(os.environ.get("WEBGRADE_SANDBOX")))
    else:
        sys.exit("usage: launcher.py run SCRIPT DISPLAY_NAME SYS_PATH_DIR | exec CMD [ARG ...]")


if __name__ == "__main__":
    main(sys.argv[1:])
