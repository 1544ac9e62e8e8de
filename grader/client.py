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
cap, and turn network errors into a :class:`~grader.failures.Failure` with a
message for the student, so a check never shows a traceback of ours.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass
from email.message import Message
from typing import Any

from grader.failures import Failure

MAX_BODY_BYTES = 2 * 1024 * 1024


def _timeout(shown: str, seconds: float) -> Failure:
    return Failure(
        f"expected an answer to {shown} within {seconds:g} s, saw none",
        "the route's function never returns: look for a loop or a wait in it",
    )


def _broken(shown: str, error: BaseException) -> Failure:
    return Failure(
        f"expected an answer to {shown}, saw the connection fail ({type(error).__name__})",
        "the server stopped or crashed while answering: run it yourself and watch its output",
    )


def _too_large(shown: str, limit: int) -> Failure:
    return Failure(
        f"expected an answer to {shown} of at most {limit // 1024} KB, saw a larger one",
        "return only the records the page needs",
    )


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
        return {name.lower(): self.header(name) for name in dict.fromkeys(self.headers.keys())}

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
    def __init__(self, host: str, port: int, timeout: float = 5.0, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.host, self.port = host, port
        self.timeout = timeout
        self.max_bytes = max_bytes

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Reply:
        shown = f"{method} {path}"
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
                    raise socket.timeout
                sock.settimeout(left)  # one deadline for the whole answer, not per read
                chunk = response.read1(65536)
                if not chunk:
                    break
                body += chunk
        except (socket.timeout, TimeoutError):
            raise _timeout(shown, self.timeout) from None
        except (OSError, http.client.HTTPException) as error:
            raise _broken(shown, error) from None
        finally:
            conn.close()
        if len(body) > self.max_bytes:
            raise _too_large(shown, self.max_bytes)
        return Reply(response.status, response.reason, response.msg, bytes(body))

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers)

    def options(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("OPTIONS", path, headers)


def session(base_url: str, timeout: float = 5.0, max_bytes: int = MAX_BODY_BYTES):
    """A ``requests.Session`` bound to the server, with the same timeout, cap and messages."""
    import requests

    class Http(requests.Session):
        def request(self, method: str, url: str, *args, **kwargs) -> requests.Response:
            if url.startswith("/"):
                url = base_url.rstrip("/") + url
            kwargs.setdefault("timeout", timeout)
            kwargs.setdefault("allow_redirects", False)
            kwargs["stream"] = True
            shown = f"{method.upper()} {url.removeprefix(base_url.rstrip('/')) or '/'}"
            try:
                response = super().request(method, url, *args, **kwargs)
                body = response.raw.read(max_bytes + 1, decode_content=True)
            except requests.Timeout:
                raise _timeout(shown, timeout) from None
            except (requests.ConnectionError, OSError) as error:
                raise _broken(shown, error) from None
            if len(body) > max_bytes:
                response.close()
                raise _too_large(shown, max_bytes)
            response._content, response._content_consumed = body, True
            return response

    http_session = Http()
    http_session.trust_env = False  # never send loopback traffic through a proxy from the environment
    return http_session
