"""CORS, judged as a browser judges the lesson's page on another origin.

The page calls fetch(url, {mode: 'cors', credentials: 'include',
headers: {'Content-Type': 'application/json'}}): the JSON Content-Type makes
the browser send an OPTIONS preflight first, and credentials forbid `*`.

PYTEST_DONT_REWRITE: these checks raise Failure instead of using assert, so
they need no assertion rewriting, which would cost every run a recompile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from grader import Failure
from grader.check.cors import plain_words
from grader.check.hints import cors_advice

if TYPE_CHECKING:
    from grader.check.cors import CorsProblem, Verdict
    from grader.find.source import Source
    from grader.rubric import Rubric
    from grader.run.server import Route


def _fail(
    problems: tuple[CorsProblem, ...],
    rubric: Rubric,
    code: Source,
    routes: list[Route],
    explained: set[str],
    same_as: tuple[CorsProblem, ...] = (),
) -> None:
    """Fail with the first problem, its hint read from the student's CORS setup when it explains it.

    ``same_as``: the preflight's problems, when judging the GET's answer.  A
    GET that fails for the same reason as the preflight says so, rather than
    giving the same hint a second time.
    """
    if not problems:
        return
    first = problems[0]
    detail = "\n".join(p.message for p in problems)
    if same_as and {p.code for p in problems} <= {p.code for p in same_as}:
        raise Failure(
            plain_words(first.message, explained),
            "because of cors.preflight: the change that fixes it fixes this too",
            detail=detail,
        )
    advice = cors_advice(first, rubric.origin, code, rubric.api_path, routes)
    message, hint = first.message, first.hint
    if advice is not None:
        message, hint = f"{message}: {advice.why}", advice.hint
    raise Failure(
        plain_words(message, explained),
        plain_words(hint, explained),
        detail=detail,
        file=advice.file if advice else None,
        line=advice.line if advice else None,
    )


@pytest.mark.check("cors.preflight", depends=("api.status",))
def test_preflight_allows_the_page(
    cors: Verdict, rubric: Rubric, code: Source, routes: list[Route], explained: set[str]
) -> None:
    """the browser's preflight (OPTIONS) allows the page's request"""
    _fail(cors.at("preflight"), rubric, code, routes, explained)


@pytest.mark.check("cors.response", depends=("api.status",))
def test_response_shared_with_the_page(
    cors: Verdict,
    rubric: Rubric,
    code: Source,
    routes: list[Route],
    explained: set[str],
    warn: Callable[[str], None],
) -> None:
    """the browser lets the page read the answer (with credentials)"""
    for warning in cors.warnings:
        warn(warning)
    _fail(cors.at("response"), rubric, code, routes, explained, same_as=cors.at("preflight"))
