"""What is graded and for how many points: the built-in default is the lesson.

The lesson (``grader.lessons``) holds the points of its built-in checks and
the default of every setting.  An instructor picks the lesson and changes
them with a rubric file, ``webgrade.toml``::

    [assignment]
    lesson = "web_server"              # a folder of grader/lessons (the default)
    api_path = "/api/data"
    origins = ["http://127.0.0.1:4100", "https://me.github.io"]
    schema = "people.schema.json"      # relative to this file
    min_records = 3
    checks = "instructor_checks"       # a folder of instructor checks, relative to this file

    [checks."api.schema"]
    points = 4
    required = true                    # if it does not pass, the score is 0

    [checks."api.names"]               # an instructor check
    hidden = true                      # counts, but the student never sees it

    [checks."hacks.own_record"]        # optional checks are graded only when named
    points = 2

A mistake in the file (a typo'd key, a wrong type) is a :class:`RubricError`
that names the file, the line and the key: the CLI prints it and exits 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from grader import lessons
from grader.errors import UsageError
from grader.lessons import Lesson

if TYPE_CHECKING:
    from grader.results import CheckResult

#: The name of the rubric file found in an assignment's folder.
FILENAME = "webgrade.toml"
#: What Gradescope may do with a hidden check's result (its "visibility" values that hide it).
GRADESCOPE_HIDDEN = ("hidden", "after_due_date", "after_published")


def _default_lesson() -> Lesson:
    return lessons.load(lessons.DEFAULT)


@dataclass
class Rubric:
    """The assignment: its lesson, settings and points.

    ``Rubric()`` is the default lesson's own rubric; :meth:`of` is any lesson's.
    """

    #: The lesson graded: its built-in checks, and the defaults of the settings below.
    lesson: Lesson = field(default_factory=_default_lesson)
    api_path: str = field(default_factory=lambda: _default_lesson().api_path)
    #: The origins the lesson's page is served from (its fetch is cross-origin); CORS is checked for each.
    origins: list[str] = field(default_factory=lambda: [_default_lesson().origin])
    #: A JSON Schema file for the API's answer; None is the lesson's (see :attr:`schema_path`).
    schema: Path | None = None
    min_records: int = field(default_factory=lambda: _default_lesson().min_records)
    #: Points per check: the built-in ones, then any the rubric sets (an optional check named here is on).
    points: dict[str, float] = field(default_factory=lambda: dict(_default_lesson().points))
    #: Seconds one HTTP request may take before the check says the handler hangs.
    request_timeout: float = field(default_factory=lambda: _default_lesson().request_timeout)
    #: Folders of instructor checks, graded alongside the built-in ones.
    checks_dirs: list[Path] = field(default_factory=list)
    #: Checks whose failure makes the whole score 0.
    required: set[str] = field(default_factory=set)
    #: Checks the rubric shows (False) or hides (True), overriding the check's own marker.
    hidden: dict[str, bool] = field(default_factory=dict)
    #: Gradescope's visibility for hidden checks.
    gradescope_hidden: str = "hidden"
    #: The file this rubric was read from, and the line of each check it names.
    source: Path | None = None
    lines: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, lesson: Lesson) -> Rubric:
        """The lesson's own rubric: its points, and its defaults for every setting."""
        return cls(
            lesson=lesson,
            api_path=lesson.api_path,
            origins=[lesson.origin],
            min_records=lesson.min_records,
            points=dict(lesson.points),
            request_timeout=lesson.request_timeout,
        )

    @property
    def schema_path(self) -> Path:
        """The JSON Schema file the API's answer is checked against: the rubric's, else the lesson's."""
        return self.schema or self.lesson.schema

    @property
    def origin(self) -> str:
        """The first origin: the one a single-origin check (like the browser's page) uses."""
        return self.origins[0]

    @origin.setter
    def origin(self, value: str) -> None:
        self.origins = [value]

    def with_overrides(
        self, origin: str | None = None, api_path: str | None = None, schema: Path | None = None
    ) -> Rubric:
        """A copy with the command line's settings in place of the file's; None keeps the file's."""
        return replace(
            self,
            origins=[origin] if origin else self.origins,
            api_path=api_path or self.api_path,
            schema=schema or self.schema,
        )

    def points_for(self, check_id: str, declared: float | None = None) -> float:
        if check_id in self.points:
            return self.points[check_id]
        return 1 if declared is None else declared

    def hidden_for(self, check_id: str, declared: bool = False) -> bool:
        return self.hidden.get(check_id, declared)

    def enabled(self, check_id: str) -> bool:
        """Optional checks run only when the rubric names them; every other check runs."""
        return check_id not in self.lesson.optional or check_id in self.points

    def unknown_checks(self, known: set[str]) -> list[RubricError]:
        """The rubric's ``[checks."id"]`` tables that name no check in ``known`` (typos)."""
        import difflib

        errors = []
        for check_id, line in self.lines.items():
            if check_id not in known:
                near = difflib.get_close_matches(check_id, sorted(known), n=1)
                errors.append(
                    RubricError(
                        f'[checks."{check_id}"] names no check'
                        + (f'; did you mean "{near[0]}"?' if near else f"; the checks are: {', '.join(sorted(known))}"),
                        self.source,
                        line,
                    )
                )
        return errors

    def apply_required(self, checks: list[CheckResult]) -> list[str]:
        """A required check that does not pass makes every check's score 0; returns the note saying so.

        Each check keeps its status and message, so the student still sees
        what to fix; only the points go.  A hidden required check is not named.
        """
        missed = [c for c in checks if c.id in self.required and c.status != "passed"]
        if not missed:
            return []
        for check in checks:
            check.score = 0
        shown = [c.id for c in missed if not c.hidden]
        if shown:
            what = f"required check{'s' if len(shown) > 1 else ''} {', '.join(shown)} did not pass"
        else:
            what = "a required hidden check did not pass"
        return [f"{what}, so the score is 0 until {'they pass' if len(shown) > 1 else 'it passes'}"]


