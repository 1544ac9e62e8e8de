"""The grader's side of ``launcher.py``: its command line, its environment, and a started one.

What the launcher runs is a :class:`Launch`: :class:`ScriptLaunch` (the
student's file, with ``app.run()`` pointed at the socket we hand over) or
:class:`CommandLaunch` (``--command``: any other server, which binds its own
port).  Its whole environment comes from :func:`launch_env`, the one place
that writes the ``WEBGRADE_*`` names ``launcher.py`` reads.  A spawned
launcher is a :class:`Running`.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Protocol

from grader.find.submission import Submission
from grader.run import procfs
from grader.run.backend import VARIABLE, Backend
from grader.run.limits import Limits
from grader.run.sandbox import Mode
from grader.run.server_log import ServerLog
from grader.run.workspace import Workspace


class Launch(Protocol):
    """What the launcher runs, and how the grader tells that it serves."""

    #: The server binds its port itself (else it serves on the listening socket the grader hands over).
    binds_own_port: bool
    #: The student's code runs on ``--python``: a missing one is said plainly before anything starts.
    runs_student_python: bool

    def argv(self, python: str, workspace: Workspace, port: int) -> list[str]:
        """The launcher's command line (outside the sandbox's ``bwrap`` wrapper)."""
        ...

    def read_only_files(self, workspace: Workspace) -> list[Path]:
        """Files of the run's folder that the sandbox shows, read-only, besides ``work/`` and ``out/``."""
        ...

    def serving(self, run: Running) -> bool:
        """The server has reached the point where it answers: time to try HTTP."""
        ...


class ScriptLaunch:
    """The student's file, run by the launcher as ``__main__``, with ``app.run()`` pointed at our socket."""

    binds_own_port = False
    runs_student_python = True

    def __init__(self, submission: Submission) -> None:
        self.submission = submission

    def argv(self, python: str, workspace: Workspace, port: int) -> list[str]:
        """``launcher.py run``, after writing the source it runs (a notebook's cells, as one file) to the folder."""
        workspace.script.write_text(self.submission.source, encoding="utf-8")
        return [
            python,
            str(workspace.launcher),
            "run",
            str(workspace.script),
            self.submission.display_name,
            str(workspace.workdir),
        ]

    def read_only_files(self, workspace: Workspace) -> list[Path]:
        return [*workspace.launcher_files, workspace.script]

    def serving(self, run: Running) -> bool:
        """The launcher says ``app.run()`` was reached: it wrote the app's routes."""
        return (run.out / "routes.json").exists()


class CommandLaunch:
    """``--command "CMD {port}"``: any other server, exec'd by the launcher; it binds its port itself."""

    binds_own_port = True
    runs_student_python = False  # --python runs only our launcher: the command names its own program

    def __init__(self, command: str) -> None:
        self.command = command

    def argv(self, python: str, workspace: Workspace, port: int) -> list[str]:
        import shlex  # here: only --command needs it, and every import before the spawn delays the server

        return [python, str(workspace.launcher), "exec", *shlex.split(self.command.format(port=port))]

    def read_only_files(self, workspace: Workspace) -> list[Path]:
        return [*workspace.launcher_files]

    def serving(self, run: Running) -> bool:
        """Something of ours listens on our port (in the sandbox, in its own namespace, behind the relay)."""
        if run.mode is Mode.NONE and not procfs.port_open(run.port):
            return False
        return run.port in run.listening_ports()


