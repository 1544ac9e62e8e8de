"""Gradescope's autograder specification for results.json, as a check the tests share."""

from __future__ import annotations

# Gradescope's autograder specification: the fields results.json may have, and their values.
GRADESCOPE_TOP = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
GRADESCOPE_TEST = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
GRADESCOPE_FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def check_gradescope_fields(results: dict) -> None:
    """results.json against the fields and values Gradescope's specification documents."""
    assert set(results) <= GRADESCOPE_TOP, set(results) - GRADESCOPE_TOP
    assert isinstance(results["score"], (int, float)) and isinstance(results["execution_time"], (int, float))
    assert isinstance(results["output"], str) and results["output_format"] in GRADESCOPE_FORMATS
    assert results["visibility"] in GRADESCOPE_VISIBILITY and results["stdout_visibility"] in GRADESCOPE_VISIBILITY
    numbers = set()
    for test in results["tests"]:
        assert set(test) <= GRADESCOPE_TEST, set(test) - GRADESCOPE_TEST
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert isinstance(test["number"], str) and test["number"] not in numbers
        numbers.add(test["number"])
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in GRADESCOPE_VISIBILITY and test["output_format"] in GRADESCOPE_FORMATS
        assert isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])
    assert results["score"] == sum(t["score"] for t in results["tests"])
