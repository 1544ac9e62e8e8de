"""The student's server as a child process: start it, wait until it answers, stop it.

Started through pytest-xprocess, whose known pitfalls are each defeated here:

* a stale PID file makes it reuse whatever process has that PID
  -> every start gets a fresh, unique process name in a fresh directory;
* it does not notice a child that crashed, and an exception in
  ``startup_check`` leaves the child running
  -> xprocess only spawns; readiness is ours (:meth:`Server.wait_ready`) and
  notices the child's exit at once;
* an old server squatting on the port makes an HTTP-only probe lie
  -> ready means our child is alive AND our child or a descendant listens on
  our port AND it answers HTTP;
* its working directory is its control directory -> we pass ``cwd``;
* ``env`` replaces the environment -> we want that: a minimal one, no secrets;
* the child is orphaned when pytest is killed -> ``launcher.py`` supervises
  the tree and dies with the grader (``PR_SET_PDEATHSIG``);
* it keeps PID and log files under ``.pytest_cache`` -> its root is our
  temporary directory, removed by :meth:`Server.stop`.

Deliberately imports no pytest, requests or jsonschema: the CLI starts the
server first and imports those while the server boots.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import psutil

from grader import diagnose
from grader.submission import Submission

LAUNCHER = Path(__file__).with_name("launcher.py")
HOST = "127.0.0.1"
LOG_TAIL_BYTES = 64 * 1024


class StartError(Exception):
    """The server did not start; ``problem`` says why in the student's words."""

    def __init__(self, problem: diagnose.Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True)
class Route:
    """One route of the student's app, as the launcher read it from ``app.url_map``."""

    rule: str
    endpoint: str
    methods: tuple[str, ...]
    file: str | None
    line: int | None