def launch_env(
    workspace: Workspace,
    *,
    port: int,
    limits: Limits,
    sandboxed: bool,
    uid: int | None,
    lifeline: int,
    hold: int | None,
    listen_fd: int | None,
    backend: Backend = Backend.LINUX,
) -> dict[str, str]:
    """The launcher's whole environment: a minimal one, so nothing of the grader's (tokens, keys) reaches student code.

    ``uid``: the user id a root grader's sandboxed server runs as.  ``lifeline``:
    the launcher's end of a pipe that ends when the grader is gone (on Windows
    its standard input, 0).  ``hold``: the janitor's pipe (see
    :class:`grader.run.workspace.Janitor`).  ``listen_fd``: the listening
    socket handed over, if any.  ``backend``: which process backend the
    launcher is part of (``grader.run.backend``).
    """
    if sandboxed:
        home = tmpdir = "/tmp"  # the sandbox's own small tmpfs
    else:
        home, tmpdir = str(workspace.home), str(workspace.tmp)
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": home,
        "TMPDIR": tmpdir,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "PORT": str(port),
        "WEBGRADE_HOST": procfs.HOST,
        "WEBGRADE_PORT": str(port),
        "WEBGRADE_OUT": str(workspace.out),
        "WEBGRADE_PARENT": str(os.getpid()),
        **limits.env(),
    }
    if sandboxed:
        env["WEBGRADE_SANDBOX"] = "bwrap"
        if uid is not None:
            env["WEBGRADE_UID"] = str(uid)
    else:
        # Counted per user over the whole machine outside the sandbox: a limit here
        # would count the student's browser and editor too (and root ignores it).
        env.pop("WEBGRADE_LIMIT_NPROC")
        # The supervisor sees this folder and outlives us: it removes it if we die first.
        env["WEBGRADE_RUN_DIR"] = str(workspace.tmp)
    env[VARIABLE] = str(backend)
    if backend is Backend.WINDOWS:
        # Python on Windows cannot start without SYSTEMROOT (sockets, random numbers); TEMP and USERPROFILE
        # are Windows' TMPDIR and HOME.  LANG and LC_ALL mean nothing there: PYTHONIOENCODING sets the output's.
        env.update(
            {name: os.environ[name] for name in ("SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT") if name in os.environ}
        )
        env["TEMP"] = env["TMP"] = tmpdir
        env["USERPROFILE"] = home
    env["WEBGRADE_LIFELINE"] = str(lifeline)
    if hold is not None:
        env["WEBGRADE_HOLD"] = str(hold)
    if listen_fd is not None:
        env["WEBGRADE_FD"] = str(listen_fd)
    return env


class Running:  # not a dataclass: making one costs ~0.7 ms at import, before the server is spawned
    """A spawned launcher: what it takes to watch it and to stop it, none of it optional."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        log: ServerLog,
        *,
        lifeline: int,
        port: int,
        mode: Mode,
        out: Path,
        handed_over: str | None,
    ) -> None:
        self.popen = popen
        self.log = log
        #: Our end of the lifeline: the launcher reads end-of-file once it is closed, even after our SIGKILL.
        self.lifeline = lifeline
        self.port = port
        #: ``BWRAP`` or ``NONE``.
        self.mode = mode
        #: The launcher's drop box (``started``, ``routes.json``).
        self.out = out
        #: The inode of the listening socket we handed over; None when the server binds its port itself.
        self.handed_over = handed_over

    def listening_ports(self) -> set[int]:
        """TCP ports the launcher's tree listens on, besides the socket we handed it."""
        return procfs.listening_ports(self.popen.pid, self.port, self.handed_over)

    def sandbox_failed(self) -> str | None:
        """bwrap's own complaint, if the sandbox never reached our launcher."""
        if self.mode is not Mode.BWRAP or (self.out / "started").exists():
            return None
        lines = self.log.tail().strip().splitlines()
        return lines[0] if lines else f"bwrap exited with code {self.popen.returncode}"

    def supervisor(self) -> int | None:
        """The launcher's supervisor: our child, or in the sandbox bwrap's child (the init of its pid namespace)."""
        if self.popen.poll() is not None:
            return None
        if self.mode is not Mode.BWRAP:
            return self.popen.pid
        return procfs.first_child(self.popen.pid)

    def terminate(self) -> None:
        """Ask the supervisor to stop the whole tree (TERM, then KILL after its grace)."""
        pid = self.supervisor()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def retire(self) -> None:
        """The launcher exited by itself: reap it and let go of its lifeline (before a restart)."""
        self.popen.wait()
        os.close(self.lifeline)

    def stop(self, grace: float) -> None:
        """Stop the whole process tree: the supervisor's TERM, then KILL for whatever is left."""
        tree = procfs.tree(self.popen.pid)
        self.terminate()  # the launcher stops its tree
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        procfs.kill_all([*tree, *procfs.tree(self.popen.pid)])
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # xprocess made it a group leader
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.kill()  # bwrap: the sandbox's pid namespace, and all in it, goes with it
        except ProcessLookupError:
            pass
        self.popen.wait()
        os.close(self.lifeline)
