"""Renderers: each output format turns the same Report into one output, all of one shape.

An output is a module of this package with a ``NAME``, an ``AUDIENCE`` and a
``write(report, dest, settings)`` (the :class:`Output` protocol), listed once in
``REGISTRY``.  :func:`write_all` writes the outputs asked for and decides, here
only, what each one is given: the student's view (``Report.for_student()``,
hidden checks removed and counted in a note) or the full report.

``markdown`` is not an output of its own: it is the Markdown scorecard that the
``github`` output (the step summary) and a batch's feedback files are made of.

Student text is untrusted in every output: :func:`visible` is how each one shows it.

Kept import-light: the CLI imports this module before it starts the student's
server, so the renderers (click, xml, json ...) are imported only when written.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol, cast

if TYPE_CHECKING:
    from grader.results import Report

#: Who reads an output: the student (hidden checks removed) or the instructor and their tools (everything).
Audience = Literal["student", "full"]

#: Where Gradescope looks for results.json, inside its /autograder directory (``--gradescope`` with no DIR).
GRADESCOPE_RESULTS = "/autograder/results"


class Settings(NamedTuple):
    """What outputs need besides the report: one for the run; each output reads only the fields it names.

    A NamedTuple rather than a dataclass: the CLI imports this module before the server starts, and a
    dataclass takes five times as long to define (start-up time).
    """

    #: Also the full values seen and the server's own output (text, json).
    verbose: bool = False
    #: The submission's folder: annotations point at the student's files in it (github).
    folder: Path | None = None
    #: The visibility Gradescope gives hidden checks (gradescope).
    gradescope_hidden: str = "hidden"
    #: Running in GitHub Actions: stdout must not let student text issue workflow commands (text, json).
    in_actions: bool = False
    #: stdout holds one JSON object, so nothing else may print there (github: its annotations go to stderr).
    json_on_stdout: bool = False


class Output(Protocol):
    """One output format: a module of this package with these three names."""

    #: Its name in ``REGISTRY`` (for the two stdout formats, the ``--format`` value).
    NAME: str
    #: "student": it is given ``report.for_student()``; "full": the whole report (it hides checks itself, or
    #: its reader is the instructor).
    AUDIENCE: Audience

    def write(self, report: Report, dest: Path | None, settings: Settings) -> None:
        """Write ``report`` to ``dest`` (a file or folder), or to the output's own place when None.

        The own place: stdout (text, json), $GITHUB_OUTPUT (classroom),
        ``GRADESCOPE_RESULTS`` (gradescope), the step's log and summary (github).
        """


#: Every output by name, in the order write_all writes them: files first, then stdout, then GitHub's
#: annotations and step summary, which follow the scorecard in the step's log.  A new format is one module
#: and one line here.
REGISTRY: dict[str, str] = {
    "junit": "grader.reports.junit",
    "gradescope": "grader.reports.gradescope",
    "classroom": "grader.reports.classroom",
    "json": "grader.reports.json_report",
    "text": "grader.reports.terminal",
    "github": "grader.reports.github",
}


def output(name: str) -> Output:
    """The output called ``name``, its module imported now (start-up time: only the formats asked for load)."""
    return cast(Output, importlib.import_module(REGISTRY[name]))


def write_all(report: Report, wanted: Mapping[str, Path | None], settings: Settings) -> None:
    """Write every output in ``wanted`` (its name, and where it goes: None for its own place) from ``report``.

    Each output gets the audience it declares: the student's view, or the full report.
    """
    unknown = set(wanted) - set(REGISTRY)
    if unknown:
        raise ValueError(f"no such output: {', '.join(sorted(unknown))}")
    student = report.for_student()
    for name in REGISTRY:
        if name in wanted:
            chosen = output(name)
            chosen.write(student if chosen.AUDIENCE == "student" else report, wanted[name], settings)


#: Every control character (C0, DEL and C1) but newline and tab, as Python writes it in a string literal.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if code not in (0x09, 0x0A)}
_ESCAPES[0x0D] = "\\r"


def visible(text: str) -> str:
    """Student text with its control characters shown escaped (``\\x1b``, ``\\r``), newline and tab kept.

    A terminal, a CI log or a browser obeys the control characters it is sent:
    ESC [ and OSC sequences recolour, hide or rewrite lines, set the window
    title, write the clipboard or make links, and a C1 character (U+0080 to
    U+009F) does the same in one.  Shown escaped, they do nothing, and the
    student can still see what their server sent.
    """
    return text.translate(_ESCAPES)
