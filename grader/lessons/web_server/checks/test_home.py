"""The home page: the lesson's `@app.route('/')`.

PYTEST_DONT_REWRITE: these checks raise Failure instead of using assert, so
they need no assertion rewriting, which would cost every run a recompile.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from grader import Failure
from grader.check import hints
from grader.check.html_text import read_page

if TYPE_CHECKING:
    from grader.check.client import Client, Reply
    from grader.find.source import Source
    from grader.run.server import Route


@pytest.mark.check("home.status")
def test_home_answers_html(home: Reply, routes: list[Route], code: Source) -> None:
    """GET / answers 200 with an HTML page"""
    if home.status != 200:
        expected = f"expected GET / to answer 200, saw {home.status_text}"
        if home.status == 404:
            advice = hints.unserved(code, routes, "/")
            hint = "add a home page: @app.route('/') above a function that returns HTML"
        elif home.status == 405:
            advice = hints.wrong_method(code, routes, "/")
            hint = "let the home route answer GET, the method a browser uses"
        else:
            advice = hints.other_status(code, routes, "/", home.status)
            hint = "return the page's HTML from the home route, with no status after it"
        if advice is not None:
            raise Failure(
                f"{expected}: {advice.why}", advice.hint, detail=home.text, file=advice.file, line=advice.line
            )
        raise Failure(expected, hint, detail=home.text)
    mimetype = home.mimetype
    if mimetype != "text/html":
        raise Failure(
            f"expected GET / to answer with Content-Type text/html, saw {mimetype or 'no Content-Type'}",
            "return an HTML string from the home route (Flask sends it as text/html), not jsonify(...)",
            detail=home.text,
        )


@pytest.mark.check("home.html", depends=("home.status",))
def test_home_has_title_and_text(home: Reply) -> None:
    """the home page has a <title> and visible text"""
    page = read_page(home.text)
    if not page.title:
        seen = "an empty <title></title>" if page.title == "" else "no <title>"
        raise Failure(
            f"expected the home page to have a <title>, saw {seen}",
            "put <head><title>My Server</title></head> at the top of the HTML you return",
            detail=home.text,
        )
    if not page.text:
        raise Failure(
            "expected the home page to show some text, saw none in its <body>",
            "add a heading to the body, like <h2>Hello, World!</h2>",
            detail=home.text,
        )


@pytest.mark.check("home.not_found")
def test_unknown_page_is_404(client: Client, routes: list[Route]) -> None:
    """an unknown page answers 404 Not Found"""
    path = f"/unknown-page-{uuid.uuid4().hex[:8]}"
    answer = client.get(path)
    if answer.status != 404:
        catch_all = [r for r in routes if "<path:" in r.rule or r.rule.startswith("/<")]
        hint = (
            f"the route {catch_all[0].rule} answers every path: remove it, or call abort(404) for unknown names"
            if catch_all
            else "let Flask answer 404 for pages your app does not define"
        )
        raise Failure(
            f"expected GET {path} to answer 404, saw {answer.status} {answer.reason}",
            hint,
            detail=answer.text,
            file=catch_all[0].file if catch_all else None,
            line=catch_all[0].line if catch_all else None,
        )
