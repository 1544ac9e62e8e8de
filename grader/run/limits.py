"""Resource limits for the student's server, and how they travel to the launcher.

The grader only chooses the numbers; ``launcher.py`` (standalone, in the
student's Python) applies them with ``setrlimit`` in the child, just before
the student's code runs, so a memory hog, a CPU spinner, a file filler or a
fork bomb fails that one submission and nothing else.

What each limit really does on Linux:

* ``memory_mb`` -> ``RLIMIT_AS``: an allocation past it raises ``MemoryError``.
* ``cpu_s`` -> ``RLIMIT_CPU``: past it the kernel sends ``SIGXCPU`` (the
  process dies; the report says why).
* ``file_mb`` -> ``RLIMIT_FSIZE``: the launcher ignores ``SIGXFSZ``, so a write
  past it fails with ``OSError: File too large`` instead of killing the server.
* ``processes`` -> ``RLIMIT_NPROC``: counted per *real user id* over the whole
  machine, threads included, and not enforced at all for root.  So with the
  bubblewrap sandbox, a grader running as root gives each run its own unused
  user id (:func:`sandbox_uid`) and the limit counts that run's tasks alone.
  Without the sandbox a root grader cannot drop its rights (its Python may
  live under /root), and the limit is then not enforced: the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

#: First user id given to sandboxed runs of a root grader; far above real accounts.
UID_BASE = 1_073_741_824


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    cpu_s: int = 60
    file_mb: int = 64
    processes: int = 128
    #: Bytes of the server's output kept: the first ``output_kb`` and the last ``output_kb``.
    output_kb: int = 64

    def env(self) -> dict[str, str]:
        """The launcher reads its limits from these variables."""
        return {
            "WEBGRADE_LIMIT_AS": str(self.memory_mb * 1024 * 1024),
            "WEBGRADE_LIMIT_CPU": str(self.cpu_s),
            "WEBGRADE_LIMIT_FSIZE": str(self.file_mb * 1024 * 1024),
            "WEBGRADE_LIMIT_NPROC": str(self.processes),
            "WEBGRADE_OUTPUT_KEEP": str(self.output_kb * 1024),
        }


def sandbox_uid(port: int) -> int:
    """A user id of its own for one sandboxed run: unique while its port is in use."""
    return UID_BASE + port
