"""Every report, from one grading, parsed back with a real parser: JUnit XML, Gradescope, GitHub Classroom.

Each format is produced for a passing and a failing submission in the same run
as ``--format json`` (the full report), and compared with it.  Hidden checks
count in the score but never reach what a student can read.
"""

from __future__ import annotations

import base64
import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, run_webgrade
from gradescope_spec import check_gradescope_fields
from junitparser import Failure, JUnitXml, Skipped

# What Classroom's graders write (version 1) and its grading reporter reads.
CLASSROOM_TEST = {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"}


@dataclass
class Outputs:
    report: dict  # --format json: the full report
    junit: Path
    gradescope: dict
    classroom: dict
    github_output: str
    stdout: str


def grade_to_every_format(
    folder: Path, tmp_path: Path, monkeypatch, *args: str, fmt: str = "json", step_summary: Path | None = None
) -> Outputs:
    """Grade once into JUnit, Gradescope and Classroom; with ``step_summary``, as in GitHub Actions."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    github_output = out / "github_output"
    github_output.write_text("")
    if step_summary:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    else:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    run = run_webgrade(
        str(folder),
        "--format",
        fmt,
        "--no-browser",
        "--junit",
        str(out / "junit.xml"),
        "--gradescope",
        str(out / "gradescope"),
        "--classroom",
        *args,
        watch=folder,
    )
    assert run.code in (0, 1), run.stderr
    lines = github_output.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("result="), lines
    classroom = json.loads(base64.b64decode(lines[0].removeprefix("result="), validate=True))
    gradescope = json.loads((out / "gradescope" / "results.json").read_text())
    report = run.report if fmt == "json" else {}
    return Outputs(report, out / "junit.xml", gradescope, classroom, github_output.read_text(), run.stdout)


@pytest.fixture(params=["reference_server", "route_renamed"])
def graded(request, copy_server, tmp_path, monkeypatch) -> Outputs:
    """A passing and a failing submission, graded once into every format."""
    if request.param == "reference_server":
        folder = tmp_path / "reference_server"
        shutil.copytree(ROOT / "reference_server", folder)
    else:
        folder = copy_server(request.param)
    outputs = grade_to_every_format(folder, tmp_path, monkeypatch)
    assert outputs.report["status"] == ("passed" if request.param == "reference_server" else "failed")
    return outputs


def by_id(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"]}


def id_of(name: str) -> str:
    """Reports name a check "its name (its.id)"."""
    return name.rsplit("(", 1)[1].rstrip(")")


# --- JUnit XML ---


def test_junit_has_one_testcase_per_check(graded):
    checks = by_id(graded.report)
    root = ET.parse(graded.junit).getroot()  # well-formed XML
    assert root.tag == "testsuites"
    xml = JUnitXml.fromfile(str(graded.junit))
    (suite,) = list(xml)
    cases = {id_of(case.name): case for case in suite}
    assert list(cases) == list(checks)
    failed = [c for c in checks.values() if c["status"] == "failed"]
    skipped = [c for c in checks.values() if c["status"] in ("not_graded", "skipped")]
    assert (suite.tests, suite.failures, suite.skipped, suite.errors) == (len(checks), len(failed), len(skipped), 0)
    for check_id, case in cases.items():
        check = checks[check_id]
        assert case.classname == f"webgrade.{check['category']}"
        if check["status"] == "passed":
            assert case.is_passed
        elif check["status"] == "failed":
            (failure,) = case.result
            assert isinstance(failure, Failure)
            assert failure.message == check["message"]
            assert check["message"] in failure.text and f"try: {check['hint']}" in failure.text
        else:
            (skip,) = case.result
            assert isinstance(skip, Skipped) and skip.message == (check["message"] or check["status"])
        assert f"points: {check['score']:g}/{check['max_score']:g}" in case.system_out
    properties = {p.name: p.value for p in suite.properties()}
    assert properties["score"] == f"{graded.report['score']:g}"
    assert properties["max_score"] == f"{graded.report['max_score']:g}"
    assert properties["status"] == graded.report["status"]


def test_junit_points_at_the_student_s_line(copy_server, tmp_path, monkeypatch):
    """As text: junit-10.xsd has no file/line attributes on <testcase> (tests/test_junit_consumer.py)."""
    outputs = grade_to_every_format(copy_server("route_renamed"), tmp_path, monkeypatch)
    case = next(c for c in ET.parse(outputs.junit).getroot().iter("testcase") if c.get("name").endswith("(api.status)"))
    assert "file" not in case.attrib and "line" not in case.attrib
    assert "\nat main.py:18\n" in case.find("failure").text
    assert "where: main.py:18" in case.find("system-out").text


def test_junit_survives_control_characters_in_server_output(tmp_path, monkeypatch):
    folder = tmp_path / "noisy"
    folder.mkdir()
    (folder / "main.py").write_text(
        'from flask import Flask\nprint("\\x1b[31mred\\x00 and \\x07bell", flush=True)\nraise SystemExit(3)\n'
    )
    outputs = grade_to_every_format(folder, tmp_path, monkeypatch)
    assert by_id(outputs.report)["server.start"]["status"] == "failed"
    (suite,) = list(JUnitXml.fromfile(str(outputs.junit)))
    failure = next(iter(next(iter(suite)).result))
    assert "\\x1b[31mred\\x00 and \\x07bell" in failure.text, "shown escaped (grader.reports.visible)"


# --- Gradescope ---


def test_gradescope_results_follow_the_specification(graded):
    results, checks = graded.gradescope, by_id(graded.report)
    check_gradescope_fields(results)
    assert results["score"] == graded.report["score"]
    assert results["stdout_visibility"] == "hidden"
    tests = {id_of(t["name"]): t for t in results["tests"]}
    assert list(tests) == list(checks)
    for check_id, test in tests.items():
        check = checks[check_id]
        assert (test["score"], test["max_score"]) == (check["score"], check["max_score"])
        assert test["status"] == ("passed" if check["status"] == "passed" else "failed")
        assert test["visibility"] == "visible" and test["tags"] == [check["category"]]
        if check["status"] == "failed":
            assert check["message"] in test["output"] and check["hint"] in test["output"]


def test_gradescope_explains_a_submission_without_a_flask_app(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("nothing here")
    run = run_webgrade(str(folder), "--gradescope", str(tmp_path / "results"), watch=folder)
    assert run.code == 2
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    check_gradescope_fields(results)
    assert results["score"] == 0 and "Flask" in results["output"]


# --- GitHub Classroom ---


def test_classroom_result_is_what_the_reporter_reads(graded):
    result, report = graded.classroom, graded.report
    assert result["version"] == 1
    assert result["status"] == {"passed": "pass", "failed": "fail"}[report["status"]]
    assert result["max_score"] == report["max_score"]
    # The reporter records the sum of the tests' scores: the same points the student saw.
    assert sum(t["score"] for t in result["tests"]) == report["score"]
    checks = by_id(report)
    # A check that could not run here (skipped) is left out: the reporter would print it as a failed test.
    assert [id_of(t["name"]) for t in result["tests"]] == [i for i, c in checks.items() if c["status"] != "skipped"]
    for test in result["tests"]:
        assert set(test) == CLASSROOM_TEST
        check = checks[id_of(test["name"])]
        assert test["status"] == {"passed": "pass", "failed": "fail", "not_graded": "error"}[check["status"]]
        assert "\n" not in test["message"] and "\n" not in test["name"]
        if check["status"] == "failed":
            assert test["message"].startswith(check["message"])
        if check["status"] == "not_graded":  # the reporter prints only an error's message: it names the check
            assert test["message"] == f"{test['name']}: {check['message']}"
        if check.get("file"):
            assert (test["filename"], test["line_no"]) == (check["file"], check["line"])


def test_classroom_points_equal_the_points_on_the_scorecard(copy_server, tmp_path, monkeypatch):
    outputs = grade_to_every_format(copy_server("missing_key"), tmp_path, monkeypatch, fmt="text")
    score = sum(t["score"] for t in outputs.classroom["tests"])
    assert f"score {score:g}/{outputs.classroom['max_score']:g}" in outputs.stdout


def test_classroom_needs_github_output(monkeypatch):
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    run = run_webgrade("reference_server", "--classroom")
    assert run.code == 2 and "$GITHUB_OUTPUT" in run.stderr


def test_student_template_workflow_hands_webgrade_s_result_to_the_reporter():
    import yaml

    workflow = yaml.safe_load((ROOT / "student_template" / ".github" / "workflows" / "classroom.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert job["name"] == "Autograding Tests", "the reporter looks up the check run by this name"
    assert workflow["permissions"]["checks"] == "write"
    grade = next(s for s in job["steps"] if "webgrade check" in s.get("run", ""))
    assert "--classroom" in grade["run"]
    reporter = next(s for s in job["steps"] if "autograding-grading-reporter" in s.get("uses", ""))
    (runner,) = reporter["with"]["runners"].split(",")
    assert reporter["env"] == {f"{runner.upper()}_RESULTS": f"${{{{ steps.{grade['id']}.outputs.result }}}}"}
    assert reporter["if"] == "${{ !cancelled() }}", "the points are recorded when a check fails too"
    plain = yaml.safe_load((ROOT / "student_template" / ".github" / "workflows" / "webgrade.yml").read_text())
    assert any("webgrade check ." in step.get("run", "") for step in plain["jobs"]["grade"]["steps"])


# --- hidden checks ---

SECRET_CHECKS = '''
import pytest
from grader import Failure


@pytest.mark.check("secret.word", points=3, hidden=True)
def test_secret(http):
    """the password is zebra-42"""
    raise Failure("expected the word zebra-42 on the page, saw none", "say zebra-42")


@pytest.mark.check("visible.after", points=1, depends=("secret.word",))
def test_after(http):
    """a visible check that needs the hidden one"""
'''
#: What a student must never read: the hidden checks' ids, names and messages.
SECRETS = ("secret.word", "zebra-42", "the password is", "api.schema", "Owns_Cars", "John Doe", 'missing key "Email"')


def test_hidden_checks_count_but_never_reach_the_student(copy_server, tmp_path, monkeypatch):
    folder = copy_server("missing_key")  # fails api.schema: 'record 1 (John Doe): missing key "Email"'
    checks = tmp_path / "instructor"
    checks.mkdir()
    (checks / "test_secret.py").write_text(SECRET_CHECKS)
    rubric = tmp_path / "webgrade.toml"
    rubric.write_text('[checks."api.schema"]\nhidden = true\n[gradescope]\nhidden_visibility = "after_published"\n')
    args = ("--rubric", str(rubric), "--checks", str(checks))

    full = grade_to_every_format(folder, tmp_path, monkeypatch, *args)
    report, checks_by_id = full.report, by_id(full.report)
    # The instructor's JSON has everything, marked.
    assert checks_by_id["secret.word"]["hidden"] is True and checks_by_id["api.schema"]["hidden"] is True
    assert checks_by_id["visible.after"]["message"] == "not graded: it needs a hidden check to pass first"
    hidden_points = checks_by_id["secret.word"]["max_score"] + checks_by_id["api.schema"]["max_score"]

    # Gradescope hides them itself; the student's part of it names none of them.
    tests = {id_of(t["name"]): t for t in full.gradescope["tests"]}
    assert tests["secret.word"]["visibility"] == tests["api.schema"]["visibility"] == "after_published"
    assert full.gradescope["score"] == report["score"]
    student_gradescope = [full.gradescope["output"]] + [
        t["output"] + t["name"] for t in full.gradescope["tests"] if t["visibility"] == "visible"
    ]

    # The terminal, the step summary, annotations, Classroom and JUnit are the student's.
    summary = tmp_path / "summary.md"
    actions = grade_to_every_format(folder, tmp_path, monkeypatch, *args, fmt="text", step_summary=summary)
    monkeypatch.delenv("GITHUB_ACTIONS")
    plain = run_webgrade(str(folder), "--no-browser", "-v", *args, watch=folder)

    student_visible = {
        "terminal": plain.stdout + plain.stderr,
        "terminal in Actions (with annotations)": actions.stdout,
        "step summary": summary.read_text(),
        "Classroom": json.dumps(actions.classroom, ensure_ascii=False),
        "JUnit": actions.junit.read_text(),
        "Gradescope, visible parts": "\n".join(student_gradescope),
    }
    for where, text in student_visible.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into the {where}"
    note = f"2 hidden checks worth {hidden_points:g} points will also be graded: the score shown here is not final"
    for where in ("terminal", "terminal in Actions (with annotations)", "step summary", "JUnit"):
        assert note in student_visible[where], where
    visible_score = sum(t["score"] for t in actions.classroom["tests"])
    assert actions.classroom["max_score"] == report["max_score"] - hidden_points
    assert f"score {visible_score:g}/{actions.classroom['max_score']:g}" in plain.stdout
