"""What the student's server printed: read from the log file while it runs, kept as text once it is stopped.

The launcher's supervisor already caps what it keeps (its first and last
bytes); this side reads only the end of it, and names the files of the
temporary copy as the student knows them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

#: How much of the log a report shows by default: its last 64 KB.
TAIL_BYTES = 64 * 1024


class ServerLog:
    """One run's log file (``xprocess.log``, the supervisor's standard output)."""

    def __init__(self, path: Path, as_student_path: Callable[[str], str]) -> None:
        self.path = path
        self._as_student_path = as_student_path
        #: The tail, kept by :meth:`freeze` before the run's folder (and this file) is removed.
        self._frozen: str | None = None

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self) -> None:
        """Keep the tail as text: the server is stopped and its files are about to go."""
        self._frozen = self.tail()

    def tail(self, limit: int = TAIL_BYTES) -> str:
        """The last ``limit`` bytes of everything the server printed, said first when there was more."""
        if self._frozen is not None:
            return self._frozen if limit >= TAIL_BYTES else self._frozen[-limit:]
        text, end = self._read(0, limit)
        if end > limit:
            text = f"[webgrade: the server printed more: only its last {limit // 1024} KB are shown]\n" + text
        return text

    def since(self, offset: int, limit: int = TAIL_BYTES) -> str:
        """What the server printed after ``offset`` (a :meth:`size` taken before), at most its last ``limit`` bytes."""
        return self._read(offset, limit)[0]

    def size(self) -> int:
        """Where the log ends now: :meth:`since` reads what comes after."""
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def _read(self, offset: int, limit: int) -> tuple[str, int]:
        """The text after ``offset`` (at most the last ``limit`` bytes) and the file's size; ("", 0) if unreadable.

        An ``offset`` past the end (the file was rewritten: the launcher
        rewrites the kept tail in place) reads the last ``limit`` bytes.
        """
        try:
            with open(self.path, "rb") as f:
                end = f.seek(0, os.SEEK_END)
                f.seek(max(0, offset if offset <= end else end - limit, end - limit))
                return self._as_student_path(f.read().decode("utf-8", errors="replace")), end
        except OSError:
            return "", 0
