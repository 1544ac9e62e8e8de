"""Why a server did not start, in the student's words, read from its own output.

Each function returns a :class:`StartProblem`: a one-line message (what was
expected, what was seen), one next step, and the last lines of the server's
output that show it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.find.source import Source
    from grader.find.submission import Submission
    from grader.run.limits import Limits

TAIL_LINES = 12

# Import names whose pip package is spelled differently.
PIP_NAMES = {"flask_cors": "flask-cors", "yaml": "pyyaml", "dotenv": "python-dotenv", "bs4": "beautifulsoup4"}

_EXCEPTION = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning)|(?:[a-z_]\w*\.)*[A-Z]\w*): ?(?P<text>.*)$"
    r"|^(?P<bare>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))$"  # raised without a message: MemoryError
)
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+))?')
#: A library's file, named from its package: ".../site-packages/flask/app.py" is "flask/app.py".
_LIBRARY_PATH = re.compile(r"""[^\s"'(]*/(?:(?:site|dist)-packages|lib/python\d[\d.]*)/""")
#: The grader's own files, which a student's traceback never shows: the launcher, wherever it was copied.
_OWN_FILE = re.compile(r"(?:^|/)(?:webgrade-[^/]*/launcher\.py|grader/run/launcher\.py)$")


@dataclass(frozen=True)
class StartProblem:
    """Why the server did not start: the ``server.start`` check's failure, and every other check's reason."""

    #: Stable: syntax-error, missing-module, reads-input, out-of-memory, too-many-processes, file-too-large,
    #: cpu-time, crashed, exited, no-server, port-taken, other-port, no-http, timeout, time-limit, sandbox,
    #: notebook-line, wrong-name, missing-name, duplicate-function, not-committed.
    kind: str
    message: str
    hint: str
    log_tail: str = ""
    file: str | None = None
    line: int | None = None


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


def _where(file: str | None, line: int | None) -> str:
    return f"{file}, line {line}" if file and line else (file or "your file")


def port_taken(port: int) -> StartProblem:
    """Someone else listens on the port the grader was told to use."""
    return StartProblem(
        "port-taken",
        f"expected port {port} to be free for the server, saw 'Address already in use': another program has that port",
        "stop the other server (Ctrl+C in its terminal), or grade without --port so that a free port is chosen",
    )


def out_of_time() -> StartProblem:
    """The overall time limit for one submission ran out while the server was starting."""
    return StartProblem(
        "time-limit",
        "expected the server to start within the time limit for one submission, saw the time run out first",
        "make the server start faster: do not download or compute much before app.run()",
    )


def no_sandbox(reason: str) -> StartProblem:
    """``--sandbox bwrap`` was asked for, and bubblewrap cannot run here."""
    return StartProblem(
        "sandbox",
        f"expected to run the server in the bubblewrap sandbox (--sandbox bwrap), saw: {reason}",
        "install bubblewrap (Debian: apt-get install bubblewrap), or use --sandbox auto to grade without it",
    )


#: Exit codes of a process killed by a signal (128 + N, as the launcher reports them).
_KILLED_CPU, _KILLED = 128 + 24, 128 + 9


def _limit_problem(kind: str, text: str, log: str, limits: Limits | None) -> StartProblem | None:
    """A resource limit (see ``grader.run.limits``) that the program ran into, named as such."""
    if kind == "MemoryError":
        size = f"{limits.memory_mb} MB" if limits else "its share"
        return StartProblem(
            "out-of-memory",
            f"expected the server to start, saw it run out of memory (MemoryError): it may use {size}",
            "look for a list or string that grows without end, or data loaded many times over",
            tail(log),
        )
    if kind in ("BlockingIOError", "OSError", "RuntimeError") and (
        "Resource temporarily unavailable" in text or "can't start new thread" in text
    ):
        count = f"{limits.processes}" if limits else "its share of"
        return StartProblem(
            "too-many-processes",
            f"expected the server to start, saw it start too many processes or threads (at most {count} are allowed)",
            "remove the loop that calls os.fork(), subprocess or threading.Thread over and over",
            tail(log),
        )
    if "File too large" in text:
        size = f"{limits.file_mb} MB" if limits else "the limit"
        return StartProblem(
            "file-too-large",
            f"expected the server to start, saw it write a file larger than {size} (OSError: File too large)",
            "write less: a web server for this lesson needs no big files",
            tail(log),
        )
    return None


