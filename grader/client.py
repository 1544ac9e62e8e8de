"""An HTTP session bound to the student's server, for checks to use.

It is a ``requests.Session`` (instructors know it) with three additions a
grader needs: paths are joined to the server's base URL, every request has a
timeout, and no answer is read past a size cap.  Network errors become
:class:`~grader.failures.Failure` with a message for the student, so a check
never shows a traceback of ours.
"""

from __future__ import annotations

import requests

from grader.failures import Failure

MAX_BODY_BYTES = 2 * 1024 * 1024


class Http(requests.Session):
    def __init__(self, base_url: str, timeout: float = 5.0, max_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.trust_env = False  # never route loopback traffic through a proxy from the environment

    def request(self, method: str, url: str, *args, **kwargs) -> requests.Response:
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        kwargs["stream"] = True
        shown = f"{method.upper()} {url.removeprefix(self.base_url) or '/'}"
        try:
            response = super().request(method, url, *args, **kwargs)
            body = response.raw.read(self.max_bytes + 1, decode_content=True)
        except requests.Timeout:
            raise Failure(
                f"expected an answer to {shown} within {self.timeout:g} s, saw none",
                "the route's function never returns: look for a loop or a wait in it",
            ) from None
        except (requests.ConnectionError, OSError) as error:
            raise Failure(
                f"expected an answer to {shown}, saw the connection fail ({type(error).__name__})",
                "the server stopped or crashed while answering: run it yourself and watch its output",
            ) from None
        if len(body) > self.max_bytes:
            response.close()
            raise Failure(
                f"expected an answer to {shown} of at most {self.max_bytes // 1024} KB, saw a larger one",
                "return only the records the page needs",
            )
        response._content = body
        response._content_consumed = True
        return response
