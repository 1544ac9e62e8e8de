"""The class roster: which student each submission belongs to.

A CSV file with a header row; column names are case-insensitive and extra
columns are ignored, so a roster exported from an LMS or from GitHub
Classroom (``identifier,github_username,github_id,name``) works as it is:

* ``entry`` or ``github_username`` (required): the submission's name in the
  SUBMISSIONS folder.  It matches an entry of the same name, the same name
  with ``.zip``, ``.py`` or ``.ipynb`` after it, or one ending in
  ``-NAME`` (``gh classroom clone`` names repositories ``ASSIGNMENT-USERNAME``);
* ``name``: the student's name;
* ``id``, ``student_id`` or ``identifier``: the student's id in the LMS.

Submissions the roster does not name are still graded, with a blank name.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError

KEY_COLUMNS = ("entry", "github_username")
NAME_COLUMNS = ("name",)
ID_COLUMNS = ("id", "student_id", "identifier")
SUFFIXES = (".zip", ".py", ".ipynb")


class RosterError(UsageError):
    """The roster cannot be read; the message names the file, line or column."""


@dataclass(frozen=True)
class Student:
    key: str  #: the value of the entry column
    name: str
    id: str


class Roster:
    def __init__(self, students: list[Student]) -> None:
        self.students = students
        self._by_key = {s.key.lower(): s for s in students}

    def find(self, entry: str) -> Student | None:
        """The student whose key is ``entry``, its stem, or its ``-KEY`` suffix (the longest such key)."""
        entry = entry.lower()
        for candidate in (entry, *(entry.removesuffix(s) for s in SUFFIXES if entry.endswith(s))):
            if candidate in self._by_key:
                return self._by_key[candidate]
        stem = next((entry.removesuffix(s) for s in SUFFIXES if entry.endswith(s)), entry)
        suffixed = [key for key in self._by_key if stem.endswith("-" + key)]
        return self._by_key[max(suffixed, key=len)] if suffixed else None


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    normalized = [h.strip().lower().replace(" ", "_") for h in header]
    return next((normalized.index(n) for n in names if n in normalized), None)


def load(path: Path) -> Roster:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often write a byte order mark
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RosterError(f"could not read the roster {path}: {error}") from None
    if not rows:
        raise RosterError(f"the roster {path} is empty; expected a header row such as `entry,name,id`")
    header = rows[0]
    key = _column(header, KEY_COLUMNS)
    if key is None:
        raise RosterError(
            f"the roster {path} has no `entry` (or `github_username`) column; its columns are: {', '.join(header)}"
        )
    name, ident = _column(header, NAME_COLUMNS), _column(header, ID_COLUMNS)
    students: list[Student] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):

        def cell(i: int | None, row: list[str] = row) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        if not cell(key):
            continue  # a blank line, or a student who has not linked an account yet
        if cell(key).lower() in seen:
            raise RosterError(
                f"the roster {path} names {cell(key)!r} twice, on lines {seen[cell(key).lower()]} and {line}"
            )
        seen[cell(key).lower()] = line
        students.append(Student(cell(key), cell(name), cell(ident)))
    return Roster(students)
