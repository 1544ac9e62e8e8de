"""Next steps read from the student's own code: which line to change, and how.

A check knows what it saw (a 308, a 405, no ``Access-Control-Allow-Origin``);
the student's source (:mod:`grader.find.source`) and the app's URL map say
why, in their terms: the route that ends with a slash, the ``methods=['POST']``,
the ``app.run()`` above the route, the ``origins`` that leave out the page.
Every function here returns an :class:`Advice` (or None when the code does not
explain it, and the check keeps its own words).  Lesson-independent: the
caller says what its page needs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from grader.find.source import UNKNOWN, CorsSetup, HeaderSet, RouteDef, Source

if TYPE_CHECKING:
    from grader.check.cors import CorsProblem
    from grader.run.server import Route

#: The options flask-cors knows (CORS(...) and @cross_origin(...)); it ignores any other name.
FLASK_CORS_OPTIONS = (
    "resources",
    "origins",
    "methods",
    "expose_headers",
    "allow_headers",
    "supports_credentials",
    "max_age",
    "send_wildcard",
    "vary_header",
    "automatic_options",
    "always_send",
    "allow_private_network",
    "intercept_exceptions",
)
#: What the lesson writes: the setup a hint may compare with.
LESSON_SETUP = "CORS(app, supports_credentials=True, origins='*')"


@dataclass(frozen=True)
class Advice:
    """Why, from the student's code, and the one change to make there."""

    why: str
    hint: str
    file: str | None = None
    line: int | None = None


def _decorator(route: RouteDef) -> str:
    return f"@{route.text}"


# --- routes: a status other than 200, a route that is written but not served ---


def served_rules(routes: Sequence[Route]) -> set[str]:
    return {r.rule for r in routes}


def unserved(code: Source, routes: Sequence[Route], path: str) -> Advice | None:
    """Why ``path``'s route, written in the file, is not in the app that answers."""
    if path in served_rules(routes):
        return None
    written = code.routes_for(path)
    if not written:
        return None
    route = written[0]
    where = code.where(route.line)
    run = next((r for r in code.runs if r.top_level and r.line < route.line), None)
    if run is not None:
        return Advice(
            f"`{run.text}` on line {run.line} starts the server and does not return while it serves, "
            f"so Python never reaches {_decorator(route)} ({where}) below it",
            f"move `{run.text}` to the very end of {code.file}, under `if __name__ == '__main__':`",
            code.file,
            run.line,
        )
    made = code.app_made_before(route.app, route.line)
    later = code.app_made_after(route.app, route.line)
    if later is not None:
        first = f"the app made on line {made.line}" if made is not None else f"the first {route.app}"
        return Advice(
            f"{_decorator(route)} ({where}) adds the route to {first}, but line {later.line} makes a new "
            f"`{route.app} = Flask(__name__)`, which replaces it: the new app, without this route, is the one served",
            f"delete line {later.line} ({code.line_text(later.line)}): one `{route.app} = Flask(__name__)`, "
            "at the top, is enough",
            code.file,
            later.line,
        )
    if code.apps and route.app not in {a.name for a in code.apps}:
        served = code.apps[-1].name
        return Advice(
            f"{_decorator(route)} ({where}) adds the route to {route.app}, not to {served}, the app that is served",
            f"write @{served}.{route.text.split('.', 1)[-1]} on line {route.line}",
            code.file,
            route.line,
        )
    if not route.top_level:
        return Advice(
            f"{_decorator(route)} ({where}) is inside a block or a function that had not run when the server started",
            f"move {_decorator(route)} and its function to the top level of {code.file}, before app.run()",
            code.file,
            route.line,
        )
    return None


def _route_of(code: Source, routes: Sequence[Route], path: str) -> RouteDef | None:
    """The route that serves ``path`` as written in the file (one ending with "/" too)."""
    for rule in (path, path.rstrip("/") + "/"):
        written = code.routes_for(rule)
        if written and rule in served_rules(routes):
            return written[-1]
    written = code.routes_for(path)
    return written[-1] if written else None


