"""The JSON API the lesson's page fetches: `GET /api/data`.

PYTEST_DONT_REWRITE: these checks raise Failure instead of using assert, so
they need no assertion rewriting, which would cost every run a recompile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from grader import Failure
from grader.check.schema import load_schema
from grader.lessons.web_server.people import check_people

if TYPE_CHECKING:
    from grader.check.client import Reply
    from grader.rubric import Rubric
    from grader.run.server import Route


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")


@pytest.mark.check("api.status")
def test_api_answers(api: Reply, rubric: Rubric, routes: list[Route]) -> None:
    """GET /api/data answers 200"""
    path = rubric.api_path
    if api.status == 200:
        return
    if api.status == 404:
        others = [r for r in routes if r.rule != "/" and "<" not in r.rule]
        if others:
            near = sorted(others, key=lambda r: (not r.rule.startswith("/api"), r.rule))[0]
            raise Failure(
                f"expected GET {path} to answer 200, saw 404 Not Found",
                f"your server answers {near.rule}, but the page fetches {path}: "
                f"change the route to @app.route('{path}')",
                file=near.file,
                line=near.line,
            )
        raise Failure(
            f"expected GET {path} to answer 200, saw 404 Not Found",
            f"add a route @app.route('{path}') that returns jsonify(...) of your records",
        )
    raise Failure(
        f"expected GET {path} to answer 200, saw {api.status} {api.reason}",
        "run the server yourself, open the page in a browser and read the error the server prints",
        detail=api.text,
    )


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
def test_api_records_match_schema(api: Reply, rubric: Rubric) -> None:
    """the records have FirstName, LastName, DOB, Residence, Email and Owns_Cars"""
    problems = check_people(api.json(), load_schema(rubric.schema_path, rubric.min_records))
    if problems:
        first = problems[0]
        more = (
            f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''}: see -v)"
            if len(problems) > 1
            else ""
        )
        raise Failure(first.message + more, first.hint, detail="\n".join(p.message for p in problems))