def exited(code: int, log: str, submission: Submission | None, limits: Limits | None = None) -> StartProblem:
    """The child exited before it answered HTTP."""
    name = submission.display_name if submission else "the server"
    program = f"python {name.split(',')[0]}" if submission else "python main.py"
    shown = readable_log(log)
    if "Address already in use" in log or "address already in use" in log:
        return StartProblem(
            "port-taken",
            "expected the server to listen on its port, saw 'Address already in use': another program has that port",
            "stop the other server (Ctrl+C in its terminal, or see the README's stop command), then grade again",
            shown,
        )
    if "finished without starting a server" in log:
        return no_server(submission, shown)
    if code == _KILLED_CPU:
        seconds = f"{limits.cpu_s} s" if limits else "its share"
        return StartProblem(
            "cpu-time",
            f"expected the server to start, saw it stopped after using {seconds} of CPU time",
            "look for a loop that never ends before app.run()",
            shown,
        )
    trace = parse_trace(log)
    if trace:
        kind, text = trace.kind, trace.text
        frame = trace.student
        file, line = (frame.file, frame.line) if frame else (None, None)
        where = _where(file, line)
        limit = _limit_problem(kind, text, log, limits)
        if limit is not None:
            return StartProblem(limit.kind, f"{limit.message} ({where})", limit.hint, shown, file, line)
        if kind == "EOFError":
            return StartProblem(
                "reads-input",
                f"expected the server to start, saw it wait for keyboard input ({where}: EOFError: {text})",
                f"a web server gets no keyboard input when graded: remove the input() call in {where}",
                shown,
                file,
                line,
            )
        fix = known_fix(trace, source_of(submission), files_of(submission)) if submission is not None else None
        if fix is not None:
            saw = f"a {kind} in {where}" if kind in _SYNTAX else f"it crash with {kind}: {text} ({where})"
            expected = "expected Python that runs" if kind in _SYNTAX else "expected the server to start"
            return StartProblem(
                fix.kind or "crashed", f"{expected}, saw {saw}: {fix.why}", fix.hint, shown, file, fix.line or line
            )
        if kind in _SYNTAX:
            return StartProblem(
                "syntax-error",
                f"expected Python that runs, saw a {kind} in {where}: {text}",
                f"open {where.replace(', line', ' at line')} and fix it; `{program}` shows the same error",
                shown,
                file,
                line,
            )
        if kind == "ModuleNotFoundError":
            module = re.search(r"No module named '([^']+)'", text)
            top = module[1].split(".")[0] if module else "?"
            package = PIP_NAMES.get(top, top)
            return StartProblem(
                "missing-module",
                f"expected the server to start, saw ModuleNotFoundError: No module named '{top}' ({where})",
                f"run `pip install -r requirements.txt` (or `pip install {package}`); "
                f"if '{top}' is misspelled, fix the import in {where}",
                shown,
                file,
                line,
            )
        return StartProblem(
            "crashed",
            f"expected the server to start, saw it crash with {kind}: {text} ({where})",
            f"fix {where}; run `{program}` to see the whole error",
            shown,
            file,
            line,
        )
    if code == _KILLED:
        return StartProblem(
            "exited",
            "expected the server to keep running, saw it killed (SIGKILL) before it answered",
            "the machine may have run out of memory: look for data that grows without end",
            shown,
        )
    return StartProblem(
        "exited",
        f"expected the server to keep running, saw it exit with code {code} before it answered",
        f"run it yourself (`{program}`) and read what it prints",
        shown,
    )


_SYNTAX = ("SyntaxError", "IndentationError", "TabError")


def source_of(submission: Submission | None) -> Source:
    """The facts of the graded source (imported here: only a failure needs them)."""
    from grader.find.source import Source, read

    return read(submission.source, submission.display_name) if submission is not None else Source()


