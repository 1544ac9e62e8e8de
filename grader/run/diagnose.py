"""Why a server did not start, in the student's words, read from its own output.

Each function returns a :class:`StartProblem`: a one-line message (what was
expected, what was seen), one next step, and the last lines of the server's
output that show it.  The traceback is read by :mod:`grader.run.tracebacks`
and a well-known crash explained by :mod:`grader.run.known_fix`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Re-exported: the grader and the checks read tracebacks and known fixes through this one module.
from grader.run.known_fix import PIP_NAMES, SYNTAX_ERRORS, Fix, known_fix
from grader.run.tracebacks import (
    Trace,
    last_exception,
    parse_trace,
    readable_log,
    student_traceback,
    tail,
)

if TYPE_CHECKING:
    from grader.find.source import Source
    from grader.find.submission import Submission
    from grader.run.limits import Limits

__all__ = [
    "Fix",
    "StartProblem",
    "Trace",
    "exited",
    "files_of",
    "known_fix",
    "last_exception",
    "never_ready",
    "no_sandbox",
    "no_server",
    "out_of_time",
    "parse_trace",
    "port_taken",
    "source_of",
    "student_traceback",
    "tail",
]


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
            saw = f"a {kind} in {where}" if kind in SYNTAX_ERRORS else f"it crash with {kind}: {text} ({where})"
            expected = "expected Python that runs" if kind in SYNTAX_ERRORS else "expected the server to start"
            return StartProblem(
                fix.kind or "crashed", f"{expected}, saw {saw}: {fix.why}", fix.hint, shown, file, fix.line or line
            )
        if kind in SYNTAX_ERRORS:
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
