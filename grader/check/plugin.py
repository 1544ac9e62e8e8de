"""The pytest plugin: fixtures for checks, the ``check`` marker, and result collection.

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
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from grader.failures import Failure, NotGraded
from grader.results import CheckResult
from grader.rubric import OPTIONAL, POINTS

GRADING = pytest.StashKey["object"]()
WARNINGS = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("webgrade")
    group.addoption("--webgrade", metavar="PATH", help="start this submission's server for the checks")
    group.addoption("--webgrade-entry", metavar="FILE", help="the file to run, when PATH is a folder")
    group.addoption("--webgrade-timeout", type=float, default=20.0, help="seconds the server may take to start")
    group.addoption("--webgrade-rubric", metavar="FILE", help="the rubric (webgrade.toml) the checks see")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "check(id, points=None, depends=(), hidden=False): a graded check with a stable id and its points",
    )
    path = config.getoption("--webgrade", default=None)
    if path and GRADING not in config.stash:
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
def grading(request: pytest.FixtureRequest):
    """The submission being graded (its server, rubric and options)."""
    try:
        return request.config.stash[GRADING]
    except KeyError:
        pytest.skip("no submission: run with `webgrade check` or `pytest --webgrade PATH`")


@pytest.fixture(scope="session")
def server(grading):
    """The student's running server; checks that use it are not graded if it did not start."""
    problem = grading.problem()
    if problem is not None:
        raise NotGraded("not graded: the server did not start (see server.start)", problem.hint)
    return grading.server


@pytest.fixture(scope="session")
def rubric(grading):
    """The assignment's rubric (grader.rubric.Rubric): api_path, origins, schema, min_records, points."""
    return grading.rubric


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return server.base_url


@pytest.fixture(scope="session")
def client(server, rubric):
    """A light HTTP client bound to the server: ``client.get("/")`` returns a Reply."""
    from grader.check.client import Client

    return Client(server.host, server.port, timeout=rubric.request_timeout, server=server)


@pytest.fixture(scope="session")
def http(server, rubric):
    """A requests session bound to the server: ``http.get("/api/data")``."""
    from grader.check.client import session

    with session(server.base_url, timeout=rubric.request_timeout, server=server) as http_session:
        yield http_session


@pytest.fixture(scope="session")
def routes(server):
    """The routes the student's app defines (rule, endpoint, methods, file, line)."""
    return server.routes


@pytest.fixture
def warn(request: pytest.FixtureRequest):
    """``warn(text)`` attaches a warning to this check without failing it."""
    return request.node.stash.setdefault(WARNINGS, []).append


# --- running the checks and collecting results ---


def _marker(item: pytest.Item) -> tuple[str, dict]:
    marker = item.get_closest_marker("check")
    if marker is None:
        return f"{Path(str(item.path)).stem.removeprefix('test_')}.{item.name.removeprefix('test_')}", {}
    check_id = marker.args[0] if marker.args else marker.kwargs.get("id", item.name)
    return check_id, marker.kwargs


def _name(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "obj", None), "__doc__", None)
    return doc.strip().splitlines()[0] if doc else item.name.removeprefix("test_").replace("_", " ")