def redirected(code: Source, routes: Sequence[Route], path: str, status: int, location: str) -> Advice | None:
    """A 3xx: Flask's redirect to the path with a slash, or the student's own redirect()."""
    slash = path.rstrip("/") + "/"
    target = urlsplit(location).path if location else ""
    if slash != path and (target == slash or slash in served_rules(routes)):
        written = code.routes_for(slash)
        route = written[-1] if written else None
        decorator = _decorator(route) if route else f"@app.route('{slash}')"
        where = f" ({code.where(route.line)})" if route else ""
        fixed = f"@{route.text.replace(repr(slash), repr(path))}" if route else f"@app.route({path!r})"
        return Advice(
            f"the route {decorator}{where} ends with a slash, so Flask answers {path} with a redirect "
            f"to {slash}; a browser follows it in a tab, but the page's cross-origin fetch does not "
            "(its preflight may not be redirected)",
            f"remove the last slash: {fixed}" + (f" on line {route.line}" if route else ""),
            code.file if route else None,
            route.line if route else None,
        )
    return _returns_status(code, routes, path, status)


def wrong_method(code: Source, routes: Sequence[Route], path: str, method: str = "GET") -> Advice | None:
    """A 405: the route exists, for other methods only."""
    route = _route_of(code, routes, path)
    served = next((r for r in routes if r.rule == path), None)
    methods = (route.methods if route else None) or (served.methods if served else ())
    if route is None and served is None:
        return None
    listed = ", ".join(methods) or "other methods"
    decorator = _decorator(route) if route else f"the route {path}"
    where = f" ({code.where(route.line)})" if route else ""
    return Advice(
        f"{decorator}{where} accepts only {listed}, and the page sends {method}",
        f"write @app.route('{path}') on line {route.line if route else '?'}: {method} is the default"
        if route and route.methods
        else f"let {decorator} accept {method}",
        code.file if route else None,
        route.line if route else None,
    )


def _returns_status(code: Source, routes: Sequence[Route], path: str, status: int) -> Advice | None:
    """A ``return ..., 201`` or ``abort(403)`` in the route's function that gives this status."""
    route = _route_of(code, routes, path)
    function = code.function(route.function) if route else None
    if route is None or function is None:
        return None
    name = f"{function.name} ({code.where(function.line)})"
    for returned in function.returns:
        if returned.status == status:
            return Advice(
                f"the function {name} returns status {status} on line {returned.line} (`{returned.text}`)",
                f"leave the {status} out of the return on line {returned.line}: without it, Flask answers 200",
                code.file,
                returned.line,
            )
    for aborted, line in function.aborts:
        if aborted == status:
            return Advice(
                f"the function {name} calls abort({status}) on line {line}",
                f"answer the page's plain GET with the data: look at why line {line} runs",
                code.file,
                line,
            )
    return None


def other_status(code: Source, routes: Sequence[Route], path: str, status: int) -> Advice | None:
    """Any status but 200, 3xx, 404 and 405, explained from the route's function when it sets it."""
    return _returns_status(code, routes, path, status)


#: The name :func:`growing_list`'s cause goes by among the causes a report has explained.
GROWING_LIST = "growing list"


def growing_list(code: Source, path: str) -> Advice | None:
    """Why ``path`` answers more records each time: its function adds them to a list made outside it."""
    functions = {r.function for r in code.routes_for(path)} or {r.function for r in code.routes}
    shared = next((s for s in code.shared_lists if s.function in functions), None)
    if shared is None:
        return None
    return Advice(
        f"{shared.name} is made outside {shared.function} ({code.where(shared.line)}), so every request "
        f"adds its records (line {shared.added}) to the same list again",
        f"make the list inside the function: move `{code.line_text(shared.line)}` into {shared.function}, "
        "so each request starts from an empty list",
        code.file,
        shared.line,
    )


# --- CORS: which part of the student's setup does not allow the page's request ---


def _probably_regex(pattern: str) -> bool:
    return any(c in pattern for c in "*\\]?$^[]()")


def _matches(value: str, pattern: Any, case_sensitive: bool) -> bool:
    """flask-cors' matching: '*' is everything, a regex-looking string matches from the start, others exactly."""
    if not isinstance(pattern, str):
        return True  # a compiled pattern or something computed: not judged here
    if pattern == "*":
        return True
    if _probably_regex(pattern):
        try:
            return re.match(pattern, value, 0 if case_sensitive else re.IGNORECASE) is not None
        except re.error:
            return False
    return value == pattern if case_sensitive else value.casefold() == pattern.casefold()


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        return [value]
    return list(value)


