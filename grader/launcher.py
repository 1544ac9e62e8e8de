"""Runs in the child process: a small supervisor, then the student's server.

``grader.server`` copies this file into the run's temporary directory and
starts it with the student's Python::

    python launcher.py run SCRIPT DISPLAY_NAME SYS_PATH_DIR
    python launcher.py exec CMD [ARG ...]

Settings come from the environment: ``WEBGRADE_HOST`` and ``WEBGRADE_PORT``
(where the server must listen), ``WEBGRADE_ROUTES`` (where to write the app's
URL map) and ``WEBGRADE_PARENT`` (the grader's pid).

It is stdlib-only and standalone on purpose: it runs in the student's Python,
which need not have webgrade installed, and must not see the grader's files.

Why a supervisor: the process first forks.  The parent stays behind as a
*child subreaper* (Linux ``prctl``), so anything the student's code starts,
even in a new session with ``start_new_session=True``, is re-parented to it
when its own parent exits and can still be found and killed.  It also asks
the kernel for ``SIGTERM`` when the grader dies (``PR_SET_PDEATHSIG``), so a
grader killed with SIGKILL leaves nothing behind.  A cgroup would be even
stronger, but needs privileges a student laptop or CI runner may not grant.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 1.0  # how long the server gets to exit after SIGTERM before SIGKILL


class _Stop(Exception):
    """Raised by the supervisor's signal handler: tear the tree down."""


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: best effort only
        pass


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
        # The command name may contain spaces and parentheses: split after the last ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields[0] == b"Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
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


def supervise(child_main) -> None:
    """Fork; run ``child_main`` in the child and supervise it in the parent."""
    parent = int(os.environ.get("WEBGRADE_PARENT") or 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent and os.getppid() != parent:  # the grader died before prctl took effect
        sys.exit(70)

    def stop(signum, frame):
        raise _Stop

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)

    supervisor = os.getpid()
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != supervisor:
            os._exit(70)
        child_main()
        return

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
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _kill_tree()
    sys.stdout.flush()
    # A negative exit code means "killed by signal N": report it as 128 + N, as shells do.
    os._exit(code if code >= 0 else 128 - code)


# --- the child: run the student's program with app.run() pointed at our port ---

_served = False


def _write_routes(application) -> None:
    """Tell the grader which routes the app defines, and on which line."""
    path = os.environ.get("WEBGRADE_ROUTES")
    url_map = getattr(application, "url_map", None)
    if not path or url_map is None:
        return
    routes = []
    for rule in url_map.iter_rules():
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

    def run_simple(*args, **kwargs):
        global _served
        bound = signature.bind(*args, **kwargs)
        asked = f"{bound.arguments.get('hostname')}:{bound.arguments.get('port')}"
        bound.arguments.update(hostname=host, port=port, use_reloader=False, use_debugger=False)
        _write_routes(bound.arguments.get("application"))
        _served = True
        print(f"webgrade: serving on http://{host}:{port} (the program asked for {asked})", flush=True)
        return original(*bound.args, **bound.kwargs)

    run_simple.webgrade = True
    serving.run_simple = run_simple


def _find_app(namespace: dict):
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
    main.__builtins__ = __builtins__
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
                    f"webgrade: {display} finished without starting a server, "
                    "and it defines no Flask app to serve.",
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
        supervise(lambda: os.execvp(argv[1], argv[1:]))
    else:
        sys.exit("usage: launcher.py run SCRIPT DISPLAY_NAME SYS_PATH_DIR | exec CMD [ARG ...]")


if __name__ == "__main__":
    main(sys.argv[1:])
