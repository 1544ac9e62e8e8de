"""`webgrade check` end to end: real servers as subprocesses on loopback, graded by the real CLI."""

from __future__ import annotations

import pytest
from conftest import ROOT, run_webgrade

from grader.lessons.web_server import LESSON

#: Every check the lesson grades by default, in report order.
ALL = list(LESSON.points)


def expect(failed: dict[str, list[str]] | None = None, not_graded: tuple[str, ...] = ()) -> dict:
    statuses = {check: "passed" for check in ALL}
    statuses.update({check: "failed" for check in failed or {}})
    statuses.update({check: "not_graded" for check in not_graded})
    return {"statuses": statuses, "messages": failed or {}}


AFTER_START = tuple(ALL[1:])
CASES = {
    "route_renamed": expect(
        {
            "api.status": [
                "expected GET /api/data to answer 200, saw 404 Not Found / your server answers /api/shaurya, "
                "but the page fetches /api/data"
            ]
        },
        ("api.json", "api.schema", "cors.preflight", "cors.response", "browser.table"),
    ),
    "missing_key": expect({"api.schema": ["record 1 (John Doe)", "Email"]}),
    "cars_string": expect({"api.schema": ["Owns_Cars", "record 1 (John Doe)", "list of strings", "a string"]}),
    "html_api": expect({"api.json": ["application/json", "text/html"]}, ("api.schema", "browser.table")),
    "no_cors": expect(
        {
            "cors.preflight": ["Access-Control-Allow-Origin"],
            "cors.response": ["Access-Control-Allow-Origin"],
            "browser.table": ["the browser blocked the request", "Access-Control-Allow-Origin"],
        }
    ),
    "cors_no_credentials": expect(
        {
            "cors.preflight": ["Access-Control-Allow-Credentials"],
            "cors.response": ["Access-Control-Allow-Credentials"],
            "browser.table": ["the browser blocked the request", "Access-Control-Allow-Credentials is missing"],
        }
    ),
    "crash_import": expect({"server.start": ["ModuleNotFoundError", "flask_corss", "main.py, line 4"]}, AFTER_START),
    "syntax_error": expect({"server.start": ["SyntaxError", "main.py, line 18"]}, AFTER_START),
    "never_binds": expect({"server.start": ["without listening"]}, AFTER_START),
    "home_no_title": expect({"home.html": ["<title>"]}),
    "unknown_page_200": expect({"home.not_found": ["to answer 404, saw 200"]}),
    "debug_true": expect(),
    "host_all": expect(),
    "no_run_call": expect(),
    "notebook": expect(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_server_fails_the_right_check(grade, name):
    case = CASES[name]
    run = grade(name, *(["--timeout", "3"] if name == "never_binds" else []))
    assert run.statuses() == case["statuses"]
    for check_id, fragments in case["messages"].items():
        check = run.check(check_id)
        text = f"{check['message']} / {check['hint']}"
        for fragment in fragments:
            assert fragment in text, (check_id, text)
        assert run.check(check_id)["hint"], f"{check_id} has no hint"
    report = run.report
    assert run.code == (0 if report["status"] == "passed" else 1)
    assert report["score"] == sum(c["score"] for c in report["checks"])


def test_reference_server_scores_full_marks():
    run = run_webgrade("reference_server", "--format", "json", watch=ROOT / "reference_server")
    report = run.report
    assert run.code == 0, run.stdout
    assert report["status"] == "passed"
    assert report["score"] == report["max_score"] > 0
    assert [c["id"] for c in report["checks"]] == ALL


def test_student_template_scores_full_marks():
    run = run_webgrade("student_template", "--format", "json", watch=ROOT / "student_template")
    assert run.code == 0, run.stdout
    assert run.report["status"] == "passed"


def test_json_report_has_exactly_the_documented_fields(grade):
    report = grade("cars_string").report
    assert set(report) == {
        "submission",
        "entry",
        "score",
        "max_score",
        "status",
        "duration_s",
        "checks",
        "sandbox",
        "process",
    }
    assert report["process"] in ("linux", "portable", "windows")
    for check in report["checks"]:
        assert {"id", "category", "name", "status", "score", "max_score", "message", "hint"} <= set(check)
        assert check["category"] == check["id"].split(".")[0]
        assert check["status"] in ("passed", "failed", "not_graded", "skipped")


def test_server_failure_carries_the_servers_own_output(grade):
    start = grade("crash_import").check("server.start")
    assert "ModuleNotFoundError: No module named 'flask_corss'" in start["log"]
    assert "pip install -r requirements.txt" in start["hint"]


def test_every_check_after_a_failed_start_has_the_same_reason(grade):
    report = grade("syntax_error").report
    reasons = {c["message"] for c in report["checks"] if c["status"] == "not_graded"}
    assert reasons == {"not graded: the server did not start (see server.start)"}
    assert report["status"] == "not_graded"


def test_notebook_report_names_the_graded_cell(grade):
    report = grade("notebook").report
    assert report["entry"].endswith("lesson.ipynb")
    assert report["notes"] == ["graded cell 3 of lesson.ipynb, the last one that creates a Flask app"]


def test_route_hint_points_at_the_routes_line(grade):
    status = grade("route_renamed").check("api.status")
    assert status["file"] == "main.py"
    lines = (ROOT / "tests/servers/route_renamed/main.py").read_text().splitlines()
    assert "/api/shaurya" in lines[status["line"] - 1]