def _resource_options(resources: Any, path: str) -> tuple[bool, dict[str, Any]]:
    """Whether ``resources`` covers ``path``, and that resource's own options (a dict's value)."""
    if isinstance(resources, dict):
        for pattern, options in resources.items():
            if _matches(path, pattern, True):
                return True, options if isinstance(options, dict) else {}
        return False, {}
    return any(_matches(path, p, True) for p in _as_list(resources)), {}


def _origin_allowed(origins: Any, origin: str) -> bool:
    return any(_matches(origin, o, False) for o in _as_list(origins))


def origin_difference(written: str, origin: str) -> str:
    """Why ``written`` is not ``origin`` to a browser, in one clause ("" when no single reason shows)."""
    try:
        a, b = urlsplit(written), urlsplit(origin)
        ports = (a.port, b.port)
    except ValueError:
        return ""
    hosts = {a.hostname, b.hostname}
    if hosts == {"localhost", "127.0.0.1"}:
        return "to a browser, localhost and 127.0.0.1 are different origins, even on the same computer"
    if a.path not in ("",) and (a.scheme, a.netloc) == (b.scheme, b.netloc):
        return "an origin has no path, not even a final /"
    if a.scheme != b.scheme and a.netloc == b.netloc:
        return f"{a.scheme} and {b.scheme} are different origins"
    if a.hostname == b.hostname and ports[0] != ports[1]:
        return f"the ports differ ({ports[0] or 'none'} is not {ports[1] or 'none'}), and a port is part of an origin"
    return ""


def _with_option(setup: CorsSetup, text: str) -> str:
    """The setup's call with one more keyword: `CORS(app, origins='*', supports_credentials=True)`."""
    call = setup.text.rstrip()
    if call.endswith(")"):
        inside = call[call.index("(") + 1 : -1].strip() if "(" in call else ""
        return f"{call[:-1]}{', ' if inside else ''}{text})"
    return f"{call}({text})"


def cors_advice(
    problem: CorsProblem, origin: str, code: Source, path: str, routes: Sequence[Route] = ()
) -> Advice | None:
    """Which part of the student's CORS setup causes ``problem``; None when none is written or none explains it."""
    if not code.parsed:
        return None
    route = _route_of(code, routes, path)
    functions = {route.function} if route else set()
    decorators = [s for s in code.cors if s.kind == "cross_origin" and s.function in functions]
    calls = [s for s in code.cors if s.kind == "CORS"]
    hand = [h for h in code.headers if h.hook or h.function in functions]
    for decorator in decorators:
        if decorator.above_route is not None:
            text, line = decorator.above_route
            return Advice(
                f"@{decorator.text} ({code.where(decorator.line)}) is above @{text} (line {line}): decorators run "
                "from the bottom up, so Flask registers the function before cross_origin wraps it, and the "
                "answers get no CORS headers",
                f"move @{decorator.text} below @{text}, just above `def {decorator.function}`",
                code.file,
                decorator.line,
            )
    setup = decorators[0] if decorators else calls[0] if calls else None
    if setup is not None:
        advice = _setup_advice(problem, origin, setup, code, path, hand)
        if advice is not None:
            return advice
    if hand:
        advice = _hand_advice(problem, origin, hand, code, setup)
        if advice is not None:
            return advice
    if setup is not None:
        return Advice(
            f"your `{setup.text}` ({code.where(setup.line)}) does not allow it",
            f"compare it with the lesson's `{LESSON_SETUP}`",
            code.file,
            setup.line,
        )
    return None


