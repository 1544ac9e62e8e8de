"""Stop the student's own server: whatever Python of theirs listens on a port (the lesson's 5001).

The lesson stops its background server with ``lsof -i :5001 | awk '/Python/' |
xargs kill -9``, which only works on macOS (Linux calls the process
``python3``; Windows has neither lsof nor kill), kills every Python that
merely has a connection to the port (the notebook's kernel after a
``requests.get``), and never lets the server clean up.  This finds the one
process *listening* on the port with psutil (Linux, macOS, Windows), says
which it is, and stops it gracefully: SIGTERM, then SIGKILL after a grace.

It refuses to stop anything but a Python process of the same user, and never
this process or one it runs under (the kernel, Jupyter's own server).
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]  # no types-psutil in the dev group

#: The port of the lesson's server (``app.run(port=5001)``).
DEFAULT_PORT = 5001
#: How long a server gets to exit after SIGTERM before it is killed.
GRACE_S = 3.0
#: How long we wait, after the process is gone, for the port to be free.
PORT_WAIT_S = 2.0

#: python, python3, python3.12, Python (macOS's framework build), pythonw.exe, pypy3 ...
_PYTHON = re.compile(r"(?:python|pythonw|pypy)[\d.]*(?:\.exe)?", re.IGNORECASE)
_CMDLINE_MAX = 160


@dataclass
class Stopped:
    """What happened: ``stopped`` says whether the port's server was stopped; ``message`` says so in words."""

    stopped: bool
    message: str
    hint: str = ""
    #: The processes that were listening (pid, as described to the student).
    processes: list[tuple[int, str]] = field(default_factory=list)


def stop_server(port: int = DEFAULT_PORT, grace: float = GRACE_S) -> Stopped:
    """Stop the Python server of this user that listens on ``port``; refuse anything else, and say why."""
    pids, unknown = listening_pids(port)
    if unknown or not pids:
        if unknown:  # even beside a process of ours: stopping ours would not free the port
            return Stopped(
                False,
                f"port {port} is held by a process of another user (its owner cannot be seen from this account): "
                "not stopped",
                "stop it from the account that started it, or give your server another port",
            )
        return Stopped(False, f"nothing listens on port {port}: there is no server to stop")
    processes = []
    for pid in sorted(pids):
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    described = [(p.pid, describe(p)) for p in processes]
    for proc in processes:
        refusal = refuse(proc)
        if refusal:
            message, hint = refusal
            return Stopped(False, f"port {port} is held by {describe(proc)}: not stopped, because {message}", hint)
    if not processes:  # they all ended while we looked
        return Stopped(False, f"nothing listens on port {port} any more: there is no server to stop")
    how = _terminate(processes, grace)
    if how is None:
        return Stopped(
            False,
            f"could not stop {_names(described)} on port {port}: permission denied",
            "stop it from the account that started it",
            described,
        )
    if not _wait_free(port):
        return Stopped(
            False,
            f"stopped {_names(described)}, but port {port} is still in use",
            f"run the stop again: another process may have taken port {port}",
            described,
        )
    return Stopped(True, f"stopped {_names(described)} listening on port {port}{how}", "", described)


