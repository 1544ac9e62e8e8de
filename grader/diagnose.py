"""Why a server did not start, in the student's words, read from its own output.

Each function returns a :class:`Problem`: a one-line message (what was
expected, what was seen), one next step, and the last lines of the server's
output that show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.submission import Submission

TAIL_LINES = 12

# Import names whose pip package is spelled differently.
PIP_NAMES = {"flask_cors": "flask-cors", "yaml": "pyyaml", "dotenv": "python-dotenv", "bs4": "beautifulsoup4"}

_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning)|[A-Z]\w*): ?(?P<text>.*)$")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')


@dataclass(frozen=True)
class Problem:
    kind: str  # stable: syntax-error, missing-module, crashed, exited, no-server, port-taken, other-port, no-http, timeout
    message: str
    hint: str
    log_tail: str = ""
    file: str | None = None
    line: int | None = None


def tail(log: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(log.rstrip().splitlines()[-lines:])


def _last_exception(log: str) -> tuple[str, str, str | None, int | None] | None:
    """(type, text, file, line) of the last exception in the log, if any."""
    lines = log.rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION.match(lines[index])
        if not match or lines[index].startswith(" "):
            continue
        file = line = None
        for before in reversed(lines[:index]):
            frame = _FRAME.match(before)
            if frame and not frame["file"].startswith(("<", "/")):
                file, line = frame["file"], int(frame["line"])
                break
            if frame and file is None:
                file, line = frame["file"], int(frame["line"])
        return match["type"], match["text"], file, line
    return None


def _where(file: str | None, line: int | None) -> str:
    return f"{file}, line {line}" if file and line else (file or "your file")


def exited(code: int, log: str, submission: Submission | None) -> Problem:
    """The child exited before it answered HTTP."""
    name = submission.display_name if submission else "the server"
    shown = tail(log)
    if "Address already in use" in log or "address already in use" in log:
        return Problem(
            "port-taken",
            "expected the server to listen on its port, saw 'Address already in use': another program has that port",
            "stop the other server (Ctrl+C in its terminal, or see the README's stop command), then grade again",
            shown,
        )
    if "finished without starting a server" in log:
        return Problem(
            "no-server",
            f"expected {name} to start a web server, saw it run to the end without one",
            "end the file with `if __name__ == '__main__': app.run(port=5001)` and create `app = Flask(__name__)`",
            shown,
        )
    found = _last_exception(log)
    if found:
        kind, text, file, line = found
        where = _where(file, line)
        if kind in ("SyntaxError", "IndentationError", "TabError"):
            return Problem(
                "syntax-error",
                f"expected Python that runs, saw a {kind} in {where}: {text}",
                f"open {where.replace(', line', ' at line')} and fix it; `python {name.split(',')[0]}` shows the same error",
                shown,
                file,
                line,
            )
        if kind == "ModuleNotFoundError":
            module = re.search(r"No module named '([^']+)'", text)
            top = module[1].split(".")[0] if module else "?"
            package = PIP_NAMES.get(top, top)
            return Problem(
                "missing-module",
                f"expected the server to start, saw ModuleNotFoundError: No module named '{top}' ({where})",
                f"run `pip install -r requirements.txt` (or `pip install {package}`); "
                f"if '{top}' is misspelled, fix the import in {where}",
                shown,
                file,
                line,
            )
        return Problem(
            "crashed",
            f"expected the server to start, saw it crash with {kind}: {text} ({where})",
            f"fix {where}; run `python {name.split(',')[0]}` to see the whole error",
            shown,
            file,
            line,
        )
    return Problem(
        "exited",
        f"expected the server to keep running, saw it exit with code {code} before it answered",
        "run it yourself (`python main.py`) and read what it prints",
        shown,
    )


def never_ready(timeout: float, port: int, listening: set[int], log: str) -> Problem:
    """The child kept running but never answered on our port."""
    shown = tail(log)
    if port in listening:
        return Problem(
            "no-http",
            f"expected an HTTP answer on port {port}, saw the port open but no answer within {timeout:g} s",
            "make sure nothing in your code blocks before app.run(), and that the server speaks plain HTTP",
            shown,
        )
    if listening:
        ports = ", ".join(str(p) for p in sorted(listening))
        return Problem(
            "other-port",
            f"expected the server on port {port}, saw it listen on port {ports} instead",
            "start the server with app.run(...) (the grader picks the port), "
            "or read the port from the PORT environment variable",
            shown,
        )
    return Problem(
        "timeout",
        f"expected the server to answer within {timeout:g} s, saw it still running without listening on any port",
        "check that the file reaches `app.run(port=5001)` and does not wait for input or loop forever before it",
        shown,
    )
