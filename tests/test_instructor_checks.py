"""The documented example of instructor checks (examples/): graded with the built-in ones, by rubric or --checks."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, run_webgrade

EXAMPLES = ROOT / "examples"
NAMES = ["names.route", "names.lookup", "names.unknown"]


@pytest.fixture
def solution(tmp_path):
    folder = tmp_path / "solution"
    shutil.copytree(EXAMPLES / "solution", folder)
    return folder


def test_example_rubric_grades_instructor_checks_with_the_built_in_ones(solution):
    run = run_webgrade(
        str(solution), "--format", "json", "--no-browser", "--rubric", str(EXAMPLES / "webgrade.toml"), watch=solution
    )
    checks = {c["id"]: c for c in run.report["checks"]}
    assert [c for c in checks if c.startswith("names.")] == NAMES, "instructor checks come after the built-in ones"
    assert all(checks[i]["status"] == "passed" for i in [*NAMES, "api.schema", "hacks.own_record", "cors.response"])
    assert checks["names.lookup"]["max_score"] == 3, "the rubric's points win over the marker's"
    assert checks["names.unknown"]["hidden"] is True, "hidden by its marker"
    assert checks["api.schema"]["max_score"] == 3 and checks["hacks.own_record"]["max_score"] == 2
    assert run.report["score"] == sum(c["max_score"] for c in checks.values() if c["status"] == "passed")


def test_example_checks_fail_the_template_with_words_for_the_student():
    run = run_webgrade(
        "student_template", "--format", "json", "--no-browser", "--rubric", str(EXAMPLES / "webgrade.toml")
    )
    route = run.check("names.route")
    assert route["status"] == "failed"
    assert route["message"] == "expected a route like /api/<name>, saw the routes /, /api/data"
    assert "@app.route('/api/<name>')" in route["hint"]
    assert run.check("names.lookup")["status"] == "not_graded"
    assert "expected at least 3 records, saw only 2" in run.check("api.schema")["message"]
    text = run_webgrade("student_template", "--no-browser", "--rubric", str(EXAMPLES / "webgrade.toml")).stdout
    assert "names.route" in text and "names.unknown" not in text and "an unknown name" not in text
    assert "1 hidden check worth 1 point will also be graded" in text


def test_checks_folder_on_the_command_line_uses_the_markers(solution):
    run = run_webgrade(
        str(solution),
        "--format",
        "json",
        "--no-browser",
        "--checks",
        str(EXAMPLES / "instructor_checks"),
        watch=solution,
    )
    checks = {c["id"]: c for c in run.report["checks"]}
    assert (checks["names.route"]["max_score"], checks["names.lookup"]["max_score"]) == (1, 2)
    assert checks["names.unknown"]["hidden"] is True and "hacks.own_record" not in checks


def test_example_checks_run_under_plain_pytest(solution, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLES / "instructor_checks"),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--webgrade",
            str(solution),
            "-q",
            "--rootdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
