"""Find what to grade: the file that defines the student's Flask app.

Files are only read, parsed with :mod:`ast` and never imported or run here:
the student's code runs later, in its own process (see :mod:`grader.run.server`).
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.errors import SubmissionError
from grader.find.flask_source import STRONG, WEAK, flask_strength
from grader.find.notebook import has_server_cell, server_cell

# The find stage's API; SubmissionError and flask_strength are defined elsewhere, and re-exported here.
__all__ = ["SKIP_DIRS", "STRONG", "WEAK", "Submission", "SubmissionError", "find_submission", "flask_strength"]

#: Folders that hold someone else's code, never the student's server.
SKIP_DIRS = frozenset({"venv", ".venv", "env", "site-packages", "node_modules", "__pycache__", "tests"})

_TEST_FILE = re.compile(r"test_.*\.py|.*_test\.py|conftest\.py")

_CHOOSE = "run `webgrade check --entry FILE`"

#: A student's server is a few kilobytes: a larger .py is not one, and is never read whole.
MAX_SOURCE_BYTES = 1024 * 1024
#: A notebook carries its outputs (pictures, tables), so it may be larger; still bounded.
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
#: Files and folders looked at while searching a folder, as many as a zip may hold (grader.find.archive).
MAX_ENTRIES = 20_000


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def read_source(file: Path, limit: int = MAX_SOURCE_BYTES) -> str:
    """The text of ``file``, read only if it is a regular file of at most ``limit`` bytes.

    Raises :class:`SubmissionError` saying why not, before reading anything
    (so a 3 GB file costs a ``stat``, not its size in memory and time).
    """
    name = file.name
    try:
        # Looked at before it is opened: opening a named pipe would wait for a writer.
        status = os.stat(file)
        if not stat.S_ISREG(status.st_mode):
            raise SubmissionError(
                f"cannot grade {name}: it is not a regular file", "name the server's .py file or notebook"
            )
        if status.st_size > limit:
            raise _too_big(name, status.st_size, limit)
        with open(file, "rb") as f:
            data = f.read(limit + 1)  # a file that grows while we read is still cut at the limit
    except OSError as e:
        raise SubmissionError(f"could not read {name}: {e.strerror}", "check the file's permissions") from None
    if len(data) > limit:
        raise _too_big(name, len(data), limit)
    # utf-8-sig: Windows editors may start the file with a byte order mark,
    # which compile() would reject as an invalid character.
    text = data.decode("utf-8-sig", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as Python reads source: any line ending


def _too_big(name: str, size: int, limit: int) -> SubmissionError:
    return SubmissionError(
        f"{name} is {_size(size)}; expected a server's source of at most {_size(limit)}, so it was not read",
        "check that it is the server's file (a lesson's server is a few kilobytes of code), "
        "or name the right one: `webgrade check FILE`",
    )


class _Search:
    """One search of a folder: what it looked at (bounded), and what it passed over and why."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries = 0
        #: Files passed over, with why: said when no server is found.
        self.skipped: dict[Path, str] = {}

    def count(self, n: int = 1) -> None:
        self.entries += n
        if self.entries > MAX_ENTRIES:
            raise SubmissionError(
                f"{self.folder} holds more than {MAX_ENTRIES} files and folders; "
                "expected a project folder, so the search stopped there",
                "grade the project's own folder, or name the file: `webgrade check main.py` "
                "(virtual environments and node_modules are best kept out of it)",
            )

    def leaves(self, file: Path) -> bool:
        """A symbolic link that points outside the folder: never followed."""
        if not file.is_symlink():
            return False
        try:
            target = file.resolve()
        except (OSError, RuntimeError):
            self.skipped[file] = "a symbolic link that cannot be followed"
            return True
        if target.is_relative_to(self.folder):
            return False
        self.skipped[file] = f"a symbolic link to {target}, outside the folder"
        return True

    def skip(self, file: Path, error: SubmissionError) -> None:
        self.skipped[file] = error.message.removeprefix(f"{file.name} is ").split(";")[0]

    def note(self) -> str:
        if not self.skipped:
            return ""
        shown = list(self.skipped.items())[:3]
        names = "; ".join(f"{f.relative_to(self.folder).as_posix()}: {why}" for f, why in shown)
        more = f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
        return f" (not read: {names}{more})"


@dataclass(frozen=True)
class Submission:
    """The one file graded, and the folder its server runs in."""

    path: Path  #: what the user named, resolved (file or folder)
    folder: Path  #: the submission's folder: the server's working directory
    entry: Path  #: the .py or .ipynb file graded (absolute)
    cell: int | None  #: notebooks: 1-based number of the graded cell, counting all cells
    #: The Python source to run.  Its line numbers are the file's (for a
    #: notebook, the cell's): cleaning a cell blanks or replaces lines, it never
    #: removes them, so a traceback's line needs no mapping.
    source: str
    #: Seconds the search for it took: part of the time a grading reports.
    found_in_s: float = field(default=0.0, compare=False)

    @property
    def display_name(self) -> str:
        """How the student knows the file: "main.py", "api/main.py", "lesson.ipynb, cell 7"."""
        name = self.entry.name
        if self.path.is_dir() and self.entry.is_relative_to(self.path):
            name = self.entry.relative_to(self.path).as_posix()
        return name if self.cell is None else f"{name}, cell {self.cell}"

    def where(self, line: int) -> str:
        """Point at a line of :attr:`source` as the student sees it in their editor."""
        return f"{self.display_name}, line {line}"


