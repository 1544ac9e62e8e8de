"""HTTP to the student's server, for checks.

Two clients, one purpose each:

* :class:`Client` (fixture ``client``), used by the built-in checks, is a thin
  layer over the standard library's ``http.client``.  Not requests, because
  importing requests costs about a third of what a whole grading run may cost
  (the harness issue's speed target), and because the CORS judge needs the
  headers exactly as sent, repeated ones included.
* :class:`Http` (fixture ``http``) is a ``requests.Session`` for instructors'
  checks: the API they already know.

Both join paths to the server's base URL, time out, stop reading past a size
cap (a 50 MB answer or one that never ends costs at most the cap and the
timeout), and turn network errors into a :class:`~grader.failures.Failure`
with a message for the student, so a check never shows a traceback of ours.

Given the running :class:`~grader.run.server.Server`, they also say what happened
on the server's side: which function of the student's hangs (from the app's
routes), the traceback's last line when a route answers 500, that the server
stopped while answering, or that the overall time limit ran out.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from grader.failures import Failure, NotGraded

if TYPE_CHECKING:
    import requests

    from grader.run.server import Server

MAX_BODY_BYTES = 2 * 1024 * 1024
#: How long to wait for a crashing handler's traceback to reach the server's log.
TRACEBACK_WAIT_S = 1.0


def _route(server: Server | None, path: str) -> tuple[str, str | None, int | None]:
    """'the function get_data (main.py, line 18)' for the route that serves ``path``, if known."""
    route = server.route_for(path.split(" ", 1)[-1]) if server is not None else None
    if route is None or not route.file:
        return "the route's function", None, None
    return f"the function {route.endpoint} ({route.file}, line {route.line})", route.file, route.line


def _timeout(shown: str, seconds: float, server: Server | None = None) -> Failure:
    function, file, line = _route(server, shown)
    return Failure(
        f"expected an answer to {shown} within {seconds:g} s, saw none",
        f"{function} never finishes its answer: look for a loop, a sleep or an input() in it",
        file=file,
        line=line,
    )


def _broken(shown: str, error: BaseException, server: Server | None = None) -> Failure | NotGraded:
    if server is not None and server.expired:
        return _out_of_time()
    if server is not None and server.popen is not None:
        import subprocess

        try:
            code = server.popen.wait(timeout=0.5)  # the reset may come a moment before the exit
        except subprocess.TimeoutExpired:  # still running: the connection alone failed
            code = None
        if code is not None:
            from grader.run import diagnose

            log = server.log_text()
            found = diagnose.last_exception(log)
            what = f": {found[0]}: {found[1]}" if found else ""
            if code == 128 + 24:  # SIGXCPU: the CPU time limit
                what = f": it used more than {server.limits.cpu_s} s of CPU time"
            return Failure(
                f"expected an answer to {shown}, saw the server stop while answering (exit code {code}){what}",
                "something in the route's code ends the program (sys.exit, os._exit, a crash in a thread, "
                "or a limit on memory or CPU time): run it yourself and watch its output",
                log=diagnose.tail(log),
                file=found[2] if found else None,
                line=found[3] if found else None,
            )
    return Failure(
        f"expected an answer to {shown}, saw the connection fail ({type(error).__name__})",
        "the server stopped or crashed while answering: run it yourself and watch its output",
    )


def _too_large(shown: str, limit: int) -> Failure:
    return Failure(
        f"expected an answer to {shown} of at most {limit // 1024} KB, saw a larger one",
        "return only the records the page needs",
    )


def _out_of_time() -> NotGraded:
    return NotGraded(
        "not graded: grading took longer than the time limit for one submission, so the server was stopped",
        "make every route answer at once: no long loops, sleeps or downloads",
    )


def status_text(status: int, reason: str = "") -> str:
    """ "500 Internal Server Error": the status with its standard phrase, else the server's own."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} {reason}".rstrip()


def _crashed(shown: str, status: int, reason: str, server: Server | None, log_from: int) -> Failure | None:
    """A 5xx with a fresh traceback in the server's log: the handler raised.  None if there is none.

    The failure points at the student's own code, never at a library's file:
    the student's innermost frame, or else the route's function; a well-known
    error (a function that returns nothing, a template Flask cannot find, a
    missing import) is explained from the student's source
    (:func:`grader.run.diagnose.known_fix`).
    """
    if server is None:
        return None
    from grader.run import diagnose

    deadline = time.monotonic() + TRACEBACK_WAIT_S
    while True:
        log = server.log_since(log_from)
        trace = diagnose.parse_trace(log) if "Traceback" in log else None
        if trace or time.monotonic() > deadline or not server.alive():
            break
        time.sleep(0.01)
    if not trace:
        return None
    function, route_file, route_line = _route(server, shown)
    frame = trace.student
    where = f"{frame.file}, line {frame.line}" if frame else None
    inside = f" inside {trace.library.file}" if trace.library is not None and frame is None else ""
    message = (
        f"expected {shown} to answer, saw {status_text(status, reason)}: {function} raised {trace.kind}: {trace.text}"
    )
    message += f" ({where})" if where else inside
    submission = server.submission
    fix = (
        diagnose.known_fix(trace, diagnose.source_of(submission), diagnose.files_of(submission))
        if submission is not None
        else None
    )
    if fix is not None:
        # The error's first sentence is enough next to the explanation.
        text = re.split(r"(?<=\.) ", trace.text, maxsplit=1)[0]
        message = f"expected {shown} to answer, saw {status_text(status, reason)} ({trace.kind}: {text}): {fix.why}"
        hint = fix.hint
    elif where:
        hint = f"fix {where}; the server's output below shows the whole traceback"
    else:
        hint = f"the error comes from a library that {function} calls: look at what that function passes or returns"
    file = frame.file if frame else route_file
    line = (fix.line if fix is not None and fix.line else None) or (frame.line if frame else route_line)
    return Failure(message, hint, log=diagnose.student_traceback(log), file=file, line=line)