def files_of(submission: Submission | None) -> list[str]:
    from grader.find.source import folder_files

    return folder_files(str(submission.folder)) if submission is not None else []


# --- a program that ran to its end without serving ---


def no_server(submission: Submission | None, shown: str = "") -> StartProblem:
    """The program ended without starting a server: say what it did instead, at its ``__main__`` block."""
    name = submission.display_name.split(",")[0] if submission else "main.py"
    expected = f"expected `python {name}` to start a web server, saw it end without one"
    code = source_of(submission)
    guard = code.guard
    if guard is None:
        made = code.apps[0] if code.apps else None
        if made is None:
            return StartProblem(
                "no-server",
                f"{expected}: it creates no Flask app",
                "create the app with `app = Flask(__name__)` and end the file with "
                "`if __name__ == '__main__': app.run(port=5001)`",
                shown,
            )
        return StartProblem(
            "no-server",
            f"{expected}: it never calls {made.name}.run()",
            f"end the file with `if __name__ == '__main__': {made.name}.run(port=5001)`",
            shown,
            code.file,
            made.line,
        )
    where = code.where(guard.line)
    app = next((r.app for r in code.runs), None) or (code.apps[-1].name if code.apps else "app")
    right = "if __name__ == '__main__':"
    if guard.runs is False:
        if guard.negated:
            why = f"Python skips `{guard.text}` ({where}): that test is true only when another file imports yours"
            hint = f"write `{right}` on line {guard.line} of {code.display}"
        elif guard.spelling is not None and guard.spelling.strip("_").lower() == "main":
            why = f"Python skips `{guard.text}` ({where}), because '{guard.spelling}' is not '__main__'"
            hint = (
                f"spell it `{right}` on line {guard.line} of {code.display}: "
                "two underscores before main and two after, all lower case"
            )
        elif guard.spelling is not None:
            why = (
                f"Python skips `{guard.text}` ({where}): a program you run is named '__main__', "
                f"never '{guard.spelling}'"
            )
            hint = f"write `{right}` on line {guard.line} of {code.display}"
        else:
            why = f"Python skips `{guard.text}` ({where}): its test is false when you run the file"
            hint = f"write `{right}` on line {guard.line} of {code.display}"
        return StartProblem("no-server", f"{expected}: {why}", hint, shown, code.file, guard.line)
    if guard.run_not_called is not None:
        text, line = guard.run_not_called
        return StartProblem(
            "no-server",
            f"{expected}: `{text}` ({code.where(line)}) names the function without calling it",
            f"add the brackets on line {line}: `{text}(port=5001)`",
            shown,
            code.file,
            line,
        )
    did = ", then ".join(f"`{b}`" for b in guard.body) if guard.body else "nothing"
    runs = (
        f"`{guard.text}` ({where}) runs {did}"
        if guard.body != ("pass",)
        else f"`{guard.text}` ({where}) holds only `pass`"
    )
    if guard.calls_run:
        return StartProblem(
            "no-server",
            f"{expected}: {runs}, but never reaches its run() call",
            f"make the block under line {guard.line} call `{app}.run(port=5001)` every time",
            shown,
            code.file,
            guard.line,
        )
    return StartProblem(
        "no-server",
        f"{expected}: {runs}, but never calls {app}.run()",
        f"add `{app}.run(port=5001)` as the last line of that block (after line {guard.end_line})",
        shown,
        code.file,
        guard.line,
    )


# --- errors with a well-known fix, explained from the student's own code ---


@dataclass(frozen=True)
class Fix:
    """Why an error happened, in the student's terms, and the one change to make."""

    why: str
    hint: str
    #: The line to point at, when it is not the traceback's (the second of two functions, the function's ``def``).
    line: int | None = None
    #: A StartProblem kind, when it happens at start-up.
    kind: str = ""


