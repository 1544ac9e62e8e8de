"""``webgrade watch``: grade, then grade again each time a file of the submission is saved.

One process for the whole session, so a regrade costs about the server's own
start: the grader, pytest and the checks are imported once, and one browser
(``grader.check.browser.Browser``) serves every run when the browser check is
on.  Each run is ``webgrade check``'s grading (``grader.grade.grade``): its own
server on its own port, stopped before the scorecard is shown.

Saves are seen by polling the files' (mtime, size, inode) every
:data:`POLL_S`: the standard library only, the same on Linux, macOS and
Windows, and right on network and container-mounted folders, where inotify's
events never arrive.  A student's folder holds tens of files, so one look at
all of them costs well under a millisecond.  A new inode counts, so editors
that save by writing a temporary file and renaming it over the old one are
seen; a burst of writes is waited out (:data:`SETTLE_S`) before grading.

What the first run leaves in memory (the grader's, pytest's and the
browser's modules and objects) lives as long as the watch: it is moved out
of the garbage collector's way once (:func:`gc.freeze`), so that each
regrade's collections look only at what that regrade made.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

if TYPE_CHECKING:
    from grader.check.browser import Browser
    from grader.results import Report

#: How often the files are looked at.
POLL_S = 0.1
#: A change is graded once the files have stayed the same for this long (an editor's save is a burst of writes).
SETTLE_S = 0.05
#: ... but a file that never stops changing is graded after this long anyway.
SETTLE_MAX_S = 2.0
#: At most this many files are watched (a folder with more is not a student's server).
MAX_FILES = 5000
#: Clear the screen and its scrollback, cursor home.
CLEAR = "\x1b[H\x1b[2J\x1b[3J"

#: File names that are never the student's work: editors' swap, lock and backup files, and the grader's own
#: temporary files (``webgrade-*``, should the temporary directory be inside the folder).
_IGNORED_SUFFIXES = (".swp", ".swx", ".swo", ".tmp", ".pyc", "~")
_IGNORED_NAMES = frozenset({"4913"})  # vim's test file, written to check that a folder is writable

#: (mtime in ns, size, inode) of each watched file.
Snapshot = dict[str, tuple[int, int, int]]

_frozen = False


def freeze_survivors() -> None:
    """Once per process: collect what is garbage now, and let the collector skip everything still alive.

    Called while waiting for a save, after a grading: what is alive then
    (modules, pytest's plugins, the shared browser) stays alive for the whole
    watch.  A regrade's own objects are collected as before; only the full
    collections that traversed every object of the process, some tens of
    milliseconds each, no longer fall inside a regrade.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def ignored(name: str) -> bool:
    """Whether a file or folder name is never a file of the submission (hidden, an editor's, the grader's)."""
    return (
        name.startswith(".")
        or name.startswith("webgrade-")
        or name.endswith(_IGNORED_SUFFIXES)
        or name in _IGNORED_NAMES
    )


def snapshot(roots: Iterable[Path]) -> Snapshot:
    """Every watched file under ``roots`` (a folder or a file each) with its (mtime, size, inode).

    Skips what the server's copy of the folder skips (virtualenvs, node_modules,
    ``__pycache__``, hidden folders), the ignored names, and the temporary directory.
    """
    from grader.find.submission import SKIP_DIRS

    found: Snapshot = {}
    temporary = os.path.realpath(tempfile.gettempdir())
    todo = [str(root) for root in roots]
    while todo and len(found) < MAX_FILES:
        path = todo.pop()
        try:
            if not os.path.isdir(path):
                info = os.stat(path)
                found[path] = (info.st_mtime_ns, info.st_size, info.st_ino)
                continue
            entries = list(os.scandir(path))
        except OSError:  # removed meanwhile, or unreadable: not there
            continue
        for entry in entries:
            if ignored(entry.name):
                continue
            try:
                if entry.is_dir():
                    if (
                        entry.name in SKIP_DIRS
                        or os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))
                        or os.path.realpath(entry.path) == temporary
                    ):
                        continue
                    todo.append(entry.path)
                else:
                    info = entry.stat()
                    found[entry.path] = (info.st_mtime_ns, info.st_size, info.st_ino)
            except OSError:
                continue
    return found


def changes(before: Report | None, after: Report) -> str:
    """What changed since the last run, by check id: "fixed: api.schema; now failing: cors.preflight".

    Read from the student's view of both reports, so a hidden check is never named.
    """
    if before is None:
        return ""
    was = {check.id: check.status for check in before.for_student().checks}
    now = {check.id: check.status for check in after.for_student().checks}
    # A check that is not graded only waits on another (api.schema on api.json): it is not named, but counted.
    fixed = [id for id, status in now.items() if status == "passed" and was.get(id) == "failed"]
    broken = [id for id, status in now.items() if status == "failed" and was.get(id) == "passed"]
    waiting = sum(1 for id, status in now.items() if status == "not_graded" and was.get(id) == "passed")
    parts = []
    if fixed:
        parts.append(f"fixed: {', '.join(fixed)}")
    if broken:
        parts.append(f"now failing: {', '.join(broken)}")
    if waiting:
        plural = "s" if waiting != 1 else ""
        parts.append(f"{waiting} check{plural} that passed not graded now (waiting on a failed one)")
    return "; ".join(parts) if parts else "no check changed"