class Collector:
    """Turns each pytest test into a CheckResult; knows nothing of how they are shown."""

    def __init__(self, grading) -> None:
        self.grading = grading
        self.results: dict[str, CheckResult] = {}
        self._outcome: dict[str, BaseException | None] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[GRADING] = self.grading
        config.option.tbstyle = "no"  # we read exceptions ourselves; formatting tracebacks is slow

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        off = [item for item in items if not self.grading.rubric.enabled(_marker(item)[0])]
        if off:  # optional checks the rubric does not name
            config.hook.pytest_deselected(items=off)
            items[:] = [item for item in items if item not in off]
        # Built-in checks in report order (their dependencies come first); instructor checks after, in file order.
        order = [*POINTS, *OPTIONAL]
        position = {id(item): n for n, item in enumerate(items)}

        def key(item: pytest.Item) -> tuple[int, int]:
            check_id = _marker(item)[0]
            return (order.index(check_id) if check_id in order else len(order), position[id(item)])

        items.sort(key=key)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            where = Path(str(report.fspath)).name
            self.results[f"collect.{where}"] = CheckResult(
                f"collect.{where}",
                f"checks in {where} could be loaded",
                "failed",
                0,
                1,
                f"expected the check file {where} to load, saw an error",
                "fix the check file (this is the instructor's file, not the student's)",
                detail=str(report.longrepr),
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        for dep in _marker(item)[1].get("depends", ()):
            result = self.results.get(dep)
            hidden = result is not None and result.hidden  # its id and message must not reach the student
            if result is not None and result.status == "not_graded" and not hidden:
                raise NotGraded(result.message, result.hint)  # the same reason, not a chain of them
            if result is None or result.status != "passed":
                raise NotGraded(f"not graded: it needs {'a hidden check' if hidden else dep} to pass first")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        if call.when in ("setup", "call"):  # "call" runs only when "setup" passed
            self._outcome[item.nodeid] = call.excinfo.value if call.excinfo else None
        else:
            self._finish(item)
        return report

    def _finish(self, item: pytest.Item) -> None:
        check_id, options = _marker(item)
        points = self.grading.rubric.points_for(check_id, options.get("points"))
        error = self._outcome.pop(item.nodeid, None)
        result = CheckResult(check_id, _name(item), "passed", points, points)
        result.warnings = item.stash.get(WARNINGS, [])
        result.hidden = self.grading.rubric.hidden_for(check_id, bool(options.get("hidden", False)))
        if error is not None:
            result.score = 0
            if isinstance(error, (Failure, NotGraded)):
                result.status = "failed" if isinstance(error, Failure) else "not_graded"
                result.message, result.hint, result.detail = error.message, error.hint, error.detail
                if isinstance(error, Failure):
                    result.log, result.file, result.line = error.log, error.file, error.line
            elif isinstance(error, pytest.skip.Exception):
                # A check that could not run here (no browser) counts neither for nor against.
                result.status, result.message, result.max_score = "skipped", str(error.msg), 0
            elif isinstance(error, AssertionError):
                text = str(error).strip()
                result.status, result.message = "failed", text.splitlines()[0] if text else "an assertion failed"
                result.detail = text
            else:
                result.status = "failed"
                result.message = f"the check could not finish: {type(error).__name__}: {error}"
                result.hint = "this may be a bug in the check; show this message to your instructor"
        self.results[check_id] = result


#: pytest's own plugins that a grading run does not need: each costs start-up time,
#: and some would write files (cacheprovider) or print (terminal, xprocess's reminder).
UNUSED_PLUGINS = (
    "cacheprovider",
    "terminal",
    "xprocess",
    "doctest",
    "junitxml",
    "pastebin",
    "stepwise",
    "faulthandler",
    "debugging",
    "setuponly",
    "setupplan",
    "unraisableexception",
    "threadexception",
    "warnings",
    "legacypath",
    "logging",
)


def run_checks(grading, paths: list[Path]) -> list[CheckResult]:
    """Run the check files in-process with pytest and return one result per check.

    pytest's cache and rootdir live in a temporary directory: nothing is
    written into the student's folder, and the student's own pytest
    configuration or conftest.py is never read.  That directory is inside the
    server's run folder (never in the sandbox's view), so it goes with it even
    when the grader is killed (see ``grader.run.server``).
    """
    collector = Collector(grading)
    with tempfile.TemporaryDirectory(prefix="webgrade-pytest-", dir=grading.server.tmp) as tmp:
        ini = Path(tmp, "pytest.ini")
        ini.write_text("[pytest]\n", encoding="utf-8")
        args = [
            *map(str, paths),
            "-c",
            str(ini),
            "--rootdir",
            tmp,
            "--import-mode=importlib",
            "-p",
            "grader.check.plugin",
            "--capture=no",
            *(f"-pno:{name}" for name in UNUSED_PLUGINS),
        ]
        saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        # Unrelated plugins installed next to us cost start-up time and could change the run.
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        try:
            code = pytest.main(args, plugins=[collector])
        finally:
            if saved is None:
                os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
            else:
                os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    if code == pytest.ExitCode.INTERRUPTED:  # pytest swallowed Ctrl+C: never pass off a partial run as a grade
        raise KeyboardInterrupt
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR) or not collector.results:
        raise RuntimeError(f"pytest could not run the checks (exit code {int(code)})")
    return list(collector.results.values())
