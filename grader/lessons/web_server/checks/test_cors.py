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

if TYPE_CHECKING:
    from grader.check.cors import CorsProblem, Verdict


def _fail(problems: tuple[CorsProblem, ...]) -> None:
    if problems:
        first = problems[0]
        raise Failure(first.message, first.hint, detail="\n".join(p.message for p in problems))


@pytest.mark.check("cors.preflight", depends=("api.status",))
def test_preflight_allows_the_page(cors: Verdict) -> None:
    """the browser's preflight (OPTIONS) allows the page's request"""
    _fail(cors.at("preflight"))


@pytest.mark.check("cors.response", depends=("api.status",))
def test_response_shared_with_the_page(cors: Verdict, warn: Callable[[str], None]) -> None:
    """the browser lets the page read the answer (with credentials)"""
    for warning in cors.warnings:
        warn(warning)
    _fail(cors.at("response"))
