"""A server's traceback read for a student: the last exception, its frames, and a cut without the noise.

Shared by the start-up diagnosis (``grader.run.diagnose``), the known fixes
(``grader.run.known_fix``) and the request checks (``grader.check.client``):
each reads the same log the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAIL_LINES = 12

_EXCEPTION = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning)|(?:[a-z_]\w*\.)*[A-Z]\w*): ?(?P<text>.*)$"
    r"|^(?P<bare>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))$"  # raised without a message: MemoryError
)
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+))?')
#: A library's file, named from its package: ".../site-packages/flask/app.py" is "flask/app.py".
_LIBRARY_PATH = re.compile(r"""[^\s"'(]*/(?:(?:site|dist)-packages|lib/python\d[\d.]*)/""")
#: The grader's own files, which a student's traceback never shows: the launcher's, wherever they were copied.
_OWN_FILE = re.compile(r"(?:^|/)(?:webgrade-[^/]*|grader/run)/(?:launcher|supervisor)\.py$")


def tail(log: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(log.rstrip().splitlines()[-lines:])


@dataclass(frozen=True)
class Frame:
    """One frame of a traceback: a file (the student's as they know it, a library's from its package), a line."""

    file: str
    line: int
    function: str
    #: The student's own file (the grader names those relative: "main.py", "api/helpers.py").
    student: bool


@dataclass(frozen=True)
class Trace:
    """The last exception in a server's output: its type and text, and the frames that led to it."""

    kind: str
    text: str
    frames: tuple[Frame, ...]

    @property
    def student(self) -> Frame | None:
        """The innermost frame in the student's own code, if any."""
        return next((f for f in reversed(self.frames) if f.student), None)

    @property
    def library(self) -> Frame | None:
        """The innermost frame, when it is not the student's: where in a library the error was raised."""
        last = self.frames[-1] if self.frames else None
        return last if last is not None and not last.student else None

    @property
    def short_kind(self) -> str:
        """The type without its module: "TemplateNotFound" for "jinja2.exceptions.TemplateNotFound"."""
        return self.kind.rsplit(".", 1)[-1]


def library_name(path: str) -> str:
    """A library's file by its package ("flask/app.py"); other text unchanged."""
    return _LIBRARY_PATH.sub("", path)


def _is_student_file(file: str) -> bool:
    return not file.startswith(("<", "/"))


def parse_trace(log: str) -> Trace | None:
    """The last exception in ``log`` with the frames printed just above it; None if there is none."""
    lines = log.rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION.match(lines[index])
        if not match or lines[index].startswith(" "):
            continue
        kind, text = (match["type"], match["text"]) if match["type"] else (match["bare"], "")
        frames: list[Frame] = []
        for before in reversed(lines[:index]):
            if not before.startswith(" "):  # "Traceback (most recent call last):" or other output: the frames end
                break
            frame = _FRAME.match(before)
            if frame and not _OWN_FILE.search(frame["file"]):
                file = frame["file"]
                student = _is_student_file(file)
                frames.append(
                    Frame(file if student else library_name(file), int(frame["line"]), frame["function"] or "", student)
                )
        return Trace(kind, library_name(text), tuple(reversed(frames)))
    return None


def last_exception(log: str) -> tuple[str, str, str | None, int | None] | None:
    """(type, text, file, line) of the last exception in the log, if any: the student's innermost frame.

    ``file`` is None when no frame of the traceback is the student's (the error
    was raised inside a library, called by the library): a hint then points at
    the student's function, never at a library's file.
    """
    trace = parse_trace(log)
    if trace is None:
        return None
    frame = trace.student
    return trace.kind, trace.text, frame.file if frame else None, frame.line if frame else None


def student_traceback(log: str, keep_after: bool = False) -> str:
    """The last traceback in ``log``, cut to the student's own frames.

    Flask's and Python's frames are noise to a student: a run of them is
    shown as its last frame only, named from its package (``flask/app.py``,
    never the grader's own paths), without its code.  ``keep_after``: keep
    every line after the exception's own (a message of several lines, what
    the program printed after), instead of stopping there.
    """
    start = log.rfind("Traceback (most recent call last):")
    lines = log[max(start, 0) :].rstrip().splitlines()
    if start < 0 or not lines:
        return ""
    kept: list[str] = [lines[0]]
    library: str | None = None  # the last library frame of the current run, not yet shown
    keep = False
    for index, text in enumerate(lines[1:], start=1):
        frame = _FRAME.match(text)
        if frame:
            if _OWN_FILE.search(frame["file"]):
                keep = False
                continue
            keep = _is_student_file(frame["file"])
            if keep:
                if library is not None and len(kept) > 1:  # Flask's frames before the student's are dropped
                    kept.append(library)
                library = None
            else:
                library = library_name(text)
                continue
        elif not text.startswith(" "):
            if library is not None:
                kept.append(library)
            if keep_after:
                kept.extend(library_name(rest) for rest in lines[index:])
                return "\n".join(kept)
            kept.append(library_name(text))  # the exception's own line: what follows is other output
            break
        if keep:
            kept.append(text)
    return "\n".join(kept[-TAIL_LINES:])


def readable_log(log: str, lines: int = TAIL_LINES) -> str:
    """The last lines of ``log`` for a report: a traceback at its end cut to the student's frames."""
    shown = tail(log, lines)
    start = shown.rfind("Traceback (most recent call last):")
    if start < 0:
        return library_name(shown)
    cut = student_traceback(shown[start:], keep_after=True)
    return (library_name(shown[:start]) + cut) if cut else library_name(shown)
