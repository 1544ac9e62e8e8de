"""Turn each check (a pytest test) into a CheckResult; knows nothing of how results are shown.

:func:`result_of` decides how a check that ended one way or another is graded,
and is pure, so it is tested without a pytest run.  :class:`Collector` is the
pytest plugin object that ``grader.check.runner`` passes to ``pytest.main``: it
orders and deselects checks by the rubric, skips a check whose dependency did
not pass, and feeds each outcome to :func:`result_of`.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from grader.failures import Failure, NotGraded
from grader.results import CheckResult

if TYPE_CHECKING:  # grade imports the runner, which imports this module: the type only
    from grader.grade import Grading

#: The submission being graded, for the fixtures of ``grader.check.plugin``.
GRADING = pytest.StashKey["Grading"]()
#: The warnings a check attached with the ``warn`` fixture.
WARNINGS = pytest.StashKey[list[str]]()


def _marker(item: pytest.Item) -> tuple[str, Mapping[str, Any]]:
    """The check's id and its ``check`` marker's keyword arguments; an unmarked test gets ``file.function``."""
    marker = item.get_closest_marker("check")
    if marker is None:
        return f"{Path(str(item.path)).stem.removeprefix('test_')}.{item.name.removeprefix('test_')}", {}
    check_id = marker.args[0] if marker.args else marker.kwargs.get("id", item.name)
    return check_id, marker.kwargs


def _name(item: pytest.Item) -> str:
    """What the check expects, in words: its docstring's first line, else its function's name."""
    doc = getattr(getattr(item, "obj", None), "__doc__", None)
    return doc.strip().splitlines()[0] if doc else item.name.removeprefix("test_").replace("_", " ")


def result_of(
    check_id: str,
    name: str,
    points: float,
    error: BaseException | None,
    *,
    hidden: bool = False,
    warnings: Sequence[str] = (),
) -> CheckResult:
    """How a check is graded that ended with ``error`` (None: it passed)."""
    result = CheckResult(check_id, name, "passed", points, points, warnings=list(warnings), hidden=hidden)
    if error is None:
        return result
    result.score = 0
    if isinstance(error, Failure):
        result.status = "failed"
        result.message, result.hint, result.detail = error.message, error.hint, error.detail
        result.log, result.file, result.line = error.log, error.file, error.line
    elif isinstance(error, NotGraded):
        result.status = "not_graded"
        result.message, result.hint, result.detail = error.message, error.hint, error.detail
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
    return result


class Collector:
    """The pytest plugin object of one grading run: each check's outcome becomes a CheckResult."""

    def __init__(self, grading: Grading) -> None:
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
        order = self.grading.rubric.lesson.check_ids
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
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when in ("setup", "call"):  # "call" runs only when "setup" passed
            self._outcome[item.nodeid] = call.excinfo.value if call.excinfo else None
        else:
            self._finish(item)
        return report

    def _finish(self, item: pytest.Item) -> None:
        check_id, options = _marker(item)
        rubric = self.grading.rubric
        warnings: list[str] = item.stash.get(WARNINGS, [])
        self.results[check_id] = result_of(
            check_id,
            _name(item),
            rubric.points_for(check_id, options.get("points")),
            self._outcome.pop(item.nodeid, None),
            hidden=rubric.hidden_for(check_id, bool(options.get("hidden", False))),
            warnings=warnings,
        )