class RubricError(UsageError):
    """A mistake in a rubric file, worded for the instructor: file, line, key, what to write.

    ``message`` starts with where the mistake is ("webgrade.toml, line 3: ...").
    """

    def __init__(self, message: str, source: Path | None = None, line: int | None = None) -> None:
        where = source.name if source else FILENAME
        if line:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line


def find(folder: Path) -> Path | None:
    """The assignment's own rubric: ``webgrade.toml`` in the folder graded, if there is one."""
    candidate = (folder if folder.is_dir() else folder.parent) / FILENAME
    return candidate if candidate.is_file() else None


# --- reading a rubric file ---

_ASSIGNMENT_KEYS = ("lesson", "api_path", "origins", "schema", "min_records", "checks", "request_timeout")
_CHECK_KEYS = ("points", "required", "hidden")
_GRADESCOPE_KEYS = ("hidden_visibility",)
_TABLES = ("assignment", "checks", "gradescope")


def load(path: Path) -> Rubric:
    """Read a rubric file; the built-in default for anything it does not set."""
    import tomllib  # only when there is a rubric: a student's plain run never pays for it

    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+), column \d+\)", str(error))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise RubricError(f"not valid TOML: {message}", path, int(found[1]) if found else None) from None
    return _Reader(path, text).rubric(data)


