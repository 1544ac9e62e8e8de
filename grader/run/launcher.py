"""The launcher: runs in the child process, as a small supervisor and then the student's server.

``grader.run.workspace`` copies this file and ``supervisor.py`` beside it
into the run's temporary directory and ``grader.run.server`` starts it with
the student's Python (inside bubblewrap when sandboxed)::

    python launcher.py run SCRIPT DISPLAY_NAME SYS_PATH_DIR
    python launcher.py exec CMD [ARG ...]
    python launcher.py child SCRIPT DISPLAY_NAME SYS_PATH_DIR    (Windows: started by the supervisor)

Standalone, stdlib only, on purpose.  It runs in the student's Python,
which need not have webgrade installed, and must not see the grader's
files: it is copied with ``supervisor.py`` alone into the run's folder (and
so into the sandbox).  And nothing of it is imported: a sibling module
imported by name (say ``output.py``) would sit in ``sys.modules`` of the
student's process and shadow the student's own module of the same name.  So
``supervisor.py`` (the POSIX supervisor and the output cap, in a file of its
own for size alone) is loaded by path into this module's namespace
(``_load``): its names are this module's, and no module of ours is in
``sys.modules``.

Contents, in this order:

* ``_load("supervisor.py")``: the supervisor process, ``supervise`` (fork,
  then wait and tear down), and its helpers, ``Output`` among them;
* Windows' ``supervise_windows``, which cannot fork and starts
  ``launcher.py child``;
* the child process (``_run_child``): ``_apply_limits``, then ``run_script``
  (the student's file, with ``app.run()`` pointed at our socket) or
  ``--command``'s program;
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
"Nor any file" in ``supervisor.py``).
"""

from __future__ import annotations

import json
import os
import signal
import sys

# Not typing.TYPE_CHECKING: importing typing would delay the student's server (type checkers know this name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    # Loaded by _load below, never imported; type checkers read them from the grader's copy.
    from grader.run.supervisor import FLUSH_S, GRACE_S, Output, supervise

#: Windows: the grader writes this on our lifeline once we are in its Job Object (grader/run/windows.py).
GO = b"g"
#: Windows (Process Creation Flags, learn.microsoft.com/windows/win32/procthread/process-creation-flags):
#: the child is the root of a console process group of its own, so it is sent CTRL_BREAK_EVENT alone.
CREATE_NEW_PROCESS_GROUP = 0x00000200


def _load(name: str) -> None:
    """Run the file ``name`` beside this one and take its names into this module, as if they were written here.

    Not ``import``: nothing enters ``sys.modules`` (see the module's docstring).  Its functions keep
    a namespace of their own, with its own ``__file__``, as a module's do.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    namespace: dict[str, Any] = {"__name__": __name__, "__file__": path}
    exec(code, namespace)
    globals().update((key, value) for key, value in namespace.items() if not key.startswith("__"))


_load("supervisor.py")


# --- Windows: the supervisor process, which cannot fork ---
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


def _run_child(argv: list[str]) -> None:
    """What the supervisor runs in its child: the resource limits, then the student's program or ``--command``'s."""
    _apply_limits()
    if argv[0] == "exec":
        os.execvp(argv[1], argv[1:])
    run_script(argv[1], argv[2], argv[3])


def main(argv: list[str]) -> None:
    windows = os.environ.get("WEBGRADE_PROCESS") == "windows"  # no fork: the child is a process of its own
    if len(argv) >= 4 and argv[0] == "run" and windows:
        supervise_windows([sys.executable, os.path.abspath(__file__), "child", *argv[1:4]])
    elif len(argv) >= 4 and argv[0] == "child":  # Windows: the child that supervise_windows started
        _apply_limits()
        run_script(argv[1], argv[2], argv[3])
    elif len(argv) >= 4 and argv[0] == "run":
        supervise(lambda: _run_child(argv))
    elif len(argv) >= 2 and argv[0] == "exec" and windows:
        supervise_windows(argv[1:])
    elif len(argv) >= 2 and argv[0] == "exec":
        # Sandboxed, a --command server binds its port in a network namespace of its own: relay to it.
        supervise(lambda: _run_child(argv), relay=bool(os.environ.get("WEBGRADE_SANDBOX")))
    else:
        sys.exit("usage: launcher.py run SCRIPT DISPLAY_NAME SYS_PATH_DIR | exec CMD [ARG ...]")


if __name__ == "__main__":
    main(sys.argv[1:])
