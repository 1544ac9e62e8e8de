"""The bubblewrap sandbox the student's server runs in, where it is available.

Inside, the server sees a new root that holds only what it needs, read-only:
the system (``/usr``, ``/etc`` and the ``/bin``-style links), its Python
installation, the launcher and its own source.  Writable are only the
temporary copy of its folder, the grader's drop box for the app's routes,
and a small private ``/tmp`` (also its ``HOME``) that vanishes with it.  The
grader's package, the instructor's checks and rubric, the original
submission folder, the grader's temporary files and every home folder are not
in that root at all; anything listed in ``hide`` that happens to lie inside a
bound folder is covered up.

Network: ``--unshare-net`` gives it a network namespace of its own with only
a loopback device, so it can reach nothing, not even the grader's machine.
The grader reaches *it* through a listening socket that the grader binds on
its own loopback and passes in as an open file descriptor (``pass_fds``):
``app.run()`` serves on that socket, and a ``--command`` server is reached
through a small relay in the supervisor.  So the server needs no network.

Processes: ``--unshare-pid`` with ``--as-pid-1`` makes the launcher's
supervisor the init of a pid namespace of its own, and the kernel kills
every process left in a namespace when its init dies, so no child survives,
detached or not.  ``--die-with-parent`` ties it all to the grader.

User: a grader running as root runs the server as a user id of its own
(:func:`grader.run.limits.sandbox_uid`): bwrap keeps ``CAP_SETUID``/``CAP_SETGID``
for the launcher, which drops to that id before any student code runs (and
with it every capability), so ``RLIMIT_NPROC`` holds and root-only files stay
closed.  Otherwise bwrap makes a user namespace and the server keeps the
grader's user id.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from grader.run import diagnose
from grader.run.backend import Backend

BWRAP = "bwrap"
#: Size of the sandbox's private /tmp, which is also its HOME.
TMP_BYTES = 64 * 1024 * 1024

#: Why bubblewrap could not be used in this process, once known: said once, not retried.
_unusable: str | None = None


class Mode(StrEnum):
    """``--sandbox``: what is asked for, and (``BWRAP`` or ``NONE``) what a server ran in.

    A ``str``: reports and JSON show its value (``"bwrap"``), as they always have.
    """

    AUTO = "auto"  # bubblewrap where it works, else none (and the report says why)
    BWRAP = "bwrap"  # bubblewrap or no grading
    NONE = "none"


class Choice(NamedTuple):  # not a dataclass: making one costs ~0.7 ms at import, before the server is spawned
    """Where the server runs: ``mode`` (``BWRAP`` or ``NONE``), why not in the sandbox (``note``), or why not at all."""

    mode: Mode
    note: str = ""
    #: Set when ``--sandbox bwrap`` cannot be had: the server is not started.
    problem: diagnose.StartProblem | None = None


def choose(requested: Mode, backend: Backend = Backend.LINUX, why: str = "") -> Choice:
    """Before the start: the sandbox if it may work here, else what ``requested`` says to do without it.

    Only Linux's process backend (``grader.run.backend``) can use bubblewrap;
    ``why`` says why another one runs (``WEBGRADE_PROCESS=portable``, ``macOS
    has no /proc or prctl``).
    """
    if requested is Mode.NONE:
        return Choice(Mode.NONE, "--sandbox none")
    if backend is not Backend.LINUX:
        return _not_linux(requested, backend, why)
    reason = unusable_reason()
    if reason is None:
        return Choice(Mode.BWRAP)
    if requested is Mode.BWRAP:
        return Choice(Mode.NONE, reason, diagnose.no_sandbox(reason))
    return Choice(Mode.NONE, reason)


def _not_linux(requested: Mode, backend: Backend, why: str) -> Choice:
    """Another process backend than Linux's: no bubblewrap; ``auto`` goes without, ``bwrap`` does not start."""
    reason = f"bubblewrap needs Linux's process backend, and this run uses the {backend} one ({why or backend})"
    if requested is Mode.AUTO:
        return Choice(Mode.NONE, reason)
    if backend is Backend.PORTABLE and why.startswith("WEBGRADE_PROCESS"):
        hint = "unset WEBGRADE_PROCESS to grade in the sandbox, or grade without it: --sandbox auto (or none)"
    else:
        hint = "bubblewrap runs on Linux only: grade with --sandbox auto (or none) here"
    problem = diagnose.StartProblem(
        "sandbox", f"expected to run the server in the bubblewrap sandbox (--sandbox bwrap), saw: {reason}", hint
    )
    return Choice(Mode.NONE, reason, problem)


