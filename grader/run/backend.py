"""Which process backend runs the student's server: Linux's facilities, a portable POSIX one, or Windows'.

The three keep the same promises where the system lets them (the server's
whole tree stopped at the end, nothing left when the grader dies, resource
limits), and say plainly where it does not (:func:`note`):

* ``linux`` (the default on Linux): the launcher's supervisor is a child
  subreaper with a parent-death signal, reads ``/proc`` to find and stop the
  tree, and the server may run in bubblewrap (``grader.run.sandbox``).
* ``portable`` (macOS, any POSIX without ``/proc`` and ``prctl``; forced on
  Linux with ``WEBGRADE_PROCESS=portable``, which is how CI tests the macOS
  path): the student's program runs in a process group of its own, which the
  supervisor stops with ``killpg``; the grader finds the rest of the tree
  with psutil (``grader.run.portable``); the grader's death is noticed
  through the lifeline pipe alone.  No sandbox: bubblewrap is Linux's.
* ``windows``: no fork.  The launcher starts the student's program as a child
  process in a Job Object that the grader holds and that ends the whole tree
  when the grader's handle closes (``grader.run.windows``).

``WEBGRADE_PROCESS`` (``linux``, ``portable`` or ``windows``) forces one; a
value this system cannot run is a usage error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from enum import StrEnum

from grader.errors import UsageError

#: The environment variable that forces a backend (and that the launcher reads to know which it is).
VARIABLE = "WEBGRADE_PROCESS"


class Backend(StrEnum):
    """How the server's processes are run, watched and stopped; reports show the value (``"portable"``)."""

    LINUX = "linux"
    PORTABLE = "portable"
    WINDOWS = "windows"


def linux_missing(platform: str = sys.platform, proc: str = "/proc/self/task") -> str | None:
    """What of Linux's facilities (``/proc``, ``prctl``) this system lacks, or None if it has them."""
    if platform == "win32":
        return "Windows has no fork, /proc or prctl"
    if not platform.startswith("linux"):
        name = "macOS" if platform == "darwin" else platform
        return f"{name} has no /proc or prctl"
    if not os.path.isdir(proc):
        return "/proc is not mounted"
    return None


def choose(environ: Mapping[str, str] | None = None, platform: str = sys.platform) -> Backend:
    """The backend for this system, or the one ``WEBGRADE_PROCESS`` forces (a :class:`UsageError` if it cannot run)."""
    environ = os.environ if environ is None else environ
    forced = environ.get(VARIABLE, "").strip().lower()
    if not forced:
        if platform == "win32":
            return Backend.WINDOWS
        return Backend.PORTABLE if linux_missing(platform) else Backend.LINUX
    try:
        backend = Backend(forced)
    except ValueError:
        raise UsageError(
            f"{VARIABLE}={environ[VARIABLE]!r} names no process backend",
            f"set {VARIABLE} to linux, portable or windows, or unset it to let webgrade choose",
        ) from None
    if backend is Backend.LINUX and (missing := linux_missing(platform)):
        why = f"{VARIABLE}=linux needs Linux's facilities, and {missing}"
    elif backend is Backend.PORTABLE and platform == "win32":
        why = f"{VARIABLE}=portable needs POSIX (fork and process groups), and Windows has neither"
    elif backend is Backend.WINDOWS and platform != "win32":
        why = f"{VARIABLE}=windows needs Windows"
    else:
        return backend
    raise UsageError(why, f"unset {VARIABLE} to let webgrade choose the backend for this system")


def why(backend: Backend, environ: Mapping[str, str] | None = None, platform: str = sys.platform) -> str:
    """Why ``backend`` runs here, in a few words: forced, or what the system lacks."""
    environ = os.environ if environ is None else environ
    if environ.get(VARIABLE, "").strip():
        return f"{VARIABLE}={backend}"
    return linux_missing(platform) or "Linux"


def note(backend: Backend, reason: str, platform: str = sys.platform) -> str:
    """What this backend cannot promise, for the report ("" for Linux's, which keeps every promise).

    ``reason``: :func:`why`.
    """
    if backend is Backend.LINUX:
        return ""
    if backend is Backend.WINDOWS:
        return (
            "processes: the Windows backend: the server ran in a Job Object that ends with the grader; "
            "limits on memory, CPU time and processes held, Windows has none on file size"
        )
    text = (
        f"processes: the portable backend ({reason}): the server's process group and the processes it started "
        "were stopped; a process that detaches itself into a new session is found only by its folder or "
        "environment"
    )
    if platform == "darwin":
        text += "; macOS does not enforce the memory limit"
    return text