#: Names students import from the lesson's libraries.
KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "flask": (
        "Flask",
        "jsonify",
        "request",
        "render_template",
        "render_template_string",
        "abort",
        "make_response",
        "redirect",
        "url_for",
        "Response",
        "Blueprint",
        "send_from_directory",
        "send_file",
        "session",
        "g",
        "current_app",
    ),
    "flask_cors": ("CORS", "cross_origin"),
}
#: Standard modules students use without importing them.
STDLIB = ("json", "os", "sys", "time", "datetime", "random", "math", "re", "csv", "sqlite3", "uuid", "pathlib")
#: Modules installed with pip: a missing one is installed, never committed.
INSTALLED = frozenset(
    {*KNOWN_NAMES, *PIP_NAMES, "requests", "werkzeug", "jinja2", "numpy", "pandas", "sqlalchemy", "flask_sqlalchemy"}
    | {"flask_login", "flask_restful", "jwt", "pymysql", "psycopg2", "matplotlib", "PIL", "IPython"}
)


def known_fix(trace: Trace, code: Source, files: list[str] | tuple[str, ...] = ()) -> Fix | None:
    """The explanation of a well-known error, from the student's own code; None if it is not one we know."""
    for rule in (
        _notebook_line,
        _import_name,
        _module_case,
        _not_committed,
        _duplicate_function,
        _missing_name,
        _returned_nothing,
        _template_missing,
    ):
        fix = rule(trace, code, files)
        if fix is not None:
            return fix
    return None


def _line_of(trace: Trace) -> int | None:
    return trace.student.line if trace.student else None