def listening_pids(port: int) -> tuple[set[int], bool]:
    """The pids listening on TCP ``port`` (any address), and whether some listener's pid could not be seen."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        # macOS lets only root list every process's sockets; a user may still ask each of their own processes.
        return _own_listeners(port), False
    pids: set[int] = set()
    unknown = False
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:  # Linux: a socket of another user's process
                unknown = True
            else:
                pids.add(conn.pid)
    return pids, unknown


def _own_listeners(port: int) -> set[int]:
    pids = set()
    for proc in psutil.process_iter():
        try:
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                for c in proc.net_connections(kind="tcp")
            ):
                pids.add(proc.pid)
        except psutil.Error:
            continue
    return pids


def refuse(proc: psutil.Process) -> tuple[str, str] | None:
    """Why ``proc`` must not be stopped by us ((reason, hint)), or None when it may."""
    if proc.pid == os.getpid():
        return (
            "it is this very Python (the server runs inside this program, e.g. app.run() in the notebook's kernel)",
            "restart the kernel to stop it, and start the server with %%python --bg instead",
        )
    try:
        ancestors = {parent.pid for parent in psutil.Process().parents()}
    except psutil.Error:
        ancestors = set()
    if proc.pid in ancestors:
        return (
            "this program runs inside it (it is Jupyter's own server, or this terminal's)",
            "give the port of your own server",
        )
    if not _same_user(proc):
        return f"it belongs to {_owner(proc)}, not to you", "stop it from the account that started it"
    if not is_python(proc):
        return (
            "it is not a Python program: webgrade only stops Python servers",
            "stop it the way it was started, or give your server another port",
        )
    return None


def is_python(proc: psutil.Process) -> bool:
    """Whether ``proc`` runs a Python interpreter: its name, its executable or its argv[0] (``flask`` scripts)."""
    names = []
    for getter in (proc.name, proc.exe, lambda: (proc.cmdline() or [""])[0]):
        try:
            names.append(getter())
        except psutil.Error:
            continue
    return any(_PYTHON.fullmatch(os.path.basename(name.replace("\\", "/"))) for name in names if name)


def _same_user(proc: psutil.Process) -> bool:
    try:
        if hasattr(os, "getuid"):
            return bool(proc.uids().real == os.getuid())
        return bool(proc.username() == psutil.Process().username())  # Windows: DOMAIN\user
    except psutil.Error:
        return False  # not even its owner can be read: not ours


def _owner(proc: psutil.Process) -> str:
    try:
        return f"the user {proc.username()}"
    except (psutil.Error, KeyError):  # KeyError: a uid with no name
        try:
            return f"the user id {proc.uids().real}"
        except psutil.Error:
            return "another user"


def describe(proc: psutil.Process) -> str:
    """How the student recognizes the process: ``python3 (pid 4242: python3 main.py)``."""
    try:
        name = proc.name()
    except psutil.Error:
        name = "a process"
    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        command = ""
    command = _visible(command)
    if len(command) > _CMDLINE_MAX:
        command = command[: _CMDLINE_MAX - 1] + "…"
    return f"{_visible(name)} (pid {proc.pid}{': ' + command if command else ''})"


def _visible(text: str) -> str:
    """A process's name or arguments, control characters shown escaped: they are not ours to print raw."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _names(described: list[tuple[int, str]]) -> str:
    return " and ".join(text for _, text in described)


def _terminate(processes: list[psutil.Process], grace: float) -> str | None:
    """TERM, then KILL what is left after ``grace``; how it went (" (it ended on SIGTERM)"), None if not allowed.

    On Windows psutil's terminate() is TerminateProcess, as abrupt as kill(): Windows has no signal a
    console-less server could catch, so there is no gentler way to ask.
    """
    try:
        for proc in processes:
            proc.terminate()
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        return None
    alive = _wait_gone(processes, grace)
    if not alive:
        return "" if sys.platform == "win32" else " (it ended on SIGTERM)"
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            return None
    _wait_gone(alive, grace)
    return f" (killed: it was still running {grace:g} s after SIGTERM)"


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until the processes are gone; those still running after ``timeout``.

    Not psutil.wait_procs: a process that is not our child stays a zombie until its own parent (a
    kernel, a shell) reaps it, and wait_procs counts a zombie as running.  A zombie has closed its
    sockets and will never run again: it is gone.  Our own children are reaped here.
    """
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for proc in processes:
            try:
                proc.wait(timeout=0)  # reaps it if it is our child
                continue
            except psutil.TimeoutExpired:
                pass
            except psutil.NoSuchProcess:
                continue
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _wait_free(port: int) -> bool:
    deadline = time.monotonic() + PORT_WAIT_S
    while listening_pids(port) != (set(), False):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