def free_port() -> int:
    """A port the kernel says is free now on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _listening(proc: psutil.Process) -> list:
    try:
        return [c for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    except psutil.Error:
        return []


class _Quiet:
    """xprocess prints its progress to stdout; our stdout may be a JSON report."""

    def debug(self, msg, *args) -> None:
        pass


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
    ) -> None:
        if submission is None and command is None:
            raise ValueError("a submission or a command is needed")
        self.submission = submission
        self.command = command
        self.workdir = Path(workdir or submission.folder)
        self.python = python
        self.host = HOST
        self.port = port or free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="webgrade-"))
        self.name = f"webgrade-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.popen: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.routes: list[Route] = []
        self.warnings: list[str] = []
        self._log_text: str | None = None
        self._xprocess = None

    # --- start ---

    def args(self) -> list[str]:
        launcher = self.tmp / "launcher.py"
        shutil.copyfile(LAUNCHER, launcher)
        if self.command is not None:
            import shlex

            return [self.python, str(launcher), "exec", *shlex.split(self.command.format(port=self.port))]
        script = self.tmp / "submission.py"
        script.write_text(self.submission.source, encoding="utf-8")
        return [self.python, str(launcher), "run", str(script), self.submission.display_name, str(self.workdir)]

    def env(self) -> dict[str, str]:
        """A minimal environment: nothing from the grader's (tokens, keys) reaches student code."""
        home = self.tmp / "home"
        home.mkdir(exist_ok=True)
        return {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(home),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            "PORT": str(self.port),
            "WEBGRADE_HOST": HOST,
            "WEBGRADE_PORT": str(self.port),
            "WEBGRADE_ROUTES": str(self.tmp / "routes.json"),
            "WEBGRADE_PARENT": str(os.getpid()),
        }

    def start(self) -> None:
        """Spawn the server and return at once; :meth:`wait_ready` waits for it."""
        from _pytest._py.path import LocalPath
        from xprocess import ProcessStarter, XProcess

        server = self

        class Starter(ProcessStarter):
            args = server.args()
            env = server.env()
            popen_kwargs = {"cwd": str(server.workdir), "stdin": subprocess.DEVNULL}

            def wait(self, log_file) -> bool:
                return True  # readiness is decided by Server.wait_ready, not by a log pattern

        self._xprocess = XProcess(SimpleNamespace(), LocalPath(self.tmp / "xprocess"), log=_Quiet())
        self._xprocess.ensure(self.name, Starter, persist_logs=False)
        self.popen = self._xprocess.resources[-1].popen
        self.log_path = self.tmp / "xprocess" / self.name / "xprocess.log"

    # --- readiness ---

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _tree_pids(self) -> list[int]:
        """Our child and its descendants, from the kernel's per-task children lists.

        Read directly rather than with psutil, which scans every process on
        the machine: this runs in the readiness loop that a student waits on.
        """
        pids, todo = [], [self.popen.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for task in tasks:
                try:
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo.extend(int(child) for child in f.read().split())
                except OSError:
                    continue
        return pids

    def listening_ports(self) -> set[int]:
        """TCP ports our child or its descendants listen on (Linux /proc; psutil elsewhere)."""
        if not os.path.exists("/proc/net/tcp"):
            return {c.laddr.port for p in self._tree() for c in _listening(p)}
        by_inode: dict[str, int] = {}
        # The kernel takes milliseconds to render each table; tcp6 only matters when
        # the server is not found on IPv4 (a --command server bound to "::").
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        fields = line.split()
                        if fields[3] == "0A":  # TCP_LISTEN
                            by_inode[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
            except OSError:
                continue
            if self.port in by_inode.values():
                break
        ports = set()
        for pid in self._tree_pids():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in by_inode:
                    ports.add(by_inode[target[8:-1]])
        return ports

    def _answers_http(self, timeout: float) -> bool:
        import http.client  # not at the top: everything imported before the spawn delays the server

        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request("GET", "/.webgrade-ready")
            conn.getresponse().read(0)
            return True  # any status counts: it speaks HTTP
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Return once the server answers; raise :class:`StartError` at once if it cannot."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.popen.poll()
            if code is not None:
                raise StartError(diagnose.exited(code, self.log_text(), self.submission))
            if self._port_open() and self.port in self.listening_ports():
                if self._answers_http(timeout=max(0.1, min(2.0, deadline - time.monotonic()))):
                    self._read_routes()
                    return
            if time.monotonic() > deadline:
                raise StartError(
                    diagnose.never_ready(timeout, self.port, self.listening_ports(), self.log_text())
                )
            time.sleep(0.005)

    def _port_open(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex((HOST, self.port)) == 0

    def _read_routes(self) -> None:
        try:
            raw = json.loads((self.tmp / "routes.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self.routes = [
            Route(r["rule"], r["endpoint"], tuple(r["methods"]), r.get("file"), r.get("line")) for r in raw
        ]

    # --- output ---

    def log_text(self, limit: int = LOG_TAIL_BYTES) -> str:
        """The last ``limit`` bytes of everything the server printed."""
        if self._log_text is not None:
            return self._log_text[-limit:]
        if self.log_path is None:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    # --- stop ---

    def stop(self, grace: float = 3.0) -> None:
        """Stop the whole process tree (TERM, then KILL), confirm the port is free, clean up."""
        if self.popen is not None:
            tree = self._tree()
            try:
                os.kill(self.popen.pid, signal.SIGTERM)  # the launcher stops its tree
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            for proc in [*tree, *self._tree()]:
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)  # xprocess made it a group leader
            except (ProcessLookupError, PermissionError):
                pass
            self.popen.wait()
            for resource in self._xprocess.resources:
                resource.release()
            self._log_text = self.log_text()
            self.popen = None
            deadline = time.monotonic() + 2.0
            while not port_is_free(self.port):
                if time.monotonic() > deadline:
                    self.warnings.append(f"port {self.port} was still in use after the server was stopped")
                    break
                time.sleep(0.01)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
