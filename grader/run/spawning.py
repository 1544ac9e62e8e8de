"""The process backend's part of a start: spawn the launcher as the backend needs, then hold it as its ``Running``.

:class:`grader.run.server.Server` prepares a spawn (the folder, the port,
the lifeline, the janitor) and decides when to spawn again; what differs
between Linux, the portable backend and Windows' Job Object is here, in one
place.  :mod:`grader.run.spawn` is the pytest-xprocess adapter that starts
the process.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grader.run import sandbox
from grader.run.backend import Backend
from grader.run.launch import Launch, Running, launch_env
from grader.run.limits import Limits
from grader.run.sandbox import Mode
from grader.run.server_log import ServerLog
from grader.run.spawn import Spawner
from grader.run.workspace import Workspace

if TYPE_CHECKING:
    from grader.run.windows import Job


def spawn(
    launch: Launch,
    workspace: Workspace,
    spawner: Spawner,
    name: str,
    *,
    python: str,
    port: int,
    limits: Limits,
    backend: Backend,
    sandboxed: bool,
    uid: int | None,
    lifeline: int,
    hold: int | None,
    listen_fd: int | None,
    hide: list[Path],
) -> tuple[subprocess.Popen[bytes], Path, Job | None, float]:
    """Spawn the launcher (in bubblewrap if ``sandboxed``): the process, its log, its Job Object (Windows) and when.

    ``lifeline``, ``hold`` and ``listen_fd`` are the launcher's ends of the
    lifeline, the janitor's pipe and our listening socket.  On Windows the
    lifeline is its standard input and no other descriptor is passed.
    """
    windows = backend is Backend.WINDOWS
    env = launch_env(
        workspace,
        port=port,
        limits=limits,
        sandboxed=sandboxed,
        uid=uid,
        lifeline=0 if windows else lifeline,  # Windows passes no other descriptor: its standard input
        hold=hold,
        listen_fd=listen_fd,
        backend=backend,
    )
    args = launch.argv(python, workspace, port)
    if sandboxed:
        args = sandbox.bwrap_command(
            args,
            python=python,
            read_only=launch.read_only_files(workspace),
            writable=[workspace.workdir, workspace.out],
            cwd=workspace.workdir,
            hide=hide,
        )
    started = time.time()  # as psutil's start times: the portable backend's sweep compares them
    if not windows:
        pass_fds = tuple(fd for fd in (lifeline, hold, listen_fd) if fd is not None)
        popen, log_path = spawner.spawn(name, args, env, workspace.workdir, pass_fds)
        return popen, log_path, None, started
    from grader.run import windows as win  # here: ctypes and the job are Windows' alone

    job = win.Job(limits)
    try:
        popen, log_path = spawner.spawn(
            name, args, env, workspace.workdir, (), stdin=lifeline, creationflags=win.CREATE_NEW_PROCESS_GROUP
        )
    except BaseException:
        job.close()
        raise
    return popen, log_path, job, started


def as_running(
    popen: subprocess.Popen[bytes],
    log: ServerLog,
    *,
    backend: Backend,
    job: Job | None,
    lifeline: int,
    port: int,
    mode: Mode,
    out: Path,
    handed_over: str | None,
    started: float,
) -> tuple[Running, str | None]:
    """The spawned launcher as its backend's ``Running``, and a warning for the report if Windows refused the job."""
    if job is not None:
        from grader.run import windows as win

        warning = win.admit(job, popen.pid, lifeline)  # first of all: then the launcher may go on
        return win.WindowsRunning(popen, log, lifeline=lifeline, port=port, out=out, started=started, job=job), warning
    if backend is Backend.PORTABLE:
        from grader.run.portable import PortableRunning  # here: Linux's default path does without it

        portable = PortableRunning(
            popen, log, lifeline=lifeline, port=port, out=out, handed_over=handed_over, started=started
        )
        return portable, None
    running = Running(popen=popen, log=log, lifeline=lifeline, port=port, mode=mode, out=out, handed_over=handed_over)
    return running, None