def after_failure(requested: Mode, complaint: str) -> Choice:
    """bwrap is installed but failed to start a sandbox (``complaint``: its own words).

    ``auto`` runs the server without it, and no later run in this process
    tries it again; ``bwrap`` gives up.
    """
    if requested is Mode.AUTO:
        mark_unusable(f"bubblewrap is installed but cannot start a sandbox here ({complaint})")
        return Choice(Mode.NONE, unusable_reason() or "")
    note = f"bubblewrap could not start a sandbox here ({complaint})"
    return Choice(Mode.NONE, note, diagnose.no_sandbox(note))


def unusable_reason() -> str | None:
    """Why ``auto`` falls back to no sandbox here, or None if bubblewrap may be tried."""
    if _unusable is not None:
        return _unusable
    if shutil.which(BWRAP) is None:
        return "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
    return None


def mark_unusable(reason: str) -> None:
    """bwrap is installed but failed to start a sandbox here: do not try again in this process."""
    global _unusable
    _unusable = reason


def as_root() -> bool:
    return os.geteuid() == 0


@lru_cache(maxsize=8)
def python_paths(python: str) -> tuple[str, ...]:
    """The folders a Python needs to run: its prefixes and where its executable really is."""
    exe = shutil.which(python) or python
    if os.path.realpath(exe) == os.path.realpath(sys.executable):
        found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    else:  # another Python (--python): ask it, once
        code = (
            "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]))"
        )
        try:
            out = subprocess.run(
                [exe, "-c", code], capture_output=True, text=True, timeout=30, env={"PATH": os.defpath}
            )
            found = json.loads(out.stdout)
        except (OSError, ValueError, subprocess.SubprocessError):
            found = []
    found += [os.path.dirname(os.path.abspath(exe)), os.path.dirname(os.path.realpath(exe))]
    paths: list[str] = []
    for path in sorted({os.path.realpath(p) for p in found} | {os.path.abspath(p) for p in found}, key=len):
        if path in ("/", "/usr", "/etc") or path.startswith(("/usr/", "/etc/")):
            continue  # bound anyway
        if not any(path == kept or path.startswith(kept + "/") for kept in paths):
            paths.append(path)
    return tuple(paths)


def _system() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


def _inside(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def bwrap_command(
    command: list[str],
    *,
    python: str,
    read_only: list[Path],
    writable: list[Path],
    cwd: Path,
    hide: list[Path],
) -> list[str]:
    """``command`` wrapped in bwrap, with the view of the file system described above."""
    bound = [*python_paths(python), *(str(p) for p in read_only), *(str(p) for p in writable)]
    args = [
        BWRAP,
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--as-pid-1",
        *_system(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(TMP_BYTES),
        "--tmpfs",
        "/tmp",
    ]
    # bwrap would create the folders above each mount point as root-only: the run's own user could not pass.
    made: set[str] = set()
    for path in bound:
        for parent in reversed(Path(path).parents[:-1]):
            name = str(parent)
            if name not in made and name != "/tmp" and not _inside(name, ["/usr", "/etc"]):
                made.add(name)
                args += ["--perms", "0755", "--dir", name]
    for prefix in python_paths(python):
        args += ["--ro-bind", prefix, prefix]
    for file in read_only:
        args += ["--ro-bind", str(file), str(file)]
    for folder in writable:
        args += ["--bind", str(folder), str(folder)]
    for hidden in hide:
        resolved = str(Path(hidden).resolve())
        if not _inside(resolved, ["/usr", "/etc", *bound]) or not os.path.exists(resolved):
            continue  # not in the sandbox's root at all
        if os.path.isdir(resolved):
            args += ["--tmpfs", resolved]
        else:
            args += ["--ro-bind", "/dev/null", resolved]
    if as_root():
        # Kept for the launcher only: it switches to the run's own user id, which drops them.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user"]
    args += ["--chdir", str(cwd), "--", *command]
    return args