def _setup_advice(
    problem: CorsProblem, origin: str, setup: CorsSetup, code: Source, path: str, hand: list[HeaderSet]
) -> Advice | None:
    call = f"`{setup.text}` ({code.where(setup.line)})"
    #: Where an option is quoted on its own, the call is named, not quoted again.
    yours = f"your {'CORS(...)' if setup.kind == 'CORS' else '@cross_origin(...)'} ({code.where(setup.line)})"
    found = problem.code
    unknown = [o for o in setup.options if o.name not in FLASK_CORS_OPTIONS]

    def misspelled(right: str) -> Advice | None:
        for option in unknown:
            if difflib.get_close_matches(option.name, [right], n=1, cutoff=0.75):
                return Advice(
                    f"{yours} spells an option {option.name}, which flask-cors does not know and ignores "
                    f"(the option is {right})",
                    f"write {right}={option.text} on line {option.line}",
                    code.file,
                    option.line,
                )
        return None

    if setup.kind == "CORS" and setup.target and found.startswith("allow-origin-missing"):
        later = code.app_made_after(setup.target, setup.line)
        if later is not None:
            return Advice(
                f"{call} sets up CORS for the app made before it, but line {later.line} makes a new "
                f"`{setup.target} = Flask(__name__)`, which replaces that app: the new one, without CORS, is served",
                f"delete line {later.line}: one `{setup.target} = Flask(__name__)`, at the top, is enough",
                code.file,
                later.line,
            )
    options = {o.name: o for o in setup.options}
    resource: dict[str, Any] = {}
    if "resources" in options and options["resources"].value is not UNKNOWN:
        covered, resource = _resource_options(options["resources"].value, path)
        if not covered and found == "allow-origin-missing":
            option = options["resources"]
            return Advice(
                f"resources={option.text} in {yours} does not match {path}, "
                "so flask-cors adds no headers to its answers",
                f"use resources={{r'/api/*': {{}}}} (which matches {path}), or leave resources out",
                code.file,
                option.line,
            )
    if found == "allow-origin-missing":
        origins_option = options.get("origins")
        origins = resource.get("origins", origins_option.value if origins_option else "*")
        if origins is not UNKNOWN and not _origin_allowed(origins, origin):
            text = origins_option.text if origins_option else repr(origins)
            line = origins_option.line if origins_option else setup.line
            reasons = [origin_difference(o, origin) for o in _as_list(origins) if isinstance(o, str)]
            reason = next((r for r in reasons if r), "")
            return Advice(
                f"origins={text} in {yours} leaves out the page's origin, {origin}"
                + (f": {reason}" if reason else "")
                + ", so flask-cors sends no Access-Control-Allow-Origin",
                f"add '{origin}' to origins on line {line}, or use origins='*' with supports_credentials=True "
                "(flask-cors then names the page's own origin)",
                code.file,
                line,
            )
    if found in ("allow-credentials-missing", "allow-credentials-not-true"):
        typo = misspelled("supports_credentials")
        if typo is not None:
            return typo
        given = options.get("supports_credentials")
        value = resource.get("supports_credentials", given.value if given else False)
        if given is None and "supports_credentials" not in resource:
            return Advice(
                f"{call} leaves out supports_credentials=True, so flask-cors never sends that header",
                f"add it on line {setup.line}: `{_with_option(setup, 'supports_credentials=True')}`",
                code.file,
                setup.line,
            )
        if value is not UNKNOWN and not value and given is not None:
            return Advice(
                f"{call} sets supports_credentials={given.text}",
                f"write supports_credentials=True on line {given.line}",
                code.file,
                given.line,
            )
    if found in ("header-not-allowed", "method-not-allowed"):
        methods = options.get("methods")
        if methods is not None and methods.value is not UNKNOWN:
            listed = [str(m).upper() for m in _as_list(methods.value)]
            if "GET" not in listed and not any("GET" in m for m in listed):
                return Advice(
                    f"methods={methods.text} in {yours} leaves out GET, the page's method, so flask-cors answers "
                    "the preflight without Access-Control-Allow-Methods and Access-Control-Allow-Headers",
                    f"add 'GET' to methods on line {methods.line}, or leave methods out",
                    code.file,
                    methods.line,
                )
        allowed = options.get("allow_headers")
        if found == "header-not-allowed" and allowed is not None and allowed.value is not UNKNOWN:
            if not any(_matches("content-type", h, False) for h in _as_list(allowed.value)):
                return Advice(
                    f"allow_headers={allowed.text} in {yours} leaves out Content-Type, which the page sends",
                    f"add 'Content-Type' to allow_headers on line {allowed.line}, or leave allow_headers out "
                    "(flask-cors then allows the headers the page asks for)",
                    code.file,
                    allowed.line,
                )
    if found == "allow-origin-wildcard":
        wildcard = options.get("send_wildcard")
        if wildcard is not None:
            return Advice(
                f"send_wildcard={wildcard.text} in {yours} makes flask-cors answer with *",
                f"delete send_wildcard={wildcard.text} on line {wildcard.line} and pass supports_credentials=True",
                code.file,
                wildcard.line,
            )
    if found == "allow-origin-multiple":
        own = next((h for h in hand if h.name.lower() == "access-control-allow-origin"), None)
        if own is not None:
            return Advice(
                f"{call} already sends Access-Control-Allow-Origin, and line {own.line} (in {own.function}) "
                "adds it a second time",
                f"delete line {own.line}: flask-cors sends that header for you",
                code.file,
                own.line,
            )
    return None


