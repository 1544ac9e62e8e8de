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

That temporary directory (the run's folder) is removed even when the grader
is killed with SIGKILL and :meth:`Server.stop` never runs: outside the
sandbox by the launcher's supervisor, once it has stopped the tree; in the
sandbox, where the supervisor cannot see the folder, by a *janitor*: a
``/bin/sh`` started beside bubblewrap, outside it, as the grader's user,
that waits on a pipe only the grader and the supervisor hold (its end is
end-of-file once both are gone, however they died) and then removes the
folder if it is still there.

The server never runs in the student's folder: it runs in a temporary copy
(``work/`` in our temporary directory), inside bubblewrap where it can
(``grader.run.sandbox``), with resource limits (``grader.run.limits``), on a
listening socket that we bind and hand over (so a squatter on the port is
seen before anything starts, and a sandboxed server needs no network).
Paths of the copy are shown as the student's own (``main.py``), in the log
and in the routes.

Deliberately imports no pytest, requests or jsonschema: the CLI starts the
server first and imports those while the server boots.
"""

from __future__ import annotations

import errno
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

import grader
from grader.find.submission import SKIP_DIRS, Submission
from grader.run import diagnose, sandbox
from grader.run.limits import Limits, sandbox_uid

LAUNCHER = Path(__file__).with_name("launcher.py")
#: The whole grader package (not just this subpackage), covered up in the sandbox.
PACKAGE = Path(grader.__file__).parent
#: The janitor of a sandboxed run (see the module's docstring): ``sh -c JANITOR webgrade-janitor RUN_DIR``,
#: its standard input the pipe that ends when the grader and the sandbox's supervisor are both gone.
JANITOR = """
while read -r _; do :; done
[ -e "$1" ] || exit 0
rm -rf -- "$1" 2>/dev/null || { sleep 1; rm -rf -- "$1"; }
"""
HOST = "127.0.0.1"
LOG_TAIL_BYTES = 64 * 1024
#: The temporary copy leaves out other people's code (virtualenvs, node_modules) and stops at this size.
COPY_MAX_BYTES = 50 * 1024 * 1024


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
        sandbox: str = "auto",
        limits: Limits | None = None,
        hide: list[Path] | None = None,
    ) -> None:
        if submission is None and command is None:
            raise ValueError("a submission or a command is needed")
        if sandbox not in ("auto", "bwrap", "none"):
            raise ValueError(f"sandbox must be auto, bwrap or none, not {sandbox!r}")
        self.submission = submission
        self.command = command
        self.original = Path(workdir or submission.folder)
        self.python = python
        self.host = HOST
        self.port = port or free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="webgrade-"))
        #: The temporary copy of the submission's folder: the server's working directory.
        self.workdir = self.tmp / "work"
        self.name = f"webgrade-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.popen: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.routes: list[Route] = []
        self.warnings: list[str] = []
        self.limits = limits or Limits()
        self.requested_sandbox = sandbox
        #: "bwrap" or "none", once started; :attr:`sandbox_note` says why when it is "none".
        self.sandbox = "none"
        self.sandbox_note = ""
        #: The grader's own files and the instructor's, covered up if they lie in the sandbox's view.
        self.hide = [PACKAGE, self.original, *(hide or [])]
        #: Set by :meth:`expire` when the overall time limit ran out.
        self.expired = False
        self._log_text: str | None = None
        self._xprocess = None
        self._early: diagnose.Problem | None = None
        self._socket_inode: str | None = None
        self._lifeline: int | None = None
        #: The janitor (sandbox only) and our end of its pipe.
        self._janitor: subprocess.Popen | None = None
        self._hold: int | None = None
        self._relative = ""

    # --- start ---

    def _copy_submission(self) -> None:
        """Copy the submission's folder to ``work/``; the original is never the working directory."""
        total = 0

        def ignore(folder: str, names: list[str]) -> list[str]:
            nonlocal total
            if total > COPY_MAX_BYTES:
                return names  # full: do not even walk the rest
            skipped = []
            for name in names:
                path = os.path.join(folder, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    # Someone else's code, or hidden folders (.git, .cache): the finder skips them too.
                    if name in SKIP_DIRS or name.startswith(".") or os.path.exists(os.path.join(path, "pyvenv.cfg")):
                        skipped.append(name)
                elif os.path.isfile(path) and not os.path.islink(path):
                    total += os.path.getsize(path)
                    if total > COPY_MAX_BYTES:
                        skipped.append(name)
            return skipped

        shutil.copytree(self.original, self.workdir, symlinks=True, ignore=ignore)
        if total > COPY_MAX_BYTES:
            self.warnings.append(
                f"the submission's folder holds more than {COPY_MAX_BYTES // 2**20} MB: "
                "some files were not copied for the server"
            )
        if self.submission is not None and self.submission.path.is_dir():
            rel = (
                self.original.relative_to(self.submission.path).as_posix()
                if self.original.is_relative_to(self.submission.path)
                else ""
            )
            self._relative = "" if rel in ("", ".") else rel + "/"

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
        if self.sandbox == "bwrap":
            home = tmpdir = "/tmp"  # the sandbox's own small tmpfs
        else:
            home, tmpdir = str(self.tmp / "home"), str(self.tmp)
            (self.tmp / "home").mkdir(exist_ok=True)
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
            "PORT": str(self.port),
            "WEBGRADE_HOST": HOST,
            "WEBGRADE_PORT": str(self.port),
            "WEBGRADE_OUT": str(self.tmp / "out"),
            "WEBGRADE_PARENT": str(os.getpid()),
            **self.limits.env(),
        }
        if self.sandbox == "bwrap":
            env["WEBGRADE_SANDBOX"] = "bwrap"
            if sandbox.as_root():
                env["WEBGRADE_UID"] = str(sandbox_uid(self.port))
        else:
            # Counted per user over the whole machine outside the sandbox: a limit here
            # would count the student's browser and editor too (and root ignores it).
            env.pop("WEBGRADE_LIMIT_NPROC")
            # The supervisor sees this folder and outlives us: it removes it if we die first.
            env["WEBGRADE_RUN_DIR"] = str(self.tmp)
        return env

    def _choose_sandbox(self) -> None:
        if self.requested_sandbox == "none":
            self.sandbox, self.sandbox_note = "none", "--sandbox none"
            return
        reason = sandbox.unusable_reason()
        if reason is None:
            self.sandbox, self.sandbox_note = "bwrap", ""
        elif self.requested_sandbox == "bwrap":
            self.sandbox_note = reason
            self._early = diagnose.no_sandbox(reason)
        else:
            self.sandbox, self.sandbox_note = "none", reason

    def _listen(self) -> socket.socket | None:
        """Bind our port now and hand the socket to the server; None if the server binds it itself."""
        if self.command is not None and self.sandbox == "none":
            if not port_is_free(self.port):
                self._early = diagnose.port_taken(self.port)
            return None
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            self._early = diagnose.port_taken(self.port)
            return None
        self._socket_inode = str(os.fstat(sock.fileno()).st_ino)
        return sock

    def _prepare_run_dir(self) -> None:
        out = self.tmp / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        if self.sandbox == "bwrap" and sandbox.as_root():
            # The server runs as a user id of its own: it may write its copy and the drop box, nothing else.
            uid = sandbox_uid(self.port)
            os.chmod(self.tmp, 0o711)
            for folder in (self.workdir, out):
                os.chown(folder, uid, uid)
                for root, dirs, files in os.walk(folder):
                    for name in dirs + files:
                        os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)

    def start(self) -> None:
        """Spawn the server and return at once; :meth:`wait_ready` waits for it."""
        if self.command is None and shutil.which(self.python) is None:
            # Said plainly by the caller; in the sandbox it would look like bwrap's failure.
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), self.python)
        self._copy_submission()
        self._choose_sandbox()
        if self._early is None:
            self._spawn()

    def _spawn(self) -> None:
        from _pytest._py.path import LocalPath
        from xprocess import ProcessStarter, XProcess

        self._prepare_run_dir()
        sock = self._listen()
        if self._early is not None:
            return
        server = self
        args = self.args()
        env = self.env()
        # The lifeline: the server's end reads end-of-file as soon as we are gone, even after SIGKILL.
        lifeline, self._lifeline = os.pipe()
        env["WEBGRADE_LIFELINE"] = str(lifeline)
        pass_fds: tuple[int, ...] = (lifeline,)
        if self.sandbox == "bwrap" and self._hold is None:
            # The sandboxed supervisor cannot remove the run's folder: the janitor will, when we and it are gone.
            # Started first (it costs a fraction of a millisecond), so there is no moment without it.
            read, self._hold = os.pipe()
            self._start_janitor(read)
        if self._hold is not None:  # also after falling back from the sandbox: the janitor waits for this one too
            env["WEBGRADE_HOLD"] = str(self._hold)
            pass_fds += (self._hold,)
        if sock is not None:
            env["WEBGRADE_FD"] = str(sock.fileno())
            pass_fds += (sock.fileno(),)
        if self.sandbox == "bwrap":
            args = sandbox.bwrap_command(
                args,
                python=self.python,
                read_only=[self.tmp / "launcher.py", *([self.tmp / "submission.py"] if self.command is None else [])],
                writable=[self.workdir, self.tmp / "out"],
                cwd=self.workdir,
                hide=self.hide,
            )

        spawn_args, spawn_env = args, env

        class Starter(ProcessStarter):
            args = spawn_args
            env = spawn_env
            popen_kwargs = {"cwd": str(server.workdir), "stdin": subprocess.DEVNULL, "pass_fds": pass_fds}

            def wait(self, log_file) -> bool:
                return True  # readiness is decided by Server.wait_ready, not by a log pattern

        self._xprocess = self._xprocess or XProcess(SimpleNamespace(), LocalPath(self.tmp / "xprocess"), log=_Quiet())
        try:
            self._xprocess.ensure(self.name, Starter, persist_logs=False)
        finally:
            os.close(lifeline)
            if sock is not None:
                sock.close()  # the server holds it now: when the server dies, the port closes
        self.popen = self._xprocess.resources[-1].popen
        self.log_path = self.tmp / "xprocess" / self.name / "xprocess.log"

    def _start_janitor(self, read: int) -> None:
        """Start the janitor on the read end of its pipe (then closed here: only the janitor reads it)."""
        try:
            self._janitor = subprocess.Popen(
                ["/bin/sh", "-c", JANITOR, "webgrade-janitor", str(self.tmp)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                env={"PATH": os.defpath, "LC_ALL": "C"},
                start_new_session=True,  # a Ctrl+C meant for the grader must not stop it
            )
        except OSError:  # no /bin/sh: only a grader killed with SIGKILL would leave its folder
            pass
        finally:
            os.close(read)

    def _release_janitor(self) -> None:
        """We removed the folder ourselves: let the janitor see our end close, find nothing to do, and exit."""
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None
        if self._janitor is not None:
            try:
                self._janitor.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._janitor.kill()
                self._janitor.wait()
            self._janitor = None

    def _sandbox_failed(self) -> str | None:
        """bwrap's own complaint, if the sandbox never reached our launcher."""
        if self.sandbox != "bwrap" or (self.tmp / "out" / "started").exists():
            return None
        lines = self.log_text().strip().splitlines()
        return lines[0] if lines else f"bwrap exited with code {self.popen.returncode}"

    def _fall_back(self, reason: str) -> None:
        """``--sandbox auto``: bubblewrap is installed but cannot run here; run without it (said once)."""
        sandbox.mark_unusable(f"bubblewrap is installed but cannot start a sandbox here ({reason})")
        for resource in self._xprocess.resources:
            resource.release()
        self.popen.wait()
        self._close_lifeline()
        self.name = f"webgrade-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.sandbox, self.sandbox_note = "none", sandbox.unusable_reason() or ""
        self._spawn()

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
        """TCP ports our child or its descendants listen on, besides the socket we handed it.

        Read from /proc (psutil elsewhere).  Each process is looked up in the
        tables of its own network namespace (``/proc/PID/net/tcp``): inside
        the sandbox, a server that binds a port of its own does so in a
        namespace of its own.
        """
        if not os.path.exists("/proc/net/tcp"):
            return {c.laddr.port for p in self._tree() for c in _listening(p)}
        tables: dict[str, dict[str, int]] = {}  # network namespace -> socket inode -> port
        ports = set()
        for pid in self._tree_pids():
            try:
                netns = os.readlink(f"/proc/{pid}/ns/net")
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            if netns not in tables:
                tables[netns] = self._listen_table(pid)
            by_inode = tables[netns]
            for fd in fds:
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                inode = target[8:-1]
                if target.startswith("socket:[") and inode in by_inode and inode != self._socket_inode:
                    ports.add(by_inode[inode])
        return ports

    def _listen_table(self, pid: int) -> dict[str, int]:
        by_inode: dict[str, int] = {}
        # The kernel takes milliseconds to render each table; tcp6 only matters when
        # the server is not found on IPv4 (a --command server bound to "::").
        for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        fields = line.split()
                        if fields[3] == "0A":  # TCP_LISTEN
                            by_inode[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
            except (OSError, StopIteration):
                continue
            if self.port in by_inode.values():
                break
        return by_inode

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

    def _serving(self) -> bool:
        """The launcher says ``app.run()`` was reached, or (``--command``) something of ours listens on our port."""
        if self.command is None:
            return (self.tmp / "out" / "routes.json").exists()
        if self.sandbox == "none" and not self._port_open():
            return False
        return self.port in self.listening_ports()

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Return once the server answers; raise :class:`StartError` at once if it cannot."""
        deadline = time.monotonic() + timeout
        while True:
            if self._early is not None:
                raise StartError(self._early)
            if self.expired:
                raise StartError(diagnose.out_of_time())
            code = self.popen.poll()
            if code is not None:
                failed = self._sandbox_failed()
                if failed and self.requested_sandbox == "auto":
                    self._fall_back(failed)
                    continue
                if failed:
                    self.sandbox, self.sandbox_note = "none", f"bubblewrap could not start a sandbox here ({failed})"
                    raise StartError(diagnose.no_sandbox(self.sandbox_note))
                raise StartError(diagnose.exited(code, self.log_text(), self.submission, self.limits))
            serving = self._serving()
            if serving and self._answers_http(timeout=max(0.1, min(2.0, deadline - time.monotonic()))):
                self._read_routes()
                return
            if time.monotonic() > deadline:
                raise StartError(
                    diagnose.never_ready(timeout, self.port, self.listening_ports(), self.log_text(), serving)
                )
            time.sleep(0.005)

    def _port_open(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex((HOST, self.port)) == 0

    def _read_routes(self) -> None:
        try:
            raw = json.loads((self.tmp / "out" / "routes.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self.routes = [
            Route(r["rule"], r["endpoint"], tuple(r["methods"]), self.relative(r.get("file")), r.get("line"))
            for r in raw
        ]

    def route_for(self, path: str) -> Route | None:
        """The route that serves ``path`` exactly, if the app defines one."""
        path = path.split("?", 1)[0]
        return next((route for route in self.routes if route.rule == path), None)

    def relative(self, text: str | None) -> str | None:
        """Name files of the temporary copy as the student knows them (``main.py``, ``api/helpers.py``)."""
        if not text:
            return text
        return text.replace(f"{self.workdir}/", self._relative).replace(
            str(self.workdir), self._relative.rstrip("/") or "."
        )

    # --- output ---

    def log_text(self, limit: int = LOG_TAIL_BYTES) -> str:
        """The last ``limit`` bytes of everything the server printed (as kept by the launcher)."""
        if self._log_text is not None:  # the server is stopped and its files are gone
            return self._log_text if limit >= LOG_TAIL_BYTES else self._log_text[-limit:]
        if self.log_path is None:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                end = f.seek(0, os.SEEK_END)
                f.seek(max(0, end - limit))
                text = self.relative(f.read().decode("utf-8", errors="replace"))
        except OSError:
            return ""
        if end > limit:
            text = f"[webgrade: the server printed more: only its last {limit // 1024} KB are shown]\n" + text
        return text

    def log_size(self) -> int:
        """Where the log ends now: :meth:`log_since` reads what comes after."""
        try:
            return os.path.getsize(self.log_path) if self.log_path else 0
        except OSError:
            return 0

    def log_since(self, offset: int, limit: int = LOG_TAIL_BYTES) -> str:
        """What the server printed after ``offset`` (at most the last ``limit`` bytes of it)."""
        if self.log_path is None:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                end = f.seek(0, os.SEEK_END)
                f.seek(max(0, offset if offset <= end else end - limit, end - limit))
                return self.relative(f.read().decode("utf-8", errors="replace"))
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def expire(self) -> None:
        """The overall time limit ran out: stop the server now (from another thread); :meth:`stop` cleans up."""
        self.expired = True
        self._terminate()

    def _supervisor(self) -> int | None:
        """The launcher's supervisor: our child, or in the sandbox bwrap's child (the init of its pid namespace)."""
        popen = self.popen
        if popen is None or popen.poll() is not None:
            return None
        if self.sandbox != "bwrap":
            return popen.pid
        try:
            with open(f"/proc/{popen.pid}/task/{popen.pid}/children") as f:
                children = f.read().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def _terminate(self) -> None:
        """Ask the supervisor to stop the whole tree (TERM, then KILL after its grace)."""
        pid = self._supervisor()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    # --- stop ---

    def stop(self, grace: float = 3.0) -> None:
        """Stop the whole process tree (TERM, then KILL), confirm the port is free, clean up."""
        if self.popen is not None:
            tree = self._tree()
            self._terminate()  # the launcher stops its tree
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
            try:
                self.popen.kill()  # bwrap: the sandbox's pid namespace, and all in it, goes with it
            except ProcessLookupError:
                pass
            self.popen.wait()
            self._close_lifeline()
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
        self._release_janitor()

    def _close_lifeline(self) -> None:
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
