"""The student's server as a child process: start it, wait until it answers, stop it.

:class:`Server` is the whole life of one run, in three steps:

* :meth:`Server.start` copies the submission to a temporary folder
  (:mod:`grader.run.workspace`), chooses the sandbox
  (:func:`grader.run.sandbox.choose`), binds the port, and spawns
  ``launcher.py`` (:mod:`grader.run.launch` builds its command line and
  environment, :mod:`grader.run.spawn` spawns it through pytest-xprocess,
  :mod:`grader.run.spawning` as the process backend needs).
  It returns at once, with a :class:`~grader.run.launch.Running` launcher.
* :meth:`Server.wait_ready` waits until the server answers.  Ready means our
  child is alive AND it serves on our port (for a student's file: the
  launcher reached ``app.run()``; for ``--command``: our child or a
  descendant listens on our port, read from ``/proc`` by
  :mod:`grader.run.procfs`) AND it answers HTTP, so an old server squatting
  on the port cannot make the probe lie.  It notices the child's exit at
  once, and says why in the student's words (:mod:`grader.run.diagnose`).
* :meth:`Server.stop` stops the whole process tree and removes the folder.

How the processes are run, watched and stopped is the process backend's
(:mod:`grader.run.backend`): Linux's facilities by default on Linux, the
portable POSIX one (:mod:`grader.run.portable`) on macOS or when
``WEBGRADE_PROCESS=portable``, Windows' Job Object (:mod:`grader.run.windows`).

The server runs inside bubblewrap where it can (``grader.run.sandbox``), with
resource limits (``grader.run.limits``), on a listening socket that we bind
and hand over (so a squatter on the port is seen before anything starts, and
a sandboxed server needs no network).  The child is never orphaned: the
launcher supervises its tree and dies with the grader.  The run's folder is
removed even when the grader is killed with SIGKILL and :meth:`Server.stop`
never runs (see :mod:`grader.run.workspace`).

Deliberately imports no pytest, requests or jsonschema: the CLI starts the
server first and imports those while the server boots.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader.errors import Explained, UsageError
from grader.find.submission import Submission
from grader.run import backend, diagnose, procfs, sandbox, spawning
from grader.run.backend import Backend
from grader.run.diagnose import StartProblem
from grader.run.launch import CommandLaunch, Launch, Running, ScriptLaunch
from grader.run.limits import Limits, sandbox_uid
from grader.run.procfs import HOST, free_port, port_is_free
from grader.run.sandbox import Choice, Mode
from grader.run.server_log import TAIL_BYTES, ServerLog
from grader.run.spawn import Spawner, process_name
from grader.run.workspace import Janitor, Workspace

#: The whole grader package (not just this subpackage), covered up in the sandbox.
PACKAGE = Path(__file__).resolve().parents[1]  # grader/, two levels up from grader/run/server.py


class StartError(Explained):
    """The server did not start; ``problem`` says why in the student's words."""

    def __init__(self, problem: StartProblem) -> None:
        super().__init__(problem.message, problem.hint)
        self.problem = problem


@dataclass(frozen=True)
class Route:
    """One route of the student's app, as the launcher read it from ``app.url_map``."""

    rule: str
    endpoint: str
    methods: tuple[str, ...]
    file: str | None
    line: int | None


