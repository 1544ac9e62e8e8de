"""The JSON API the lesson's page fetches: `GET /api/data`.

PYTEST_DONT_REWRITE: these checks raise Failure instead of using assert, so
they need no assertion rewriting, which would cost every run a recompile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from grader import Failure, NotGraded
from grader.check import hints
from grader.check.schema import load_schema
from grader.lessons.web_server.people import check_people

if TYPE_CHECKING:
    from grader.check.client import Client, Reply
    from grader.find.source import Source
    from grader.rubric import Rubric
    from grader.run.server import Route

#: Why the lesson's page needs exactly 200: its script checks `response.status !== 200`.
PAGE_NEEDS_200 = "the lesson's page draws rows only from a 200 answer"


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")


@pytest.mark.check("api.status")
def test_api_answers(api: Reply, rubric: Rubric, routes: list[Route], code: Source) -> None:
    """GET /api/data answers 200"""
    path = rubric.api_path
    if api.status == 200:
        return
    expected = f"expected GET {path} to answer 200, saw {api.status_text}"
    if api.status == 404:
        advice = hints.unserved(code, routes, path)
        if advice is not None:
            raise Failure(f"{expected}: {advice.why}", advice.hint, file=advice.file, line=advice.line)
        others = [r for r in routes if r.rule != "/" and "<" not in r.rule]
        if others:
            near = sorted(others, key=lambda r: (not r.rule.startswith("/api"), r.rule))[0]
            raise Failure(
                expected,
                f"your server answers {near.rule}, but the page fetches {path}: "
                f"change the route to @app.route('{path}')",
                file=near.file,
                line=near.line,
            )
        raise Failure(expected, f"add a route @app.route('{path}') that returns jsonify(...) of your records")
    location = api.header("Location") or ""
    if 300 <= api.status < 400:
        advice = hints.redirected(code, routes, path, api.status, location)
        fallback = f"answer {path} itself, with jsonify(...) of your records: the page's fetch does not follow " + (
            f"the redirect to {location}" if location else "a redirect"
        )
    elif api.status == 405:
        advice = hints.wrong_method(code, routes, path)
        fallback = f"let the route for {path} answer GET, the method the page uses"
    else:
        advice = hints.other_status(code, routes, path, api.status)
        fallback = (
            f"return jsonify(...) of your records with no status after it ({PAGE_NEEDS_200})"
            if api.status < 500
            else "read what the server printed while answering (webgrade check -v shows it)"
        )
    if advice is not None:
        why = f"{advice.why}; {PAGE_NEEDS_200}" if 200 <= api.status < 300 else advice.why
        raise Failure(f"{expected}: {why}", advice.hint, detail=api.text, file=advice.file, line=advice.line)
    raise Failure(expected, fallback, detail=api.text)


@pytest.mark.check("api.json", depends=("api.status",))
def test_api_is_json(api: Reply, rubric: Rubric) -> None:
    """GET /api/data answers with JSON"""
    mimetype = api.mimetype
    if mimetype != "application/json":
        raise Failure(
            f"expected GET {rubric.api_path} to answer with Content-Type application/json, "
            f"saw {mimetype or 'no Content-Type'}: {_snippet(api.text)}",
            "return jsonify(InfoDb) from the route, not a string",
            detail=api.text,
        )
    try:
        api.json()
    except ValueError:
        raise Failure(
            f"expected valid JSON from GET {rubric.api_path}, saw {_snippet(api.text)}",
            "build a Python list of dictionaries and return jsonify(that_list)",
            detail=api.text,
        ) from None


@pytest.mark.check("api.schema", depends=("api.json",))
def test_api_records_match_schema(
    api: Reply, rubric: Rubric, client: Client, code: Source, warn: Callable[[str], None], told: set[str]
) -> None:
    """the records have FirstName, LastName, DOB, Residence, Email and Owns_Cars"""
    growing = _grows(api, client, rubric.api_path, code)
    if growing:
        warn(growing)
        told.add(hints.GROWING_LIST)
    problems = check_people(api.json(), load_schema(rubric.schema_path, rubric.min_records))
    if problems:
        first = problems[0]
        more = (
            f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''}: see -v)"
            if len(problems) > 1
            else ""
        )
        raise Failure(first.message + more, first.hint, detail="\n".join(p.message for p in problems))


def _grows(api: Reply, client: Client, path: str, code: Source) -> str:
    """A warning when the list grows on every request ("" when a second GET gives as many records)."""
    first = api.json()
    try:
        again = client.get(path)
        second = again.json() if again.status == 200 else None
    except (Failure, NotGraded, ValueError):
        return ""
    if not isinstance(first, list) or not isinstance(second, list) or len(second) <= len(first):
        return ""
    seen = f"GET {path} answered {len(first)} records, then {len(second)} when asked again"
    advice = hints.growing_list(code, path)
    if advice is None:
        return (
            f"the list grows on every request ({seen}): make the list inside the route's function, "
            "so each request starts from an empty one"
        )
    return f"the list grows on every request ({seen}): {advice.why}; {advice.hint}"