@dataclass
class Run:
    """One grading of the watch: its report (None when it could not grade) and what was shown."""

    report: Report | None
    screen: str
    #: Seconds from the change being noticed (or the start) to the scorecard being written.
    latency: float


class Watcher:
    """Grades ``path`` with ``webgrade check``'s parsed options, again after each save."""

    def __init__(
        self,
        path: Path,
        params: Mapping[str, Any],
        out: TextIO | None = None,
        *,
        poll: float = POLL_S,
        settle: float = SETTLE_S,
    ) -> None:
        self.path = Path(path)
        self.params = dict(params)
        self.out = out or sys.stdout
        self.poll = poll
        self.settle = settle
        self.browser: Browser | None = None
        self.last: Report | None = None
        self.roots: list[Path] = [self.path]
        self._baseline: Snapshot = {}
        #: When the last change was first seen (``time.monotonic()``), before it settled.
        self.seen_at = 0.0

    # --- lifetime ---

    def __enter__(self) -> Watcher:
        if self.params.get("browser_check") is not False:
            from grader.check.browser import Browser

            self.browser = Browser()  # launched at its first page, then kept for every run
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None

    def run(self) -> None:
        """Grade, then grade again after each save, until interrupted (KeyboardInterrupt)."""
        noticed = time.monotonic()
        while True:
            self.regrade(noticed)
            noticed = self.wait_for_change()

    # --- one run ---

    def regrade(self, noticed: float | None = None) -> Run:
        """Grade the submission as it is now and show the scorecard; the files are looked at just before."""
        noticed = time.monotonic() if noticed is None else noticed
        report, lines = self._grade()
        if report is not None:
            from grader import scorecard

            lines.insert(0, scorecard.text(report, bool(self.params.get("verbose"))))
            since = changes(self.last, report)
            if since:
                lines.append(click.style(f"since the last run: {since}", bold=True))
            self.last = report
        count = len(self._baseline)
        where = ", ".join(str(root) for root in self.roots)
        lines.append(
            click.style(
                f"watching {count} file{'s' if count != 1 else ''} in {where}: save one to grade again; Ctrl+C to stop",
                dim=True,
            )
        )
        screen = "\n".join(lines)
        tty = self.out.isatty()
        click.echo((CLEAR if tty else "\n") + screen, file=self.out, color=None if tty else False)
        self.out.flush()
        return Run(report, screen, time.monotonic() - noticed)

    def _grade(self) -> tuple[Report | None, list[str]]:
        """The report, or None and what to say instead (a usage error, an internal error)."""
        from grader.errors import Explained
        from grader.find.submission import find_submission
        from grader.grade import grade
        from grader.settings import rubric_and_options, unknown_checks

        try:
            submission = find_submission(self.path, self.params.get("entry"))
            self.roots = self._roots(submission.folder)
            self._baseline = snapshot(self.roots)  # before grading: a save during it is graded next
            rubric, options = rubric_and_options(self.path, self.params)
            options.browser = self.browser
            report = grade(submission, rubric, options)
            errors = unknown_checks(rubric, report)
            if errors:
                raise errors[0]
        except (Explained, click.ClickException) as error:
            if isinstance(error, click.ClickException):
                message, hint = error.format_message(), ""
            else:
                message, hint = error.message, error.hint
            if not self._baseline:
                self.roots = self._roots(self.path if self.path.is_dir() else self.path.parent)
                self._baseline = snapshot(self.roots)
            lines = [click.style(f"webgrade: {message}", fg="red", bold=True)]
            return None, lines + ([f"  try: {hint}"] if hint else [])
        except Exception as error:  # keep watching: the next save may well grade
            if os.environ.get("WEBGRADE_DEBUG"):
                raise
            return None, [
                click.style(f"webgrade: internal error: {type(error).__name__}: {error}", fg="red", bold=True),
                "  try: run again with WEBGRADE_DEBUG=1 and show the output to your instructor",
            ]
        return report, []

    def _roots(self, folder: Path) -> list[Path]:
        """The submission's folder, and the rubric, schema and checks given on the command line."""
        extra = [self.params.get("rubric_file"), self.params.get("schema"), *(self.params.get("checks_dirs") or ())]
        roots = [folder.resolve()]
        for path in extra:
            if path is not None and not Path(path).resolve().is_relative_to(roots[0]):
                roots.append(Path(path).resolve())
        return roots

    # --- waiting ---

    def wait_for_change(self) -> float:
        """Block until a watched file changes and the change settles; when it settled (``time.monotonic()``).

        :attr:`seen_at` is when the change was first seen: the settling costs
        at most :attr:`settle` more after a save's last write.
        """
        if self.last is not None:  # a grading ran: it loaded all a grading loads
            freeze_survivors()
        while True:
            time.sleep(self.poll)
            current = snapshot(self.roots)
            if current == self._baseline:
                continue
            self.seen_at = time.monotonic()
            deadline = self.seen_at + SETTLE_MAX_S
            while time.monotonic() < deadline:
                time.sleep(self.settle)
                later = snapshot(self.roots)
                if later == current:
                    break
                current = later
            return time.monotonic()
