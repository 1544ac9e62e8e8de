"""CORS judged the way a browser judges it (WHATWG Fetch, as Chromium applies it).

The lesson's page, served from another origin, calls::

    fetch(url, {mode: 'cors', credentials: 'include',
                headers: {'Content-Type': 'application/json'}})

``application/json`` is not one of the three "simple" Content-Types, so the
browser first asks with an OPTIONS "preflight" and sends the GET only if that
answer allows it.  Both answers must then pass the CORS check, which with
credentials is strict: the page's exact origin (never ``*``) and
``Access-Control-Allow-Credentials: true``.

Everything here is pure: the grader does the HTTP and hands both answers to
:func:`judge`, which reports every problem it sees, per stage, in the order
Chromium checks them (so the first one is what the browser console shows).

Problem codes (stable; ``CorsProblem.stage`` says which answer they are about):

- ``no-preflight-answer``, ``no-response-answer``: that answer was not obtained.
- ``allow-origin-missing``, ``allow-origin-wildcard`` (``*`` with credentials),
  ``allow-origin-multiple`` (several values, e.g. the header was set twice),
  ``allow-origin-mismatch`` (one value, not the origin byte for byte).
- ``allow-credentials-missing``, ``allow-credentials-not-true``.
- preflight only: ``preflight-status`` (not 200-299), ``allow-list-invalid``,
  ``method-not-allowed``, ``header-not-allowed``.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# HTTP parsing strips these around every header value.
_WS = " \t\r\n"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})
# fetch() uppercases only these; any other method ("patch") is sent as written.
_NORMALIZED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})
_FORBIDDEN_METHODS = frozenset({"CONNECT", "TRACE", "TRACK"})
# fetch() silently drops these author headers: the browser owns them.
_FORBIDDEN_HEADERS = frozenset(
    {
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
    }
)
_METHOD_OVERRIDES = frozenset({"x-http-method", "x-http-method-override", "x-method-override"})
_UNSAFE_BYTES = frozenset([chr(b) for b in range(0x20) if b != 0x09] + list('"():<>?@[\\]{}\x7f'))
_LANGUAGE_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz *,-.;=")
_SIMPLE_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
_RANGE = re.compile(r"(?ai:bytes)=([0-9]+)-([0-9]*)")
_SETUP = "CORS(app, supports_credentials=True, origins='*')"

#: CORS words a lesson may never have taught, each with one plain clause: :func:`plain_words` says it once.
GLOSSARY = (
    (
        "preflight",
        'a "preflight" is the OPTIONS request a browser sends first, to ask if the page may make its request',
    ),
    (
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Origin is the header that names the page allowed to read the answer",
    ),
    (
        "Access-Control-Allow-Credentials",
        'Access-Control-Allow-Credentials: "true" lets the page send cookies with its request',
    ),
    ("Access-Control-Allow-Headers", "Access-Control-Allow-Headers lists the headers a page may send"),
    ("Access-Control-Allow-Methods", "Access-Control-Allow-Methods lists the methods (GET, POST...) a page may use"),
)


@dataclass(frozen=True)
class CorsRequest:
    """What the lesson's page asks the browser to send."""

    origin: str
    method: str = "GET"
    headers: tuple[str, ...] = ("Content-Type: application/json",)
    credentials: bool = True


@dataclass(frozen=True)
class Answer:
    """One HTTP response as the browser saw it.

    Header names are matched case-insensitively here; a header that appeared
    several times is given once with its values joined by ", " (Fetch's "get").
    """

    status: int
    headers: Mapping[str, str]


@dataclass(frozen=True)
class CorsProblem:
    """One reason the browser refuses the page's request, worded for the student."""

    stage: str
    code: str
    message: str
    hint: str