class Server:
    """One run of a submission's server, on its own port and temporary directory."""

    def __init__(
        self,
        submission: Submission | None,
        *,
        command: str | None = None,
        workdir: Path | None = None,
        python: str = sys.executable,
        port: int | None = None,
        sandbox: str = "auto",
        limits: Limits | None = None,
        hide: list[Path] | None = None,
    ) -> None:
        """``submission``'s file is run, or ``command`` in ``workdir`` (default: the submission's folder)."""
        try:
            self.requested_sandbox = Mode(sandbox)
        except ValueError:
            raise ValueError(f"sandbox must be auto, bwrap or none, not {sandbox!r}") from None
        #: Why the server cannot start, found before or while spawning (a taken port, no sandbox, no backend).
        self._start_problem: StartProblem | None = None
        #: The process backend: chosen for this system, or forced by WEBGRADE_PROCESS.
        try:
            self.backend = backend.choose()
        except UsageError as error:  # one it cannot run here: said as the reason the server did not start
            self.backend = backend.choose({})
            self._start_problem = StartProblem("process", error.message, error.hint)
        self._backend_why = backend.why(self.backend)
        self.launch: Launch
        if command is not None:
            self.launch = CommandLaunch(command)
        elif submission is not None:
            self.launch = ScriptLaunch(submission)
        else:
            raise ValueError("a submission or a command is needed")
        if workdir is None:
            if submission is None:
                raise ValueError("a command needs the folder it runs in (workdir)")
            workdir = submission.folder
        self.submission = submission
        student_root = submission.path if submission is not None and submission.path.is_dir() else None
        self.workspace = Workspace(Path(workdir), student_root)
        self.python = python
        self.host = HOST
        self.port = port or free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.routes: list[Route] = []
        self.warnings: list[str] = []
        self.limits = limits or Limits()
        #: The grader's own files and the instructor's, covered up if they lie in the sandbox's view.
        self.hide = [PACKAGE, self.workspace.original, *(hide or [])]
        #: Set by :meth:`expire` when the overall time limit ran out.
        self.expired = False
        self._choice = Choice(Mode.NONE)
        self._spawner = Spawner(self.workspace.xprocess)
        self._name = process_name()
        #: The launcher, from a successful spawn to :meth:`stop`.
        self._run: Running | None = None
        #: Its log, from the first spawn on (frozen as text by :meth:`stop`).
        self._log: ServerLog | None = None
        #: Sandbox only: removes the folder if we and the sandbox die first.
        self._janitor: Janitor | None = None

    # --- what the rest of the grader reads ---

    @property
    def tmp(self) -> Path:
        """The run's temporary folder (pytest's rootdir lives in it too, so it goes with the run)."""
        return self.workspace.tmp

    @property
    def workdir(self) -> Path:
        """The temporary copy of the submission's folder: the server's working directory."""
        return self.workspace.workdir

    @property
    def sandbox(self) -> Mode:
        """``bwrap`` or ``none`` (once started); :attr:`sandbox_note` says why when it is ``none``."""
        return self._choice.mode

    @property
    def sandbox_note(self) -> str:
        return self._choice.note

    @property
    def popen(self) -> subprocess.Popen[bytes] | None:
        """The launcher's process while it runs; None before the start and after :meth:`stop`."""
        return self._run.popen if self._run is not None else None

    def as_student_path(self, text: str) -> str:
        """Name files of the temporary copy as the student knows them (``main.py``, ``api/helpers.py``)."""
        return self.workspace.as_student_path(text)

    def route_for(self, path: str) -> Route | None:
        """The route that serves ``path`` exactly, if the app defines one."""
        path = path.split("?", 1)[0]
        return next((route for route in self.routes if route.rule == path), None)

    def log_text(self, limit: int = TAIL_BYTES) -> str:
        """The last ``limit`` bytes of everything the server printed (as kept by the launcher)."""
        return self._log.tail(limit) if self._log is not None else ""

    def log_size(self) -> int:
        """Where the log ends now: :meth:`log_since` reads what comes after."""
        return self._log.size() if self._log is not None else 0

    def log_since(self, offset: int, limit: int = TAIL_BYTES) -> str:
        """What the server printed after ``offset`` (at most the last ``limit`` bytes of it)."""
        return self._log.since(offset, limit) if self._log is not None else ""

    def alive(self) -> bool:
        return self._run is not None and self._run.popen.poll() is None

    # --- start ---

    def start(self) -> None:
        """Spawn the server and return at once; :meth:`wait_ready` waits for it."""
        if self.launch.runs_student_python and shutil.which(self.python) is None:
            # Said plainly by the caller; in the sandbox it would look like bwrap's failure.
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.python)
        warning = self.workspace.copy()
        if warning is not None:
            self.warnings.append(warning)
        self._choice = sandbox.choose(self.requested_sandbox, self.backend, self._backend_why)
        if note := backend.note(self.backend, self._backend_why):
            self.warnings.append(note)
        self._start_problem = self._start_problem or self._choice.problem
        if self._start_problem is None:
            self._try_spawn()

    def _try_spawn(self) -> None:
        try:
            self._spawn()
        except StartError as error:
            self._start_problem = error.problem

    def _spawn(self) -> None:
        """Spawn the launcher (in bubblewrap if so chosen) on our port; :class:`StartError` if the port is taken."""
        sandboxed = self._choice.mode is Mode.BWRAP
        uid = sandbox_uid(self.port) if sandboxed and sandbox.as_root() else None
        self.workspace.prepare(sandboxed=sandboxed, uid=uid)
        sock = self._listen()
        handed_over = str(os.fstat(sock.fileno()).st_ino) if sock is not None else None
        # The lifeline: the launcher's end reads end-of-file as soon as we are gone, even after SIGKILL.
        theirs, ours = os.pipe()
        try:
            if sandboxed and self._janitor is None:
                # The sandboxed supervisor cannot remove the run's folder: the janitor will, when we and it are
                # gone.  Started first (it costs a fraction of a millisecond), so there is no moment without it.
                self._janitor = Janitor(self.tmp)
            popen, log_path, job, started = spawning.spawn(
                self.launch,
                self.workspace,
                self._spawner,
                self._name,
                python=self.python,
                port=self.port,
                limits=self.limits,
                backend=self.backend,
                sandboxed=sandboxed,
                uid=uid,
                lifeline=theirs,
                # Also after falling back from the sandbox: the janitor waits for this one too.
                hold=self._janitor.hold if self._janitor is not None else None,
                listen_fd=sock.fileno() if sock is not None else None,
                hide=self.hide,
            )
        except BaseException:
            os.close(ours)
            raise
        finally:
            os.close(theirs)
            if sock is not None:
                sock.close()  # the server holds it now: when the server dies, the port closes
        self._log = ServerLog(log_path, self.workspace.as_student_path)
        self._run, warning = spawning.as_running(
            popen,
            self._log,
            backend=self.backend,
            job=job,
            lifeline=ours,
            port=self.port,
            mode=self._choice.mode,
            out=self.workspace.out,
            handed_over=handed_over,
            started=started,
        )
        if warning:
            self.warnings.append(warning)

    def _listen(self) -> socket.socket | None:
        """Bind our port now and hand the socket to the server; None if the server binds it itself.

        On Windows every server binds its port itself: a socket cannot be
        handed to a process there as a descriptor.
        """
        if (self.launch.binds_own_port and self._choice.mode is Mode.NONE) or self.backend is Backend.WINDOWS:
            if not port_is_free(self.port):
                raise StartError(diagnose.port_taken(self.port))
            return None
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise StartError(diagnose.port_taken(self.port)) from None
        return sock

    def _fall_back(self, run: Running) -> None:
        """``--sandbox auto``: bubblewrap is installed but cannot run here; run without it (said once)."""
        self._spawner.release()
        run.retire()
        self._run = None
        self._name = process_name()
        self._try_spawn()

    # --- readiness ---

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Return once the server answers; raise :class:`StartError` at once if it cannot."""
        deadline = time.monotonic() + timeout
        while True:
            if self._start_problem is not None:
                raise StartError(self._start_problem)
            if self.expired:
                raise StartError(diagnose.out_of_time())
            run = self._run
            if run is None:
                raise RuntimeError("wait_ready() needs start() first")
            code = run.popen.poll()
            if code is not None:
                failed = run.sandbox_failed()
                if failed:
                    self._choice = sandbox.after_failure(self.requested_sandbox, failed)
                    if self._choice.problem is not None:
                        raise StartError(self._choice.problem)
                    self._fall_back(run)
                    continue
                raise StartError(diagnose.exited(code, self.log_text(), self.submission, self.limits))
            serving = self.launch.serving(run)
            if serving and _answers_http(self.port, timeout=max(0.1, min(2.0, deadline - time.monotonic()))):
                self._read_routes()
                return
            if time.monotonic() > deadline:
                raise StartError(
                    diagnose.never_ready(timeout, self.port, run.listening_ports(), self.log_text(), serving)
                )
            time.sleep(0.005)

    def _read_routes(self) -> None:
        try:
            raw = json.loads((self.workspace.out / "routes.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self.routes = [
            Route(r["rule"], r["endpoint"], tuple(r["methods"]), self._student_file(r.get("file")), r.get("line"))
            for r in raw
        ]

    def _student_file(self, file: str | None) -> str | None:
        return self.as_student_path(file) if file else file

    # --- stop ---

    def expire(self) -> None:
        """The overall time limit ran out: stop the server now (from another thread); :meth:`stop` cleans up."""
        self.expired = True
        run = self._run
        if run is not None:
            run.terminate()

    def stop(self, grace: float = 3.0) -> None:
        """Stop the whole process tree (TERM, then KILL), confirm the port is free, clean up."""
        if self._log is not None and not self._log.frozen:  # spawned, and not stopped yet
            if self._run is not None:
                self._run.stop(grace)
                if strays := getattr(self._run, "strays", 0):  # the portable backend's sweep found some
                    self.warnings.append(
                        f"processes: {strays} process{'es' if strays != 1 else ''} the server had detached from "
                        "its tree (a new session, its parent gone) were found by their folder or environment "
                        "and stopped"
                    )
                self._run = None
            self._spawner.release()
            self._log.freeze()
            if not procfs.wait_port_free(self.port, 2.0):
                self.warnings.append(f"port {self.port} was still in use after the server was stopped")
        self.workspace.remove()
        if self._janitor is not None:
            self._janitor.release()
            self._janitor = None


def _answers_http(port: int, timeout: float) -> bool:
    """Something on ``port`` speaks HTTP (any status counts)."""
    import http.client  # not at the top: everything imported before the spawn delays the server

    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/.webgrade-ready")
        conn.getresponse().read(0)
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
