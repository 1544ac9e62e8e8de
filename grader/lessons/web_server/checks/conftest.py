"""Answers shared by several checks, fetched once per run.

PYTEST_DONT_REWRITE: these checks raise Failure instead of using assert, so
they need no assertion rewriting, which would cost every run a recompile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from grader.check.browser import Browser
from grader.check.cors import (
    Answer,
    CorsProblem,
    CorsRequest,
    Verdict,
    judge,
    needs_preflight,
    preflight_headers,
    request_headers,
)

if TYPE_CHECKING:
    from grader.check.client import Client, Reply
    from grader.find.source import Source
    from grader.grade import Grading
    from grader.rubric import Rubric


@pytest.fixture(scope="session")
def code(grading: Grading) -> Source:
    """The facts of the student's file (its apps, routes, app.run, CORS setup), read with ast for the hints."""
    from grader.find.source import read

    return read(grading.submission.source, grading.submission.display_name)


@pytest.fixture(scope="session")
def explained() -> set[str]:
    """The CORS words already explained in this report (``grader.check.cors.plain_words``): each is, once."""
    return set()


@pytest.fixture(scope="session")
def told() -> set[str]:
    """Causes already explained in this report, by name: a later check that meets one says it in short."""
    return set()


@pytest.fixture(scope="session")
def home(client: Client) -> Reply:
    """The home page, ``GET /``."""
    return client.get("/")


@pytest.fixture(scope="session")
def api(client: Client, rubric: Rubric) -> Reply:
    """The API's answer, ``GET`` of the rubric's ``api_path``."""
    return client.get(rubric.api_path)


@pytest.fixture(scope="session")
def browser(grading: Grading) -> Iterator[Browser]:
    """Headless Chromium for the browser checks: the batch's shared one, or one launched for this run only."""
    shared = grading.options.browser
    if shared is not None:
        yield shared
        return
    with Browser() as own:  # launched at its first visit, stopped when the run ends
        yield own


@pytest.fixture(scope="session")
def cors(client: Client, rubric: Rubric) -> Verdict:
    """The lesson page's cross-origin fetch, sent as a browser sends it, and the verdict on it.

    With several origins (a rubric's ``origins``) the fetch is sent from each;
    each stage reports the first origin it fails for, so the check ids stay the same.
    """
    verdicts = []
    for origin in rubric.origins:
        request = CorsRequest(origin=origin)
        preflight = None
        if needs_preflight(request):
            answer = client.options(rubric.api_path, headers=preflight_headers(request))
            preflight = Answer(answer.status, answer.header_map())
        answer = client.get(rubric.api_path, headers=request_headers(request))
        verdicts.append((origin, judge(request, preflight, Answer(answer.status, answer.header_map()))))
    if len(verdicts) == 1:
        return verdicts[0][1]
    problems: list[CorsProblem] = []
    for stage in ("preflight", "response"):
        first, failing = next(((o, v.at(stage)) for o, v in verdicts if v.at(stage)), (None, ()))
        problems += [replace(p, message=f"{p.message} (the page on {first})") for p in failing]
    warnings = dict.fromkeys(w for _, v in verdicts for w in v.warnings)
    return Verdict(verdicts[0][1].preflight_needed, tuple(problems), tuple(warnings))
