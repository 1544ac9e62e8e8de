"""The launcher: runs in the child process, as a small supervisor and then the student's server.

``grader.run.workspace`` copies this file into the run's temporary directory and
``grader.run.server`` starts it with the student's Python (inside bubblewrap when sandboxed)::

    python launcher.py run SCRIPT DISPLAY_NAME SYS_PATH_DIR
    python launcher.py exec CMD [ARG ...]

One standalone file, stdlib only, on purpose.  It runs in the student's
Python, which need not have webgrade installed, and must not see the
grader's files: it is copied alone into the run's folder (and so into the
sandbox).  And it must not be split: a sibling module it imported (say
``output.py``) would sit in ``sys.modules`` of the student's process and
shadow the student's own module of the same name.

Contents, in this order:

* the supervisor process: ``supervise`` (fork, then wait and tear down) after
  its helpers: the tree, the grader's death, rights, the output cap
  (``Output``, ``_pump``) and the relay for a sandboxed ``--command``;
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
        if self.seekable:
            os.pwrite(self.fd, note + self.tail, self.head_end)
            os.ftruncate(self.fd, self.head_end + len(note) + len(self.tail))
        else:
            self._write_all(note + self.tail)
            self.tail.clear()
            self.past_head = 0
        self.dirty = False
        self.flushed = time.monotonic()


def _pump(read_fd: int, output: Output, lifeline: int) -> None:
    """Copy the child's output pipe into ``output`` until every writer has closed it.

    Also watches ``lifeline``, a pipe whose other end only the grader holds:
    when it ends, the grader is gone, and the supervisor stops the tree.
    """
    import select

    watched = [read_fd] + ([lifeline] if lifeline >= 0 else [])
    try:
        while True:
            ready, _, _ = select.select(watched, [], [], FLUSH_S)
            if lifeline in ready:
                watched.remove(lifeline)
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
    """Fork; run ``child_main`` in the child and supervise it in the parent."""
    parent = int(os.environ.get("WEBGRADE_PARENT") or 0)
    sandboxed = bool(os.environ.get("WEBGRADE_SANDBOX"))
    run_dir = "" if sandboxed else os.environ.get("WEBGRADE_RUN_DIR", "")
    _drop_rights()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    # In the sandbox our parent is bubblewrap (outside our pid namespace), which dies with the grader.
    if parent and not sandboxed and os.getppid() != parent:  # the grader died before prctl took effect
        if run_dir:
            _remove_run_dir(run_dir)
        sys.exit(70)

    def stop(signum: int, frame: object) -> NoReturn:
        raise _Stop

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)

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
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
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
    if listen_fd >= 0 and not relay:
        os.close(listen_fd)  # the server holds it now; when the server dies, the port closes
    import threading

    output = Output(1, int(os.environ.get("WEBGRADE_OUTPUT_KEEP") or 65536))
    # Our helper threads must never take the stop signals: the kernel may deliver a signal to any
    # thread, and only one taken by the main thread interrupts its wait for the child.  They
    # inherit this mask; the main thread then takes the signals again.
    stops = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    pump = threading.Thread(target=_pump, args=(read_fd, output, lifeline), daemon=True)
    pump.start()
    if relay and listen_fd >= 0:
        target = (os.environ.get("WEBGRADE_HOST", "127.0.0.1"), int(os.environ["WEBGRADE_PORT"]))
        threading.Thread(target=_relay, args=(listen_fd, *target), daemon=True).start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)

    code = 0
    try:
        while True:
            waited, status = os.waitpid(-1, 0)
            if waited == pid:
                code = os.waitstatus_to_exitcode(status)
                break
    except _Stop:
        code = 0
    except ChildProcessError:
        pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    _kill_tree()
    pump.join(timeout=1.0)  # every writer is gone: the pipe ends at once
    output.flush()
    if run_dir and _grader_gone(parent, lifeline):
        _remove_run_dir(run_dir)  # a live grader reads our log first, then removes the folder itself
    # A negative exit code means "killed by signal N": report it as 128 + N, as shells do.
    os._exit(code if code >= 0 else 128 - code)


# --- the child process: limits, then the student's program with app.run() pointed at our port ---
def _apply_limits() -> None:
    """The resource limits of ``grader/run/limits.py``, set in the child before the student's code runs."""
    import resource

    for name, limit in (
        ("WEBGRADE_LIMIT_AS", resource.RLIMIT_AS),
        ("WEBGRADE_LIMIT_CPU", resource.RLIMIT_CPU),
        ("WEBGRADE_LIMIT_FSIZE", resource.RLIMIT_FSIZE),
        ("WEBGRADE_LIMIT_NPROC", resource.RLIMIT_NPROC),
    ):
        value = os.environ.get(name)
        if not value:
            continue
        soft, hard = resource.getrlimit(limit)
        wanted = int(value)
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        # CPU: a little room between the soft limit (SIGXCPU, which says why) and the hard one (SIGKILL).
        resource.setrlimit(
            limit, (wanted, wanted + 5 if limit == resource.RLIMIT_CPU and hard == resource.RLIM_INFINITY else wanted)
        )
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
            app = _find_app(main.__dict__)
            if app is None:
                print(
                    f"webgrade: {display} finished without starting a server, and it defines no Flask app to serve.",
                    flush=True,
                )
                sys.exit(3)
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
    if len(argv) >= 4 and argv[0] == "run":
        supervise(lambda: run_script(argv[1], argv[2], argv[3]))
    elif len(argv) >= 2 and argv[0] == "exec":
        # Sandboxed, a --command server binds its port in a network namespace of its own: relay to it.
        supervise(lambda: os.execvp(argv[1], argv[1:]), relay=bool(os.environ.get("WEBGRADE_SANDBOX")))
    else:
        sys.exit("usage: launcher.py run SCRIPT DISPLAY_NAME SYS_PATH_DIR | exec CMD [ARG ...]")


if __name__ == "__main__":
    main(sys.argv[1:])