def find_submission(path: Path, entry: str | None = None) -> Submission:
    """What `webgrade check PATH [--entry FILE]` grades.

    Bounded: at most :data:`MAX_ENTRIES` files and folders are looked at, no
    source larger than :data:`MAX_SOURCE_BYTES` is read, and symbolic links
    that leave the folder are not followed; past a bound, a
    :class:`SubmissionError` says which.
    """
    started = time.monotonic()
    path = Path(path).expanduser()
    if not path.exists():
        raise SubmissionError(
            f"no such file or folder: {path}", "check the path; run webgrade from your project folder"
        )
    path = path.resolve()
    if path.is_dir():
        file = _entry_in(path, entry) if entry else _search(path)
    elif entry:
        raise SubmissionError(
            f"--entry {entry} needs a folder, but {path.name} is a file", f"run `webgrade check {path.name}` alone"
        )
    else:
        file = path
    return replace(_load(path, file), found_in_s=time.monotonic() - started)


def _entry_in(folder: Path, entry: str) -> Path:
    file = (folder / entry).resolve()  # an absolute entry replaces the folder
    if not file.is_file():
        raise SubmissionError(
            f"--entry {entry}: no such file in {folder}",
            "name the server's .py file or notebook, relative to the folder (for example `--entry main.py`)",
        )
    return file


def _load(path: Path, file: Path) -> Submission:
    suffix = file.suffix.lower()
    if suffix == ".py":
        return Submission(path, file.parent, file, None, read_source(file))
    if suffix == ".ipynb":
        read_source(file, MAX_NOTEBOOK_BYTES)  # its size only: the notebook reader reads it
        cell, source = server_cell(file)
        return Submission(path, file.parent, file, cell, source)
    raise SubmissionError(
        f"cannot grade {file.name}: expected a .py file, a .ipynb notebook or a folder",
        "name your server's file (for example `webgrade check main.py`) or its folder",
    )


def _search(folder: Path) -> Path:
    """The file in `folder` that most likely starts the server."""
    search = _Search(folder)
    found = _candidates(search, ".py", lambda file: _strength(search, file))
    if found:
        return _prefer(found, folder)
    notebooks = _candidates(search, ".ipynb", lambda file: _notebook_strength(search, file))
    if len(notebooks) == 1:
        return next(iter(notebooks))
    if notebooks:
        raise _ambiguous(notebooks, folder)
    named = next((f for f in search.skipped if f.name in ("main.py", "app.py") and f.parent == folder), None)
    if named is not None:
        why = search.skipped[named]
        raise SubmissionError(
            f"cannot grade {named.name}: it is {why}",
            "copy the server's file into the folder instead of linking to it: webgrade reads the folder's own files"
            if "symbolic link" in why
            else "check that it is the server's file: a lesson's server is a few kilobytes of code",
        )
    raise SubmissionError(
        f"no Flask app found in {folder}: looked for a .py file that creates `app = Flask(__name__)`"
        " (or imports flask), then for a notebook with the server cell" + search.note(),
        "create main.py with the lesson's server code, or " + _CHOOSE + " to name the file",
    )


def _candidates(search: _Search, suffix: str, strength: Callable[[Path], int]) -> dict[Path, int]:
    """Files that could be the server, by strength: sub-folders are only searched when the top level has none."""
    for top in (True, False):
        found = {file: score for file in _files(search, suffix, top) if (score := strength(file))}
        if found:
            return found
    return {}


def _strength(search: _Search, file: Path) -> int:
    if _TEST_FILE.fullmatch(file.name):
        return 0
    try:
        return flask_strength(read_source(file))
    except SubmissionError as error:  # too large, unreadable or not a file: not the server
        search.skip(file, error)
        return 0


def _notebook_strength(search: _Search, file: Path) -> int:
    try:
        read_source(file, MAX_NOTEBOOK_BYTES)  # its size only
    except SubmissionError as error:
        search.skip(file, error)
        return 0
    return STRONG if has_server_cell(file) else 0


def _files(search: _Search, suffix: str, top: bool) -> list[Path]:
    """Files ending in `suffix` at the top of the folder, or in its sub-folders, skipping virtualenvs and hidden ones.

    Counted against :data:`MAX_ENTRIES`; links that leave the folder are passed over.
    """
    folder = search.folder
    found: list[Path] = []
    if top:
        for file in folder.iterdir():
            search.count()
            if file.name.lower().endswith(suffix) and not search.leaves(file) and file.is_file():
                found.append(file)
        return sorted(found)
    for root, dirs, files in os.walk(folder):
        search.count(len(dirs) + (len(files) if root != str(folder) else 0))  # the top's files are counted
        dirs[:] = sorted(d for d in dirs if not _skipped(Path(root, d)))
        if root != str(folder):
            for name in sorted(files):
                file = Path(root, name)
                if name.lower().endswith(suffix) and not search.leaves(file):
                    found.append(file)
    return found


def _skipped(folder: Path) -> bool:
    name = folder.name
    return name.startswith(".") or name in SKIP_DIRS or (folder / "pyvenv.cfg").exists()


def _prefer(found: dict[Path, int], folder: Path) -> Path:
    """main.py, then app.py, then the one file that creates an app, then the one that imports flask."""
    groups = (
        [file for file in found if file.name == "main.py"],
        [file for file in found if file.name == "app.py"],
        [file for file, score in found.items() if score == STRONG],
        [file for file, score in found.items() if score == WEAK],
    )
    group = next(group for group in groups if group)  # every candidate is STRONG or WEAK
    if len(group) > 1:
        raise _ambiguous(group, folder)
    return group[0]


def _ambiguous(files: Collection[Path], folder: Path) -> SubmissionError:
    names = ", ".join(file.relative_to(folder).as_posix() for file in files)
    return SubmissionError(
        f"found several files that could be your Flask server: {names}",
        f"choose one: {_CHOOSE} (for example `--entry {next(iter(files)).relative_to(folder).as_posix()}`)",
    )
