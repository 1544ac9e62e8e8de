"""The pytest plugin (pytest11 entry point ``webgrade``): options, the ``check`` marker, and fixtures.

Checks are ordinary pytest tests.  An instructor writes one the way they
already write tests::

    import pytest

    @pytest.mark.check("api.names", points=2)
    def test_names_are_capitalised(http):
        '''every FirstName starts with a capital letter'''
        for record in http.get("/api/data").json():
            assert record["FirstName"][:1].isupper(), f"expected a capital, saw {record['FirstName']!r}"

Fixtures: ``grading`` (the whole run), ``server`` (the running server),
``base_url``, ``http`` (a requests session bound to the server), ``client``
(a lighter one, used by the built-in checks), ``routes`` (the app's URL map),
``rubric``, and ``warn`` (attach a warning to a check).

Outside ``webgrade check``, ``pytest --webgrade PATH`` starts the submission's
server for the session, so instructors can develop checks with plain pytest.
Inside it, ``grader.check.runner`` runs the checks and ``grader.check.collector``
turns each one's outcome into a result.

pytest loads this module into every session on a machine where webgrade is
installed, so it imports only what a fixture needs, when it needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader.check.collector import GRADING, WARNINGS
from grader.failures import NotGraded

if TYPE_CHECKING:
    import requests

    from grader.check.client import Client
    from grader.grade import Grading
    from grader.rubric import Rubric
    from grader.run.server import Route, Server


def pytest_addoption(parser: pytest.Parser) -> None:
    """The options of ``pytest --webgrade PATH``, for instructors trying their checks."""
    group = parser.getgroup("webgrade")
    group.addoption("--webgrade", metavar="PATH", help="start this submission's server for the checks")
    group.addoption("--webgrade-entry", metavar="FILE", help="the file to run, when PATH is a folder")
    group.addoption("--webgrade-timeout", type=float, default=20.0, help="seconds the server may take to start")
    group.addoption("--webgrade-rubric", metavar="FILE", help="the rubric (webgrade.toml) the checks see")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``check`` marker; with ``--webgrade PATH``, start that submission's server for the session."""
    config.addinivalue_line(
        "markers",
        "check(id, points=None, depends=(), hidden=False): a graded check with a stable id and its points",
    )
    path = config.getoption("--webgrade", default=None)
    if path and GRADING not in config.stash:
        # Imported only for --webgrade: plain pytest sessions load this plugin too and need none of it.
        from grader import rubric as rubrics
        from grader.find.submission import find_submission
        from grader.grade import Grading, Options

        submission = find_submission(Path(path), config.getoption("--webgrade-entry"))
        rubric_file = config.getoption("--webgrade-rubric")
        try:
            rubric = rubrics.load(Path(rubric_file)) if rubric_file else rubrics.Rubric()
        except rubrics.RubricError as error:
            raise pytest.UsageError(str(error)) from None
        grading = Grading(submission, rubric, Options(timeout=config.getoption("--webgrade-timeout")))
        grading.start()
        config.stash[GRADING] = grading
        config.add_cleanup(grading.stop)


# --- fixtures ---


@pytest.fixture(scope="session")
def grading(request: pytest.FixtureRequest) -> Grading:
    """The submission being graded (its server, rubric and options)."""
    try:
        return request.config.stash[GRADING]
    except KeyError:
        pytest.skip("no submission: run with `webgrade check` or `pytest --webgrade PATH`")


@pytest.fixture(scope="session")
def server(grading: Grading) -> Server:
    """The student's running server; checks that use it are not graded if it did not start."""
    problem = grading.problem()
    if problem is not None:
        raise NotGraded("not graded: the server did not start (see server.start)", problem.hint)
    return grading.server


@pytest.fixture(scope="session")
def rubric(grading: Grading) -> Rubric:
    """The assignment's rubric (grader.rubric.Rubric): api_path, origins, schema, min_records, points."""
    return grading.rubric


@pytest.fixture(scope="session")
def base_url(server: Server) -> str:
    """The server's address, like ``http://127.0.0.1:PORT``."""
    return server.base_url


@pytest.fixture(scope="session")
def client(server: Server, rubric: Rubric) -> Client:
    """A light HTTP client bound to the server: ``client.get("/")`` returns a Reply."""
    from grader.check.client import Client

    return Client(server.host, server.port, timeout=rubric.request_timeout, server=server)


@pytest.fixture(scope="session")
def http(server: Server, rubric: Rubric) -> Iterator[requests.Session]:
    """A requests session bound to the server: ``http.get("/api/data")``."""
    from grader.check.client import session

    with session(server.base_url, timeout=rubric.request_timeout, server=server) as http_session:
        yield http_session


@pytest.fixture(scope="session")
def routes(server: Server) -> list[Route]:
    """The routes the student's app defines (rule, endpoint, methods, file, line)."""
    return server.routes


@pytest.fixture
def warn(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``warn(text)`` attaches a warning to this check without failing it."""
    warnings: list[str] = request.node.stash.setdefault(WARNINGS, [])
    return warnings.append
