"""The pytest-xprocess adapter: xprocess spawns the launcher, and does nothing else.

Each of xprocess's known pitfalls is avoided here or by the caller:

* a stale PID file makes it reuse whatever process has that PID
  -> every start gets a fresh, unique process name (:func:`process_name`) in a fresh directory;
* it does not notice a child that crashed, and an exception in
  ``startup_check`` leaves the child running
  -> xprocess only spawns (``Starter.wait`` returns at once); readiness is
  :meth:`grader.run.server.Server.wait_ready`'s, which notices the child's exit at once;
* its working directory is its control directory -> we pass ``cwd``;
* ``env`` replaces the environment -> we want that: a minimal one, no secrets;
* it prints its progress to stdout, which may be our JSON report -> :class:`_Quiet`;
* it keeps PID and log files under ``.pytest_cache`` -> its root is the run's
  temporary folder, removed when the server stops.

xprocess and pytest's ``LocalPath`` are imported when the first server is
spawned, not with this module, so that importing :mod:`grader.run` loads
nothing of pytest's.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def process_name() -> str:
    """A name no earlier run used: xprocess would adopt a live process recorded under an old one."""
    return f"webgrade-{os.getpid()}-{uuid.uuid4().hex[:12]}"


class _Quiet:
    """xprocess prints its progress to stdout; our stdout may be a JSON report."""

    def debug(self, msg: str, *args: object) -> None:
        pass


class Spawner:
    """One xprocess instance, its control folders under ``root``; kept for a restart and released at the stop."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._xprocess: Any = None  # xprocess.XProcess, made on the first spawn

    def spawn(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        cwd: Path,
        pass_fds: tuple[int, ...],
        *,
        stdin: int | None = None,
        creationflags: int = 0,
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start ``args`` (stdout and stderr to its log); the process and its log file.

        ``stdin``: a file descriptor for its standard input (empty if None; on
        Windows, which cannot pass other descriptors, the lifeline).
        ``creationflags``: Windows' process creation flags.
        """
        # Here, not at the top: importing grader.run loads nothing of pytest's (the CLI imports pytest
        # itself only once the server is booting).
        from _pytest._py.path import LocalPath
        from xprocess import ProcessStarter, XProcess

        spawn_args, spawn_env = args, env

        class Starter(ProcessStarter):  # type: ignore[misc]  # xprocess ships no type information
            args = spawn_args
            env = spawn_env
            popen_kwargs = {
                "cwd": str(cwd),
                "stdin": subprocess.DEVNULL if stdin is None else stdin,
                "pass_fds": pass_fds,
                **({"creationflags": creationflags} if creationflags else {}),
            }

            def wait(self, log_file: object) -> bool:
                return True  # readiness is decided by Server.wait_ready, not by a log pattern

        if self._xprocess is None:
            root = LocalPath(self.root)  # type: ignore[no-untyped-call]  # pytest's private py.path, untyped
            self._xprocess = XProcess(SimpleNamespace(), root, log=_Quiet())
        self._xprocess.ensure(name, Starter, persist_logs=False)
        popen: subprocess.Popen[bytes] = self._xprocess.resources[-1].popen
        return popen, self.root / name / "xprocess.log"

    def release(self) -> None:
        """Close xprocess's handles on every log it opened (the processes are ours to stop)."""
        if self._xprocess is not None:
            for resource in self._xprocess.resources:
                resource.release()