class _Reader:
    """Turns the parsed TOML into a Rubric, checking every key against what is allowed."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def error(self, message: str, table: tuple[str, ...], key: str | None = None) -> RubricError:
        return RubricError(message, self.path, _line_of(self.lines, table, key))

    def unknown(self, table: tuple[str, ...], key: str, allowed: tuple[str, ...]) -> RubricError:
        import difflib

        where = f"in [{_table_name(table)}]" if table else "at the top level"
        near = difflib.get_close_matches(key, allowed, n=1)
        guess = f' (did you mean "{near[0]}"?)' if near else ""
        return self.error(f'unknown key "{key}" {where}{guess}; expected one of: {", ".join(allowed)}', table, key)

    def table(self, data: Any, table: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.error(f"[{_table_name(table)}] must be a table, saw {_kind(data)}", table[:-1], table[-1])
        return data

    def rubric(self, data: dict[str, Any]) -> Rubric:
        for key in data:
            if key not in _TABLES:
                raise self.unknown((), key, _TABLES)
        assignment = self.table(data.get("assignment", {}), ("assignment",))
        rubric = Rubric.of(self.lesson(assignment.get("lesson", lessons.DEFAULT)))
        rubric.source = self.path
        self.assignment(assignment, rubric)
        for check_id, rules in self.table(data.get("checks", {}), ("checks",)).items():
            self.check(check_id, self.table(rules, ("checks", check_id)), rubric)
        gradescope = self.table(data.get("gradescope", {}), ("gradescope",))
        for key, value in gradescope.items():
            if key not in _GRADESCOPE_KEYS:
                raise self.unknown(("gradescope",), key, _GRADESCOPE_KEYS)
            if value not in GRADESCOPE_HIDDEN:
                raise self.error(
                    f'"{key}" must be one of {", ".join(map(repr, GRADESCOPE_HIDDEN))}, saw {value!r}',
                    ("gradescope",),
                    key,
                )
            rubric.gradescope_hidden = value
        return rubric

    def lesson(self, name: Any) -> Lesson:
        """The lesson the rubric names; read first, because every other setting defaults from it."""
        known = lessons.names()
        if not isinstance(name, str) or name not in known:
            raise self.error(
                f'"lesson" must be one of the lessons {", ".join(map(repr, known))}, saw {_show(name)}',
                ("assignment",),
                "lesson",
            )
        return lessons.load(name)

    def assignment(self, table: dict[str, Any], rubric: Rubric) -> None:
        where = ("assignment",)
        for key, value in table.items():
            if key not in _ASSIGNMENT_KEYS:
                raise self.unknown(where, key, _ASSIGNMENT_KEYS)

            def wrong(expected: str, key: str = key, value: object = value) -> RubricError:
                return self.error(f'"{key}" must be {expected}, saw {_show(value)}', where, key)

            if key == "lesson":
                pass  # read first, by lesson()
            elif key == "api_path":
                if not isinstance(value, str) or not value.startswith("/"):
                    raise wrong('a path starting with /, like "/api/data"')
                rubric.api_path = value
            elif key == "origins":
                origins = [value] if isinstance(value, str) else value
                if not isinstance(origins, list) or not origins or not all(map(_is_origin_text, origins)):
                    raise wrong(
                        'a list of origins like ["http://127.0.0.1:4100"] '
                        "(scheme, host and port; no path or trailing slash)"
                    )
                rubric.origins = list(origins)
            elif key == "schema":
                rubric.schema = self.file(value, key, is_dir=False)
                self.check_schema(rubric.schema, key)
            elif key == "checks":
                folders = value if isinstance(value, list) and value else [value]
                rubric.checks_dirs = [self.file(folder, key, is_dir=True) for folder in folders]
            elif key == "min_records":
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise wrong("a whole number, 0 or more")
                rubric.min_records = value
            elif key == "request_timeout":
                if not _is_number(value) or value <= 0:
                    raise wrong("a number of seconds above 0")
                rubric.request_timeout = float(value)

    def file(self, value: Any, key: str, is_dir: bool) -> Path:
        what = "folder" if is_dir else "file"
        if not isinstance(value, str) or not value:
            raise self.error(
                f'"{key}" must be the path of a {what} (relative to {self.path.name}), saw {_show(value)}',
                ("assignment",),
                key,
            )
        path = (self.path.parent / value).resolve()
        if not (path.is_dir() if is_dir else path.is_file()):
            raise self.error(
                f'"{key}" names {value!r}, but there is no such {what} next to {self.path.name} (looked for {path})',
                ("assignment",),
                key,
            )
        return path

    def check_schema(self, path: Path, key: str) -> None:
        from grader.check.schema import load_schema  # jsonschema: only for a rubric that brings its own schema

        try:
            load_schema(path)
        except Exception as error:  # JSON syntax, or not a valid JSON Schema
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            message = f'"{key}": {path.name} is not a usable JSON Schema: {first}'
            raise self.error(message, ("assignment",), key) from None

    def check(self, check_id: str, rules: dict[str, Any], rubric: Rubric) -> None:
        where = ("checks", check_id)
        rubric.lines[check_id] = _line_of(self.lines, where) or 0
        optional = rubric.lesson.optional
        if check_id in optional and check_id not in rubric.points:
            rubric.points[check_id] = optional[check_id]
        for key, value in rules.items():
            if key not in _CHECK_KEYS:
                raise self.unknown(where, key, _CHECK_KEYS)
            if key == "points":
                if not _is_number(value) or value < 0:
                    raise self.error(f'"points" must be a number, 0 or more, saw {_show(value)}', where, key)
                rubric.points[check_id] = value
            elif not isinstance(value, bool):
                raise self.error(f'"{key}" must be true or false, saw {_show(value)}', where, key)
            elif key == "required":
                if value:
                    rubric.required.add(check_id)
            else:
                rubric.hidden[check_id] = value


def is_origin(value: str) -> bool:
    """An origin is scheme://host[:port] and nothing more, exactly as a browser serializes it."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path == "" and not parts.query


def _is_origin_text(value: Any) -> bool:
    return isinstance(value, str) and is_origin(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "a table"}
    return kinds.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    return f"{value!r} ({_kind(value)})" if isinstance(value, (str, bool)) else f"{value!r}"


def _table_name(table: tuple[str, ...]) -> str:
    return ".".join(part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"' for part in table)


_KEY_PART = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)')


def _header(line: str) -> tuple[str, ...] | None:
    """The table a ``[a."b.c"]`` header line opens, as ("a", "b.c"); None for other lines."""
    match = re.match(r"\s*\[\[?(.*?)\]\]?\s*(#.*)?$", line)
    if not match:
        return None
    return tuple(next(g for g in part.groups() if g is not None) for part in _KEY_PART.finditer(match[1]))


def _line_of(lines: list[str], table: tuple[str, ...], key: str | None = None) -> int | None:
    """The line (from 1) where ``key`` of ``table`` is set, or the table's header line.

    tomllib reports lines only for syntax errors; for a wrong key or value we
    find its line in the text.  Dotted keys (``checks."x".points = 1``) are
    found by their last part.
    """
    key_line = re.compile(rf"""\s*(?:["']?[^=]*["']?\.)?["']?{re.escape(key)}["']?\s*=""") if key else None
    current: tuple[str, ...] = ()
    for number, line in enumerate(lines, 1):
        header = _header(line)
        if header is not None:
            current = header
            if key is None and header == table:
                return number
            continue
        if key_line and current == table and key_line.match(line):
            return number
    wanted = key or (table[-1] if table else "")
    for number, line in enumerate(lines, 1):  # dotted keys or inline tables: the first line that names both
        if wanted and wanted in line and (not table or table[-1] in line):
            return number
    return None
