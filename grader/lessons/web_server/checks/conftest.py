"""Answers shared by several checks, fetched once per run.

PYTEST_DONT_REWRITE: these checks raise Failure instead of using assert, so
they need no assertion rewriting, which would cost every run a recompile.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def home(client):
    return client.get("/")


@pytest.fixture(scope="session")
def api(client, rubric):
    return client.get(rubric.api_path)


@pytest.fixture(scope="session")
def browser(grading):
    """Headless Chromium for the browser checks: the batch's shared one, or one launched for this run only."""
    shared = getattr(grading.options, "browser", None)
    if shared is not None:
        yield shared
        return
    from grader.check.browser import Browser

    with Browser() as own:  # launched at its first visit, stopped when the run ends
        yield own


@pytest.fixture(scope="session")
def cors(client, rubric):
    """The lesson page's cross-origin fetch, sent as a browser sends it, and the verdict on it.

    With several origins (a rubric's ``origins``) the fetch is sent from each;
    each stage reports the first origin it fails for, so the check ids stay the same.
    """
    from dataclasses import replace

    from grader.check.cors import (
        Answer,
        CorsRequest,
        Verdict,
        judge,
        needs_preflight,
        preflight_headers,
        request_headers,
    )

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
    problems = []
    for stage in ("preflight", "response"):
        origin, failing = next(((o, v.at(stage)) for o, v in verdicts if v.at(stage)), (None, ()))
        problems += [replace(p, message=f"{p.message} (the page on {origin})") for p in failing]
    warnings = dict.fromkeys(w for _, v in verdicts for w in v.warnings)
    return Verdict(verdicts[0][1].preflight_needed, tuple(problems), tuple(warnings))
