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
def cors(client, rubric):
    """The lesson page's cross-origin fetch, sent as a browser sends it, and the verdict on it."""
    from grader.cors import Answer, CorsRequest, judge, needs_preflight, preflight_headers, request_headers

    request = CorsRequest(origin=rubric.origin)
    preflight = None
    if needs_preflight(request):
        answer = client.options(rubric.api_path, headers=preflight_headers(request))
        preflight = Answer(answer.status, answer.header_map())
    answer = client.get(rubric.api_path, headers=request_headers(request))
    return judge(request, preflight, Answer(answer.status, answer.header_map()))
