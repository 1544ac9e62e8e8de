"""Find what to grade: the file that defines the student's Flask app.

Files are only read, parsed with :mod:`ast` and never imported or run here:
the student's code runs later, in its own process (see :mod:`grader.run.server`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
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
    """What `webgrade check PATH [--entry FILE]` grades."""
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
    return _load(path, file)


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
        try:
            source = _read(file)
        except OSError as e:
            raise SubmissionError(f"could not read {file.name}: {e.strerror}", "check the file's permissions") from None
        return Submission(path, file.parent, file, None, source)
    if suffix == ".ipynb":
        cell, source = server_cell(file)
        return Submission(path, file.parent, file, cell, source)
    raise SubmissionError(
        f"cannot grade {file.name}: expected a .py file, a .ipynb notebook or a folder",
        "name your server's file (for example `webgrade check main.py`) or its folder",
    )


def _read(file: Path) -> str:
    # utf-8-sig: Windows editors may start the file with a byte order mark,
    # which compile() would reject as an invalid character.
    return file.read_text(encoding="utf-8-sig", errors="replace")


def _search(folder: Path) -> Path:
    """The file in `folder` that most likely starts the server."""
    found = _candidates(folder, ".py", _strength)
    if found:
        return _prefer(found, folder)
    notebooks = _candidates(folder, ".ipynb", lambda file: STRONG if has_server_cell(file) else 0)
    if len(notebooks) == 1:
        return next(iter(notebooks))
    if notebooks:
        raise _ambiguous(notebooks, folder)
    raise SubmissionError(
        f"no Flask app found in {folder}: looked for a .py file that creates `app = Flask(__name__)`"
        " (or imports flask), then for a notebook with the server cell",
        "create main.py with the lesson's server code, or " + _CHOOSE + " to name the file",
    )


def _candidates(folder: Path, suffix: str, strength: Callable[[Path], int]) -> dict[Path, int]:
    """Files that could be the server, by strength: sub-folders are only searched when the top level has none."""
    for top in (True, False):
        found = {file: score for file in _files(folder, suffix, top) if (score := strength(file))}
        if found:
            return found
    return {}


def _strength(file: Path) -> int:
    if _TEST_FILE.fullmatch(file.name):
        return 0
    try:
        return flask_strength(_read(file))
    except OSError:  # a broken link or an unreadable file is not the server
        return 0


def _files(folder: Path, suffix: str, top: bool) -> list[Path]:
    """Files ending in `suffix` at the top of `folder`, or in its sub-folders, skipping virtualenvs and hidden ones."""
    if top:
        return sorted(file for file in folder.iterdir() if file.name.lower().endswith(suffix) and file.is_file())
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _skipped(Path(root, d)))
        if root != str(folder):
            found.extend(Path(root, name) for name in sorted(files) if name.lower().endswith(suffix))
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