def _hand_advice(
    problem: CorsProblem, origin: str, hand: list[HeaderSet], code: Source, setup: CorsSetup | None
) -> Advice | None:
    """Headers written by hand (``response.headers[...] = ...``): the line that does not allow the request."""
    by_name: dict[str, list[HeaderSet]] = {}
    for header in hand:
        by_name.setdefault(header.name.lower(), []).append(header)
    allow_origin = by_name.get("access-control-allow-origin", [])
    credentials = by_name.get("access-control-allow-credentials", [])
    first = hand[0]
    found = problem.code
    if found == "allow-origin-missing" and allow_origin:
        header = allow_origin[0]
        if header.conditions and problem.stage == "preflight":
            test, line = header.conditions[-1]
            return Advice(
                f"your {header.function} (line {header.line}) adds Access-Control-Allow-Origin only "
                f"`{test}` (line {line}), and the preflight is an OPTIONS request, so its answer gets none",
                f"add the headers for every request: move them out of `{test}` (line {line})",
                code.file,
                line,
            )
        if not header.hook and problem.stage == "preflight":
            return Advice(
                f"the headers are set in {header.function} (line {header.line}), which answers only the GET; "
                "Flask answers the preflight (OPTIONS) by itself, without them",
                f"set them in an @app.after_request function instead, or use `{LESSON_SETUP}`",
                code.file,
                header.line,
            )
    if found == "allow-origin-wildcard" and allow_origin:
        header = next((h for h in allow_origin if h.value == "*"), allow_origin[0])
        return Advice(
            f"line {header.line} (in {header.function}) sets Access-Control-Allow-Origin to {header.value_text}",
            f"on line {header.line}, send the page's own origin instead of *: request.headers.get('Origin') "
            f"(or delete your header lines and use `{LESSON_SETUP}`)",
            code.file,
            header.line,
        )
    if found == "allow-origin-mismatch" and allow_origin:
        header = allow_origin[0]
        reason = origin_difference(header.value, origin) if isinstance(header.value, str) else ""
        return Advice(
            f"line {header.line} (in {header.function}) sets Access-Control-Allow-Origin to {header.value_text}"
            + (f": {reason}" if reason else ""),
            f"write '{origin}' on line {header.line}, exactly: scheme, host and port, no final /",
            code.file,
            header.line,
        )
    if found == "allow-origin-multiple" and len(allow_origin) > 1:
        lines = sorted({h.line for h in allow_origin})
        return Advice(
            f"Access-Control-Allow-Origin is added on lines {', '.join(map(str, lines))}, so the answer has it twice",
            f"keep one: delete line {lines[-1]}",
            code.file,
            lines[-1],
        )
    if found == "allow-credentials-missing" and not credentials and allow_origin:
        header = allow_origin[0]
        return Advice(
            f"your {header.function} sets Access-Control-Allow-Origin (line {header.line}) but not "
            "Access-Control-Allow-Credentials",
            f"add the header Access-Control-Allow-Credentials with the value 'true' next to line {header.line}",
            code.file,
            header.line,
        )
    if found == "allow-credentials-not-true" and credentials:
        header = credentials[0]
        return Advice(
            f"line {header.line} sets Access-Control-Allow-Credentials to {header.value_text}, which is not "
            "the lower-case text true",
            f"write 'true' (a string, lower case) on line {header.line}",
            code.file,
            header.line,
        )
    if found == "header-not-allowed" and "access-control-allow-headers" not in by_name:
        return Advice(
            f"your {first.function} (line {first.line}) sets no Access-Control-Allow-Headers, so the page may "
            "not send its Content-Type header",
            f"add the header Access-Control-Allow-Headers with the value 'Content-Type' next to line {first.line}",
            code.file,
            first.line,
        )
    return None