def _notebook_line(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    line = _line_of(trace)
    if trace.kind not in _SYNTAX or line is None:
        return None
    text = code.line_text(line)
    if not text.startswith(("%", "!")):
        return None
    others = [n for n, t in enumerate(code.lines, start=1) if n != line and t.lstrip().startswith(("%", "!"))]
    also = f" (so {'are lines' if len(others) > 1 else 'is line'} {_numbers(others)})" if others else ""
    why = f"`{text}` on line {line} is a command for Jupyter notebooks, not Python{also}"
    command = text.lstrip("!").strip()
    if text.startswith("!") and command.split()[:2] == ["pip", "install"]:
        hint = f"delete line {line} and run `{command}` once in a terminal instead"
    elif text.startswith("!"):
        hint = f"delete line {line}: run `{command}` in a terminal if you need it"
    else:
        hint = f"delete line {line}{' and the other lines starting with % or !' if others else ''}: " + (
            f"a .py file runs without it (`python {code.file}`)"
        )
    return Fix(why, hint, line, "notebook-line")


def _numbers(lines: list[int]) -> str:
    return ", ".join(str(n) for n in lines[:-1]) + (" and " if len(lines) > 1 else "") + str(lines[-1])


def _closest(name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The choice that ``name`` most likely meant: the same but for case, else a near spelling."""
    same = [c for c in choices if c.lower() == name.lower() and c != name]
    if same:
        return same[0]
    near = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.8)
    return near[0] if near and near[0] != name else None


def _replace_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"\b{re.escape(old)}\b", new, text, count=1)


def _import_name(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    match = re.search(r"cannot import name '([^']+)' from (?:partially initialized module )?'([^']+)'", trace.text)
    if trace.short_kind != "ImportError" or match is None:
        return None
    name, module = match[1], match[2]
    line = _line_of(trace)
    if "partially initialized module" in trace.text and f"{module.split('.')[0]}.py" in files:
        return Fix(
            f"your own file {module}.py has the library's name, so `import {module}` finds your file instead",
            f"rename {module}.py (for example to main.py): a file must not share its name with a library",
            line,
            "wrong-name",
        )
    right = _closest(name, KNOWN_NAMES.get(module, ()))
    if right is None:
        return Fix(
            f"{module} has nothing named {name!r}",
            f"check how {name} is spelled on line {line}: Python names are case-sensitive",
            line,
            "wrong-name",
        )
    why = f"{module} has no {name!r}: it is {right!r}" + (
        " (Python names are case-sensitive)" if right.lower() == name.lower() else ""
    )
    written = code.line_text(line) if line else ""
    head, imports, names = written.partition(" import ")
    fixed = f"{head}{imports}{_replace_word(names, name, right)}" if imports else f"from {module} import {right}"
    return Fix(why, f"write `{fixed}` on line {line}", line, "wrong-name")


def _missing_module(trace: Trace) -> str | None:
    match = re.search(r"No module named '([^']+)'", trace.text)
    return match[1] if trace.short_kind == "ModuleNotFoundError" and match else None


def _module_case(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    module = _missing_module(trace)
    if module is None:
        return None
    top = module.split(".")[0]
    if top == top.lower() or top.lower() not in INSTALLED:
        return None
    line = _line_of(trace)
    written = code.line_text(line) if line else ""
    fixed = _replace_word(written, top, top.lower()) if written else f"import {top.lower()}"
    return Fix(
        f"there is no module {top!r}: module names are lower case, it is {top.lower()!r}",
        f"write `{fixed}` on line {line}",
        line,
        "wrong-name",
    )


def _not_committed(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    """An import of the student's own module or folder that is not in the submission."""
    module = _missing_module(trace)
    if module is None:
        return None
    top = module.split(".")[0]
    if top in INSTALLED or top.lower() in INSTALLED or difflib.get_close_matches(top, sorted(INSTALLED), cutoff=0.85):
        return None  # a package, perhaps misspelled: the pip hint says both
    line = _line_of(trace)
    here = code.file.rsplit("/", 1)[0] + "/" if "/" in code.file else ""
    names = {f.rstrip("/").removesuffix(".py"): f for f in files if f.count("/") <= here.count("/") + 1}
    other_case = next(
        (f for n, f in names.items() if n.lower() == f"{here}{top}".lower() and n != f"{here}{top}"), None
    )
    if other_case is not None:
        return Fix(
            f"there is no {top!r}, but there is {other_case}: names of files and folders are case-sensitive",
            f"on line {line}, write the name exactly as {other_case.rstrip('/')} is written, or rename it",
            line,
            "not-committed",
        )
    # `from api.people import ...`: a folder of the student's own modules, not a package from PyPI.
    own = "." in module or any(i.module.startswith(f"{top}.") for i in code.imports)
    where = f"next to {code.file}"
    if own:
        return Fix(
            f"{top} looks like your own code, but the submission has no {top}/ folder or {top}.py {where}",
            f"add it to your repository: `git add {top}`, then commit and push (git keeps a folder with its files)",
            line,
            "not-committed",
        )
    return Fix(
        f"the submission has no {top}/ folder or {top}.py {where}, and no installed package is named {top}",
        f"if {top} is your own code, commit it (`git add {top}`, commit, push); "
        f"if it is a package, `pip install {PIP_NAMES.get(top, top)}` and list it in requirements.txt",
        line,
        "not-committed",
    )


def _duplicate_function(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    match = re.search(r"overwriting an existing endpoint function: (\S+)", trace.text)
    if trace.short_kind != "AssertionError" or match is None:
        return None
    name = match[1]
    defs = sorted({f.line for f in code.functions if f.name == name})
    if len(defs) < 2:
        return Fix(
            f"two routes are named {name}, and Flask names each route after its function",
            f"give the second route's function a name of its own (line {_line_of(trace)})",
            _line_of(trace),
            "duplicate-function",
        )
    return Fix(
        f"two functions are named {name} ({code.file}, lines {_numbers(defs)}), "
        "and Flask names each route after its function, so the second cannot be added",
        f"rename the second one, `def {name}` on line {defs[-1]}, to a name of its own",
        defs[-1],
        "duplicate-function",
    )


def _missing_name(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    match = re.search(r"name '([^']+)' is not defined", trace.text)
    if trace.short_kind != "NameError" or match is None:
        return None
    name, line = match[1], _line_of(trace)
    module = next((m for m, names in KNOWN_NAMES.items() if name in names), None)
    if module is not None:
        why = f"{name} comes from {module}, and {code.file} does not import it"
        existing = [i for i in code.imported(module) if i.original]
        if existing:
            first = existing[0]
            names = ", ".join(dict.fromkeys(i.original for i in existing if i.line == first.line))
            return Fix(
                why,
                f"add it to the import on line {first.line}: `from {module} import {names}, {name}`",
                first.line,
                "missing-name",
            )
        return Fix(why, f"add `from {module} import {name}` at the top of {code.file}", line, "missing-name")
    if name in STDLIB:
        return Fix(
            f"{name} is a module of Python's, and {code.file} does not import it",
            f"add `import {name}` at the top of {code.file}",
            line,
            "missing-name",
        )
    known = [i.name for i in code.imports] + [f.name for f in code.functions] + [a.name for a in code.apps]
    right = _closest(name, known)
    if right is not None:
        return Fix(
            f"nothing is named {name}, but {right} is: Python names are case-sensitive",
            f"write {right} on line {line}",
            line,
            "missing-name",
        )
    return None


def _returned_nothing(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    match = re.search(r"view function for '([^']+)' did not return a valid response", trace.text)
    if trace.short_kind != "TypeError" or match is None:
        return None
    name = match[1].rsplit(".", 1)[-1]
    function = code.function(name)
    if function is None:
        return Fix(f"the function {name} returned no answer", f"end {name} with a return, like `return jsonify(...)`")
    where = code.where(function.line)
    other = re.search(r"but it was an? (\w+)", trace.text)
    if other and other[1] != "NoneType":
        return Fix(
            f"the function {name} ({where}) returned a value of type {other[1]}, which Flask cannot send",
            f"return a string of HTML, or jsonify(...) of your data, from {name}",
            function.line,
        )
    if function.last is not None and function.last_is_expression and function.falls_off_end:
        text, line = function.last
        return Fix(
            f"the function {name} ({where}) never returns its answer: line {line} makes `{text}` and drops it",
            f"return it: write `return {text}` on line {line}",
            line,
        )
    if function.falls_off_end and not function.returns:
        return Fix(
            f"the function {name} ({where}) has no return statement, so it answers None",
            f"end {name} with a return, like `return jsonify(...)`",
            function.line,
        )
    if function.falls_off_end:
        return Fix(
            f"the function {name} ({where}) can reach its end without a return "
            f"(its return{'s' if len(function.returns) > 1 else ''} on line "
            f"{_numbers([r.line for r in function.returns])} did not run), so it answered None",
            f"make every way through {name} end with a return",
            function.line,
        )
    return Fix(
        f"the function {name} ({where}) returned None",
        f"return the answer itself from {name}, like `return jsonify(...)`",
        function.line,
    )


def _template_missing(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    if trace.short_kind != "TemplateNotFound":
        return None
    template = trace.text.strip()
    here = code.file.rsplit("/", 1)[0] + "/" if "/" in code.file else ""
    wanted = f"{here}templates/{template}"
    why = (
        f"Flask found no template {template!r}: render_template looks for it only in a folder named "
        f"templates next to {code.file} ({wanted})"
    )
    elsewhere = [f for f in files if (f == template or f.endswith("/" + template)) and f != wanted]
    line = _line_of(trace)
    if elsewhere:
        return Fix(why, f"move {elsewhere[0]} to {wanted}", line)
    folder = next((f for f in files if f.rstrip("/").lower() in (f"{here}template", f"{here}templates")), None)
    if folder is not None and folder.rstrip("/") != f"{here}templates":
        return Fix(why, f"rename the folder {folder.rstrip('/')} to {here}templates (all lower case, with an s)", line)
    return Fix(why, f"create {wanted}, or return the page's HTML as a string from the function", line)


def never_ready(timeout: float, port: int, listening: set[int], log: str, serving: bool = False) -> StartProblem:
    """The child kept running but never answered on our port (``serving``: it reached app.run())."""
    shown = tail(log)
    if serving or port in listening:
        return StartProblem(
            "no-http",
            f"expected an HTTP answer on port {port}, saw the port open but no answer within {timeout:g} s",
            "make sure nothing in your code blocks before app.run(), and that the server speaks plain HTTP",
            shown,
        )
    if listening:
        ports = ", ".join(str(p) for p in sorted(listening))
        return StartProblem(
            "other-port",
            f"expected the server on port {port}, saw it listen on port {ports} instead",
            "start the server with app.run(...) (the grader picks the port), "
            "or read the port from the PORT environment variable",
            shown,
        )
    return StartProblem(
        "timeout",
        f"expected the server to answer within {timeout:g} s, saw it still running without listening on any port",
        "check that the file reaches `app.run(port=5001)` and does not wait for input or loop forever before it",
        shown,
    )
