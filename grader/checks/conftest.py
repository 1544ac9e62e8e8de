"""Answers shared by several checks, fetched once per run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def home(http):
    return http.get("/")


@pytest.fixture(scope="session")
def api(http, rubric):
    return http.get(rubric.api_path)


@pytest.fixture(scope="session")
def cors(http, rubric):
    """The lesson page's cross-origin fetch, sent as a browser sends it, and the verdict on it."""
    from grader.cors import Answer, CorsRequest, judge, needs_preflight, preflight_headers, request_headers

    request = CorsRequest(origin=rubric.origin)
    preflight = None
    if needs_preflight(request):
        answer = http.options(rubric.api_path, headers=preflight_headers(request))
        preflight = Answer(answer.status_code, dict(answer.headers))
    answer = http.get(rubric.api_path, headers=request_headers(request))
    return judge(request, preflight, Answer(answer.status_code, dict(answer.headers)))
