"""Why a server did not start, in the student's words, read from its own output.

Each function returns a :class:`StartProblem`: a one-line message (what was
expected, what was seen), one next step, and the last lines of the server's
output that show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.find.submission import Submission
    from grader.run.limits import Limits

TAIL_LINES = 12

# Import names whose pip package is spelled differently.
PIP_NAMES = {"flask_cors": "flask-cors", "yaml": "pyyaml", "dotenv": "python-dotenv", "bs4": "beautifulsoup4"}

_EXCEPTION = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning)|[A-Z]\w*): ?(?P<text>.*)$"
    r"|^(?P<bare>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))$"  # raised without a message: MemoryError
)
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')


@dataclass(frozen=True)
class StartProblem:
    """Why the server did not start: the ``server.start`` check's failure, and every other check's reason."""

    #: Stable: syntax-error, missing-module, reads-input, out-of-memory, too-many-processes, file-too-large,
    #: cpu-time, crashed, exited, no-server, port-taken, other-port, no-http, timeout, time-limit, sandbox.
    kind: str
    message: str
    hint: str
    log_tail: str = ""
    file: str | None = None
    line: int | None = None


def tail(log: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(log.rstrip().splitlines()[-lines:])


def last_exception(log: str) -> tuple[str, str, str | None, int | None] | None:
    """(type, text, file, line) of the last exception in the log, if any."""
    lines = log.rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION.match(lines[index])
        if not match or lines[index].startswith(" "):
            continue
        kind, text = (match["type"], match["text"]) if match["type"] else (match["bare"], "")
        file = line = None
        for before in reversed(lines[:index]):
            frame = _FRAME.match(before)
            if frame and not frame["file"].startswith(("<", "/")):
                file, line = frame["file"], int(frame["line"])
                break
            if frame and file is None:
                file, line = frame["file"], int(frame["line"])
        return kind, text, file, line
    return None


def student_traceback(log: str) -> str:
    """The last traceback in ``log``, cut to the student's own frames (Flask's and Python's are noise to them)."""
    lines = log[log.rfind("Traceback (most recent call last):") :].rstrip().splitlines()
    if not lines:
        return ""
    kept, keep = [lines[0]], False
    for text in lines[1:]:
        frame = _FRAME.match(text)
        if frame:
            keep = not frame["file"].startswith(("<", "/"))
        elif not text.startswith(" "):
            kept.append(text)  # the exception's own line: what follows is other output
            break
        if keep:
            kept.append(text)
    return "\n".join(kept[-TAIL_LINES:])


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
    shown = tail(log)
    if "Address already in use" in log or "address already in use" in log:
        return StartProblem(
            "port-taken",
            "expected the server to listen on its port, saw 'Address already in use': another program has that port",
            "stop the other server (Ctrl+C in its terminal, or see the README's stop command), then grade again",
            shown,
        )
    if "finished without starting a server" in log:
        return StartProblem(
            "no-server",
            f"expected {name} to start a web server, saw it run to the end without one",
            "end the file with `if __name__ == '__main__': app.run(port=5001)` and create `app = Flask(__name__)`",
            shown,
        )
    if code == _KILLED_CPU:
        seconds = f"{limits.cpu_s} s" if limits else "its share"
        return StartProblem(
            "cpu-time",
            f"expected the server to start, saw it stopped after using {seconds} of CPU time",
            "look for a loop that never ends before app.run()",
            shown,
        )
    found = last_exception(log)
    if found:
        kind, text, file, line = found
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
        if kind in ("SyntaxError", "IndentationError", "TabError"):
            return StartProblem(
                "syntax-error",
                f"expected Python that runs, saw a {kind} in {where}: {text}",
                f"open {where.replace(', line', ' at line')} and fix it; "
                f"`python {name.split(',')[0]}` shows the same error",
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
            f"fix {where}; run `python {name.split(',')[0]}` to see the whole error",
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
        "run it yourself (`python main.py`) and read what it prints",
        shown,
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