@dataclass
class Reply:
    """One HTTP answer, read whole (up to the cap)."""

    status: int
    reason: str
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        """The header's value; several of the same name are joined by ", " (Fetch's "get")."""
        values = self.headers.get_all(name)
        return None if values is None else ", ".join(v.strip(" \t") for v in values)

    def header_map(self) -> dict[str, str]:
        return {name.lower(): self.header(name) or "" for name in dict.fromkeys(self.headers.keys())}

    @property
    def status_text(self) -> str:
        """ "404 Not Found": the status with its standard phrase (servers write their own in any case)."""
        return status_text(self.status, self.reason)

    @property
    def mimetype(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        charset = self.headers.get_content_charset() or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 5.0,
        max_bytes: int = MAX_BODY_BYTES,
        *,
        server: Server | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.server = server

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Reply:
        shown = f"{method} {path}"
        if self.server is not None and self.server.expired:
            raise _out_of_time()
        log_from = self.server.log_size() if self.server is not None else 0
        deadline = time.monotonic() + self.timeout
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, headers=headers or {})
            sock = conn.sock  # getresponse() may drop conn.sock; the response keeps reading from it
            response = conn.getresponse()
            body = bytearray()
            while len(body) <= self.max_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)  # one deadline for the whole answer, not per read
                chunk = response.read1(65536)
                if not chunk:
                    break
                body += chunk
        except TimeoutError:
            raise _timeout(shown, self.timeout, self.server) from None
        except (OSError, http.client.HTTPException) as error:
            raise _broken(shown, error, self.server) from None
        finally:
            conn.close()
        if len(body) > self.max_bytes:
            raise _too_large(shown, self.max_bytes)
        if response.status >= 500:
            crash = _crashed(shown, response.status, response.reason, self.server, log_from)
            if crash is not None:
                raise crash
        return Reply(response.status, response.reason, response.msg, bytes(body))

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers)

    def options(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("OPTIONS", path, headers)


def session(
    base_url: str, timeout: float = 5.0, max_bytes: int = MAX_BODY_BYTES, *, server: Server | None = None
) -> requests.Session:
    """A ``requests.Session`` bound to the server, with the same timeout, cap and messages."""
    import requests

    class Http(requests.Session):
        def request(  # type: ignore[override]  # the same call, typed loosely: it only sets defaults
            self, method: str, url: str, *args: Any, **kwargs: Any
        ) -> requests.Response:
            if url.startswith("/"):
                url = base_url.rstrip("/") + url
            kwargs.setdefault("timeout", timeout)
            kwargs.setdefault("allow_redirects", False)
            kwargs["stream"] = True
            shown = f"{method.upper()} {url.removeprefix(base_url.rstrip('/')) or '/'}"
            if server is not None and server.expired:
                raise _out_of_time()
            log_from = server.log_size() if server is not None else 0
            deadline = time.monotonic() + timeout
            try:
                response = super().request(method, url, *args, **kwargs)
                body = bytearray()
                # read1: returns what has arrived, so a trickle cannot outlast the deadline.
                while len(body) <= max_bytes and time.monotonic() < deadline:
                    chunk = response.raw.read1(65536, decode_content=True)
                    if not chunk:
                        break
                    body += chunk
                else:
                    if len(body) <= max_bytes:
                        response.close()
                        raise requests.Timeout
            except requests.Timeout:
                raise _timeout(shown, timeout, server) from None
            except (requests.ConnectionError, OSError) as error:
                raise _broken(shown, error, server) from None
            if len(body) > max_bytes:
                response.close()
                raise _too_large(shown, max_bytes)
            if response.status_code >= 500:
                crash = _crashed(shown, response.status_code, response.reason, server, log_from)
                if crash is not None:
                    raise crash
            response._content, response._content_consumed = bytes(body), True
            return response

    http_session = Http()
    http_session.trust_env = False  # never send loopback traffic through a proxy from the environment
    return http_session