@dataclass(frozen=True)
class Verdict:
    """Everything wrong (problems) or worth knowing (warnings) about both answers."""

    preflight_needed: bool
    problems: tuple[CorsProblem, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """The page can read the answer only if no stage has a problem."""
        return not self.problems

    def at(self, stage: str) -> tuple[CorsProblem, ...]:
        """The problems of one stage, "preflight" or "response", in checking order."""
        return tuple(p for p in self.problems if p.stage == stage)


def _method(request: CorsRequest) -> str:
    """The method as fetch() sends it; it throws on forbidden or malformed ones."""
    if not _TOKEN.fullmatch(request.method) or request.method.upper() in _FORBIDDEN_METHODS:
        raise ValueError(f"fetch() refuses the method {request.method!r}")
    upper = request.method.upper()
    return upper if upper in _NORMALIZED_METHODS else request.method


def _forbidden(name: str, value: str) -> bool:
    """Headers fetch() silently drops, so they never count for CORS."""
    name = name.lower()
    if name in _FORBIDDEN_HEADERS or name.startswith(("proxy-", "sec-")):
        return True
    return name in _METHOD_OVERRIDES and any(m.strip(_WS).upper() in _FORBIDDEN_METHODS for m in value.split(","))


def _author_headers(request: CorsRequest) -> list[tuple[str, str]]:
    """The headers fetch() keeps, as (name, value) with the value trimmed as Headers does."""
    kept = []
    for line in request.headers:
        name, colon, value = line.partition(":")
        value = value.strip(_WS)
        if not colon or not _TOKEN.fullmatch(name) or any(c in "\0\r\n" or ord(c) > 0xFF for c in value):
            raise ValueError(f"fetch() refuses the header {line!r}; write it as 'Name: value'")
        if not _forbidden(name, value):
            kept.append((name, value))
    return kept


def _mime_essence(value: str) -> str | None:
    """type/subtype of a Content-Type, lowercased, or None when it does not parse as a MIME type."""
    kind, slash, rest = value.strip(_WS).partition("/")
    subtype = rest.partition(";")[0].rstrip(_WS)
    if slash and _TOKEN.fullmatch(kind) and _TOKEN.fullmatch(subtype):
        return f"{kind}/{subtype}".lower()
    return None


def _safelisted(name: str, value: str) -> bool:
    """A CORS-safelisted request-header may cross origins without a preflight."""
    if len(value) > 128:
        return False
    name = name.lower()
    if name == "accept":
        return _UNSAFE_BYTES.isdisjoint(value)
    if name in ("accept-language", "content-language"):
        return _LANGUAGE_CHARS.issuperset(value)
    if name == "content-type":
        return _UNSAFE_BYTES.isdisjoint(value) and _mime_essence(value) in _SIMPLE_TYPES
    if name == "range":  # only "bytes=N-" or "bytes=N-M"; suffix ranges need a preflight
        match = _RANGE.fullmatch(value)
        return match is not None and (not match[2] or int(match[1]) <= int(match[2]))
    return False


def _unsafe(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers that need a preflight; past 1024 bytes of safelisted values, all of them do."""
    size = sum(len(v) for n, v in headers if _safelisted(n, v))
    return [(n, v) for n, v in headers if size > 1024 or not _safelisted(n, v)]


def _unique(names: Iterable[str]) -> list[str]:
    """Names without case-insensitive repeats, first spelling kept."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return list(seen.values())


def needs_preflight(request: CorsRequest) -> bool:
    """True when the browser must ask with OPTIONS before sending the request."""
    return _method(request) not in _SAFELISTED_METHODS or bool(_unsafe(_author_headers(request)))


def preflight_headers(request: CorsRequest) -> dict[str, str]:
    """The CORS headers a browser puts on the OPTIONS preflight."""
    headers = {"Origin": request.origin, "Access-Control-Request-Method": _method(request)}
    names = sorted({n.lower() for n, _ in _unsafe(_author_headers(request))})
    if names:
        headers["Access-Control-Request-Headers"] = ",".join(names)
    return headers


def request_headers(request: CorsRequest) -> dict[str, str]:
    """The headers on the actual request: Origin plus what fetch() keeps of the author's."""
    headers = {"Origin": request.origin}
    for name, value in _author_headers(request):
        key = next((k for k in headers if k.lower() == name.lower()), name)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _get(answer: Answer, name: str) -> str | None:
    """Fetch's "get": the trimmed values of a header joined by ", ", or None when absent."""
    values = [v.strip(_WS) for k, v in answer.headers.items() if k.lower() == name.lower()]
    return ", ".join(values) if values else None


def _seen(value: str | None) -> str:
    return "no such header" if value is None else f'"{value}"'


def _items(value: str) -> tuple[list[str], str | None]:
    """A comma-separated header list: its non-empty items, and the first that is not a token."""
    items = [item for item in (part.strip(_WS) for part in value.split(",")) if item]
    return items, next((item for item in items if not _TOKEN.fullmatch(item)), None)


@dataclass(frozen=True)
class _Stage:
    """Which answer is judged, and how to say so in a message."""

    name: str
    where: str
    why: str = ""

    def problem(self, code: str, expected: str, seen: str, hint: str) -> CorsProblem:
        return CorsProblem(self.name, code, f"expected {self.where} {expected}, saw {seen}{self.why}", hint)


def _cors_check(request: CorsRequest, answer: Answer, stage: _Stage) -> list[CorsProblem]:
    """Fetch's CORS check: the exact origin (or * without credentials), then credentials."""
    problems = []
    origin = _get(answer, "Access-Control-Allow-Origin")
    wanted = f'to have Access-Control-Allow-Origin: "{request.origin}"'
    if origin is None:
        problems.append(
            stage.problem(
                "allow-origin-missing",
                wanted,
                "no such header",
                f"add `from flask_cors import CORS` and `{_SETUP}` right after `app = Flask(__name__)`",
            )
        )
    elif origin == "*":
        if request.credentials:
            problems.append(
                stage.problem(
                    "allow-origin-wildcard",
                    f"{wanted} (a request with credentials never accepts *)",
                    '"*"',
                    f"use `{_SETUP}` and no send_wildcard or hand-set header: flask-cors then echoes the page's origin",
                )
            )
    elif origin != request.origin:
        if any(c in origin for c in " ,"):
            problems.append(
                stage.problem(
                    "allow-origin-multiple",
                    f"{wanted} (one value)",
                    _seen(origin),
                    "set the header in one place only: delete your own Access-Control-Allow-Origin line "
                    f"and keep `{_SETUP}`",
                )
            )
        else:
            problems.append(
                stage.problem(
                    "allow-origin-mismatch",
                    f"{wanted} (byte for byte)",
                    _seen(origin),
                    f"let flask-cors echo the origin with `{_SETUP}`, or list it exactly: "
                    f"origins=['{request.origin}'] (scheme, host and port, no trailing slash)",
                )
            )
    if request.credentials:
        allowed = _get(answer, "Access-Control-Allow-Credentials")
        wanted = 'to have Access-Control-Allow-Credentials: "true" because the page sends credentials'
        if allowed is None:
            problems.append(
                stage.problem(
                    "allow-credentials-missing",
                    wanted,
                    "no such header",
                    f"pass supports_credentials=True to CORS: `{_SETUP}`",
                )
            )
        elif allowed != "true":
            problems.append(
                stage.problem(
                    "allow-credentials-not-true",
                    f"{wanted} (exactly, lowercase)",
                    _seen(allowed),
                    "don't set it by hand (str(True) is 'True'): let flask-cors send it with supports_credentials=True",
                )
            )
    return problems


def _status_hint(status: int) -> str:
    """One next step for a preflight that did not answer 2xx."""
    if 300 <= status < 400:
        return (
            "a preflight never follows redirects: make @app.route's path match the fetched URL exactly "
            "(Flask redirects /api/data to /api/data/ when the route ends with a slash)"
        )
    if status == 404:
        return "no route answers OPTIONS at this URL: check that @app.route's path is the URL the page fetches"
    if status == 405:
        return f"let Flask answer OPTIONS (drop provide_automatic_options=False) and keep `{_SETUP}`"
    if status in (401, 403):
        return "the preflight never carries cookies or logins: don't require one for OPTIONS, let flask-cors answer it"
    if status >= 500:
        return "the server failed while answering OPTIONS: read the traceback in its output"
    return f"answer OPTIONS with 200 by letting flask-cors handle it: `{_SETUP}`"


def _preflight_rules(request: CorsRequest, answer: Answer, stage: _Stage) -> list[CorsProblem]:
    """The preflight answer's status, then the methods and headers it allows."""
    if not 200 <= answer.status <= 299:
        return [
            stage.problem(
                "preflight-status",
                "to have a 2xx status such as 200 or 204",
                str(answer.status),
                _status_hint(answer.status),
            )
        ]
    problems: list[CorsProblem] = []
    lists: dict[str, tuple[str | None, list[str] | None]] = {}
    for name in ("Access-Control-Allow-Methods", "Access-Control-Allow-Headers"):
        value = _get(answer, name)
        items, bad = _items(value or "")
        lists[name] = (value, items)
        if bad is not None:
            problems.append(
                stage.problem(
                    "allow-list-invalid",
                    f"to have {name} as names separated by commas",
                    f'{_seen(value)} ("{bad}" is not a name)',
                    "write plain names joined by commas, like Content-Type, Authorization (not str(['Content-Type'])), "
                    "or let flask-cors write it",
                )
            )
            lists[name] = (value, None)

    value, methods = lists["Access-Control-Allow-Methods"]
    method = _method(request)
    star = "*" in (methods or ()) and not request.credentials
    if methods is not None and method not in methods and method not in _SAFELISTED_METHODS and not star:
        note = " (* does not count with credentials)" if "*" in methods else ""
        hint = (
            f"write the method in capitals in fetch() (method: '{method.upper()}'): browsers uppercase only "
            "GET, HEAD, POST, PUT, DELETE and OPTIONS, and this list is case-sensitive"
            if method != method.upper()
            else f"allow it: CORS(app, supports_credentials=True, origins='*', methods=['GET', '{method}']) "
            "and add it to @app.route's methods"
        )
        problems.append(
            stage.problem(
                "method-not-allowed", f"to list {method} in Access-Control-Allow-Methods{note}", _seen(value), hint
            )
        )

    value, names = lists["Access-Control-Allow-Headers"]
    if names is not None:
        allowed = {n.lower() for n in names}
        for name in _unique(n for n, _ in _unsafe(_author_headers(request))):
            lower = name.lower()
            if lower in allowed or ("*" in allowed and not request.credentials and lower != "authorization"):
                continue
            note = (
                ""
                if "*" not in allowed
                else " (* never covers Authorization)"
                if lower == "authorization"
                else " (* does not count with credentials)"
            )
            problems.append(
                stage.problem(
                    "header-not-allowed",
                    f"to list {name} in Access-Control-Allow-Headers{note}",
                    _seen(value),
                    f"name it: drop allow_headers from CORS(...) so flask-cors allows the requested headers, "
                    f"or use allow_headers=['{name}']",
                )
            )
    return problems


def _why(request: CorsRequest) -> str:
    """Why the browser sends a preflight, for students who never asked for one."""
    method = _method(request)
    reasons = [] if method in _SAFELISTED_METHODS else [f"the {method} method"]
    unsafe = _unsafe(_author_headers(request))
    if unsafe:
        lines = " and ".join(f"{n}: {v}" for n, v in unsafe)
        reasons.append(f"the {lines} header{'s' if len(unsafe) > 1 else ''}")
    return f'; the browser sends this OPTIONS "preflight" before the {method} because of {" and ".join(reasons)}'


def _vary_warning(request: CorsRequest, answer: Answer) -> list[str]:
    """An answer that echoes one origin must say Vary: Origin, or a cache may serve it to another page."""
    origin = _get(answer, "Access-Control-Allow-Origin")
    vary = _get(answer, "Vary")
    tokens = {t.lower() for t in _items(vary or "")[0]}
    if origin is None or origin == "*" or tokens & {"origin", "*"}:
        return []
    return [
        f'expected the {_method(request)} answer, which echoes Access-Control-Allow-Origin: "{origin}", '
        f"to have Vary: Origin, saw {_seen(vary)}; a cache could hand it to a page on another origin "
        f"(`{_SETUP}` adds Vary: Origin)"
    ]


def plain_words(text: str, explained: set[str]) -> str:
    """``text``, and in brackets a plain clause for each CORS word it uses that is not in ``explained`` yet.

    The words are then added to ``explained``: a report explains each word
    once, where it first appears.
    """
    clauses = []
    for word, clause in GLOSSARY:
        if word in text and word not in explained:
            explained.add(word)
            clauses.append(clause)
    return f"{text} ({'; '.join(clauses)})" if clauses else text


def judge(request: CorsRequest, preflight: Answer | None, response: Answer | None) -> Verdict:
    """Judge the preflight (when one is needed) and the actual answer as the browser would.

    ``preflight`` is ignored when no preflight is needed; a missing answer is a
    problem of its stage.  The stages are judged independently, so a student
    sees everything to fix, not only the browser's first complaint.
    """
    needed = needs_preflight(request)
    method = _method(request)
    problems: list[CorsProblem] = []
    if needed:
        stage = _Stage("preflight", 'the OPTIONS "preflight" answer', _why(request))
        if preflight is None:
            problems.append(
                CorsProblem(
                    "preflight",
                    "no-preflight-answer",
                    f'expected an answer to the OPTIONS "preflight", saw none{stage.why}',
                    f"check that the server still runs; with `{_SETUP}` flask-cors answers OPTIONS by itself",
                )
            )
        else:
            problems += _cors_check(request, preflight, stage)
            problems += _preflight_rules(request, preflight, stage)
    if response is None:
        problems.append(
            CorsProblem(
                "response",
                "no-response-answer",
                f"expected an answer to the {method} request, saw none",
                "check that the server still runs and look for a traceback in its output",
            )
        )
        warnings: list[str] = []
    else:
        problems += _cors_check(request, response, _Stage("response", f"the {method} answer"))
        warnings = _vary_warning(request, response)
    return Verdict(needed, tuple(problems), tuple(warnings))
