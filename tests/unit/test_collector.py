"""grader.check.collector.result_of: how a check is graded from the way it ended, without a pytest run."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from grader import Failure, NotGraded
from grader.check.collector import result_of
from grader.results import CheckResult


def ended(error: BaseException | None, *, hidden: bool = False, warnings: Sequence[str] = ()) -> CheckResult:
    return result_of("api.status", "GET /api/data answers 200", 2, error, hidden=hidden, warnings=warnings)


def test_a_check_that_ends_without_error_passes_with_its_points() -> None:
    warnings = ["the page also fetches /favicon.ico"]
    result = ended(None, hidden=True, warnings=warnings)
    assert result == CheckResult(
        "api.status", "GET /api/data answers 200", "passed", 2, 2, warnings=warnings, hidden=True
    )
    assert result.warnings is not warnings, "the result keeps its own list"


def test_failure_keeps_every_word_for_the_student_and_where_it_points() -> None:
    error = Failure(
        "expected 200, saw 404", "change the route", "the whole body", log="Traceback", file="main.py", line=7
    )
    result = ended(error)
    assert (result.status, result.score, result.max_score) == ("failed", 0, 2)
    assert (result.message, result.hint, result.detail) == (
        "expected 200, saw 404",
        "change the route",
        "the whole body",
    )
    assert (result.log, result.file, result.line) == ("Traceback", "main.py", 7)


def test_not_graded_counts_zero_and_says_why() -> None:
    result = ended(NotGraded("not graded: it needs api.json to pass first", "fix api.json", "detail"))
    assert (result.status, result.score, result.max_score) == ("not_graded", 0, 2)
    assert (result.message, result.hint, result.detail) == (
        "not graded: it needs api.json to pass first",
        "fix api.json",
        "detail",
    )
    assert (result.log, result.file, result.line) == ("", None, None)


def test_a_skipped_check_counts_neither_for_nor_against() -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        pytest.skip("no browser here")
    result = ended(skipped.value)
    assert (result.status, result.score, result.max_score, result.message) == ("skipped", 0, 0, "no browser here")


def test_a_plain_assert_fails_with_its_first_line_and_keeps_the_rest() -> None:
    result = ended(AssertionError("expected a capital, saw 'jo'\nassert False"))
    assert (result.status, result.score, result.message) == ("failed", 0, "expected a capital, saw 'jo'")
    assert result.detail == "expected a capital, saw 'jo'\nassert False"
    assert ended(AssertionError()).message == "an assertion failed"


def test_any_other_error_is_the_check_s_fault_and_says_so() -> None:
    result = ended(KeyError("FirstName"))
    assert (result.status, result.score) == ("failed", 0)
    assert result.message == "the check could not finish: KeyError: 'FirstName'"
    assert result.hint == "this may be a bug in the check; show this message to your instructor"
