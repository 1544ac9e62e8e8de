"""Rubrics: the default is the lesson, a file changes points and settings, a mistake is a clear usage error."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from conftest import ROOT, run_webgrade

from grader import lessons
from grader import rubric as rubrics
from grader.lessons.web_server import LESSON as WEB_SERVER
from grader.results import CheckResult

LESSON = {
    "api_path": "/api/data",
    "origins": ["http://127.0.0.1:4100"],
    "schema": None,
    "min_records": 1,
    "request_timeout": 5.0,
    "checks_dirs": [],
    "required": set(),
    "hidden": {},
}


def write(folder: Path, text: str, name: str = "webgrade.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def error_of(path: Path) -> rubrics.RubricError:
    with pytest.raises(rubrics.RubricError) as caught:
        rubrics.load(path)
    return caught.value


# --- the default is the lesson ---


def test_default_rubric_is_the_lesson(tmp_path):
    default = rubrics.Rubric()
    for name, value in LESSON.items():
        assert getattr(default, name) == value, name
    assert default.points == WEB_SERVER.points
    assert not set(WEB_SERVER.optional) & set(default.points), "optional checks are off by default"
    assert default.origin == "http://127.0.0.1:4100"
    assert default.lesson is WEB_SERVER and default.schema_path == WEB_SERVER.schema
    empty = rubrics.load(write(tmp_path, "# nothing: the lesson\n"))
    assert {n: getattr(empty, n) for n in LESSON} == LESSON and empty.points == WEB_SERVER.points
    named = rubrics.load(write(tmp_path, '[assignment]\nlesson = "web_server"\n'))
    assert named == rubrics.Rubric(source=named.source) and rubrics.Rubric.of(WEB_SERVER) == rubrics.Rubric()


def test_template_copy_in_the_hack_checks_matches_student_template():
    """The hack checks compare against the template's page and records; they must be the template's own."""
    tree = ast.parse((ROOT / "student_template" / "main.py").read_text())
    html = next(
        n.value.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "html_content"
    )
    records = [
        ast.literal_eval(n.args[0])
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "append"
    ]
    assert html == WEB_SERVER.template_home
    assert records == list(WEB_SERVER.template_records)


# --- a rubric file ---


def test_rubric_file_sets_every_setting(tmp_path):
    (tmp_path / "people.json").write_text(json.dumps({"type": "array"}))
    (tmp_path / "more_checks").mkdir()
    path = write(
        tmp_path,
        """
        [assignment]
        api_path = "/api/people"
        origins = ["http://127.0.0.1:4100", "https://me.github.io"]
        schema = "people.json"
        min_records = 3
        checks = "more_checks"
        request_timeout = 2.5

        [checks."api.schema"]
        points = 4
        required = true

        [checks."cors.response"]
        hidden = true

        [checks."hacks.own_record"]

        [checks."names.lookup"]
        points = 0.5
        hidden = false

        [gradescope]
        hidden_visibility = "after_published"
    """,
    )
    rubric = rubrics.load(path)
    assert rubric.api_path == "/api/people"
    assert rubric.origins == ["http://127.0.0.1:4100", "https://me.github.io"]
    assert rubric.schema == (tmp_path / "people.json").resolve()
    assert rubric.min_records == 3 and rubric.request_timeout == 2.5
    assert rubric.checks_dirs == [(tmp_path / "more_checks").resolve()]
    assert rubric.points["api.schema"] == 4 and rubric.points["names.lookup"] == 0.5
    assert rubric.points["hacks.own_record"] == WEB_SERVER.optional["hacks.own_record"]
    assert rubric.enabled("hacks.own_record") and not rubric.enabled("hacks.home_changed")
    assert rubric.required == {"api.schema"}
    assert rubric.hidden_for("cors.response") and not rubric.hidden_for("names.lookup", declared=True)
    assert rubric.gradescope_hidden == "after_published"
    assert rubric.lines == {"api.schema": 9, "cors.response": 13, "hacks.own_record": 16, "names.lookup": 18}


@pytest.mark.parametrize(
    "text, line, words",
    [
        (
            '[checks."api.status"]\npoints = 2\npionts = 3\n',
            3,
            ['unknown key "pionts" in [checks."api.status"]', 'did you mean "points"', "points, required, hidden"],
        ),
        (
            '[assignment]\n# the lesson\napi-path = "/api/x"\n',
            3,
            ['unknown key "api-path" in [assignment]', '"api_path"'],
        ),
        ('[asignment]\napi_path = "/api/x"\n', 1, ['unknown key "asignment" at the top level', '"assignment"']),
        ('[checks."api.status"]\n\n\npoints = "two"\n', 4, ['"points" must be a number', "'two' (text)"]),
        ('[checks."api.status"]\nrequired = "yes"\n', 2, ['"required" must be true or false']),
        ("[assignment]\nmin_records = -1\n", 2, ['"min_records" must be a whole number']),
        (
            '[assignment]\norigins = ["http://x.org/"]\n',
            2,
            ['"origins" must be a list of origins', "no path or trailing slash"],
        ),
        ('[assignment]\napi_path = "api/data"\n', 2, ['"api_path" must be a path starting with /']),
        ('[assignment]\nschema = "missing.json"\n', 2, ["\"schema\" names 'missing.json'", "no such file"]),
        ('[gradescope]\nhidden_visibility = "secret"\n', 2, ['"hidden_visibility" must be one of']),
        ('[checks."api.status"]\npoints = = 2\n', 2, ["not valid TOML", "Invalid value"]),
        ("checks = 3\n", 1, ["[checks] must be a table, saw a number"]),
        (
            '[assignment]\napi_path = "/api/x"\nlesson = "web_sever"\n',
            3,
            ["\"lesson\" must be one of the lessons 'web_server', saw 'web_sever' (text)"],
        ),
        ("[assignment]\nlesson = 1\n", 2, ['"lesson" must be one of the lessons', "saw 1"]),
    ],
)
def test_mistakes_name_the_line_and_the_key(tmp_path, text, line, words):
    error = error_of(write(tmp_path, text))
    assert error.line == line, str(error)
    assert str(error).startswith(f"webgrade.toml, line {line}: "), str(error)
    for word in words:
        assert word in str(error)


def test_a_rubric_grades_the_lesson_it_names(tmp_path, monkeypatch):
    """A second lesson is one more folder of grader/lessons: its points and defaults come with its name."""
    other = dataclasses.replace(
        WEB_SERVER,
        name="other",
        points={"other.one": 3},
        optional={"other.extra": 2},
        api_path="/api/people",
        origin="http://127.0.0.1:5000",
        min_records=2,
        request_timeout=3.0,
    )
    folder = types.ModuleType("grader.lessons.other")
    folder.LESSON = other
    monkeypatch.setitem(sys.modules, "grader.lessons.other", folder)
    monkeypatch.setattr(lessons, "names", lambda: ["other", "web_server"])

    rubric = rubrics.load(write(tmp_path, '[assignment]\nmin_records = 5\nlesson = "other"\n[checks."other.extra"]\n'))
    assert rubric.lesson is other and rubric.schema_path == WEB_SERVER.schema
    assert (rubric.api_path, rubric.origins, rubric.min_records, rubric.request_timeout) == (
        "/api/people",
        ["http://127.0.0.1:5000"],
        5,
        3.0,
    )
    assert rubric.points == {"other.one": 3, "other.extra": 2} and rubric.enabled("other.extra")
    assert rubric.unknown_checks(set(other.check_ids)) == []
    plain = rubrics.Rubric.of(other)
    assert plain.points == {"other.one": 3} and not plain.enabled("other.extra") and plain.enabled("api.status")
    error = error_of(write(tmp_path, '[assignment]\nlesson = "another"\n'))
    assert "\"lesson\" must be one of the lessons 'other', 'web_server', saw 'another' (text)" in str(error)


def test_an_unusable_schema_is_a_rubric_error(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    error = error_of(write(tmp_path, '[assignment]\nmin_records = 2\nschema = "bad.json"\n'))
    assert error.line == 3 and "bad.json is not a usable JSON Schema" in str(error)


def test_unknown_check_ids_are_found_with_their_line(tmp_path):
    rubric = rubrics.load(write(tmp_path, '[checks."api.status"]\npoints = 1\n\n[checks."api.shema"]\npoints = 3\n'))
    (error,) = rubric.unknown_checks(set(WEB_SERVER.points))
    assert error.line == 4 and '[checks."api.shema"] names no check; did you mean "api.schema"?' in str(error)


def test_a_typo_in_a_rubric_is_a_usage_error_not_a_traceback(tmp_path):
    path = write(tmp_path, '[assignment]\nmin_records = 2\n\n[checks."api.schema"]\npoints = 3\nrequried = true\n')
    run = run_webgrade("reference_server", "--rubric", str(path))
    assert run.code == 2
    assert (
        'webgrade: webgrade.toml, line 6: unknown key "requried" in [checks."api.schema"] (did you mean "required"?)'
        in run.stderr
    )
    assert "Traceback" not in run.stderr + run.stdout and run.stdout == ""


def test_a_typo_in_a_check_id_is_a_usage_error(tmp_path):
    path = write(tmp_path, '[checks."cors.reponse"]\npoints = 3\n')
    run = run_webgrade("reference_server", "--rubric", str(path))
    assert run.code == 2 and run.stdout == ""
    assert 'line 1: [checks."cors.reponse"] names no check; did you mean "cors.response"?' in run.stderr


def test_a_typo_in_a_check_id_is_found_after_instructor_checks_ran(tmp_path):
    path = write(tmp_path, '[checks."names.lokup"]\npoints = 3\n')
    run = run_webgrade(
        str(ROOT / "examples" / "solution"),
        "--rubric",
        str(path),
        "--no-browser",
        "--checks",
        str(ROOT / "examples" / "instructor_checks"),
    )
    assert run.code == 2 and run.stdout == ""
    assert '[checks."names.lokup"] names no check; did you mean "names.lookup"?' in run.stderr


def test_webgrade_toml_next_to_the_submission_is_used(copy_server):
    folder = copy_server("debug_true")
    write(folder, '[checks."api.schema"]\npoints = 7\n')
    run = run_webgrade(str(folder), "--format", "json", "--no-browser", watch=folder)
    assert run.check("api.schema")["max_score"] == 7


# --- what a rubric changes in the grade ---


def test_points_weight_the_score(tmp_path, copy_server):
    folder = copy_server("missing_key")
    path = write(tmp_path, '[checks."api.schema"]\npoints = 10\n[checks."home.status"]\npoints = 0.5\n')
    report = run_webgrade(str(folder), "--format", "json", "--no-browser", "--rubric", str(path), watch=folder).report
    checks = {c["id"]: c for c in report["checks"]}
    assert (checks["api.schema"]["score"], checks["api.schema"]["max_score"]) == (0, 10)
    assert (checks["home.status"]["score"], checks["home.status"]["max_score"]) == (0.5, 0.5)
    assert report["max_score"] == sum(c["max_score"] for c in report["checks"])
    assert report["score"] == sum(c["score"] for c in report["checks"])


def test_a_failed_required_check_makes_the_score_zero(tmp_path, copy_server):
    folder = copy_server("missing_key")
    path = write(tmp_path, '[checks."api.schema"]\nrequired = true\n')
    run = run_webgrade(str(folder), "--format", "json", "--no-browser", "--rubric", str(path), watch=folder)
    report = run.report
    assert run.code == 1 and report["status"] == "failed"
    assert report["score"] == 0 and all(c["score"] == 0 for c in report["checks"])
    assert run.check("home.status")["status"] == "passed", (
        "statuses and messages stay: the student still sees what to fix"
    )
    assert "required check api.schema did not pass, so the score is 0 until it passes" in report["notes"]
    text = run_webgrade(str(folder), "--no-browser", "--rubric", str(path), watch=folder).stdout
    assert "required check api.schema did not pass" in text and "score 0/" in text


def test_a_passed_required_check_changes_nothing(tmp_path):
    path = write(tmp_path, '[checks."api.schema"]\nrequired = true\n')
    report = run_webgrade("reference_server", "--format", "json", "--no-browser", "--rubric", str(path)).report
    assert report["score"] > 0 and not any("required" in note for note in report.get("notes", []))


def test_apply_required_does_not_name_a_hidden_check():
    checks = [CheckResult("a.one", "one", "passed", 1, 1), CheckResult("secret.x", "x", "failed", 0, 1, hidden=True)]
    rubric = rubrics.Rubric(required={"secret.x"})
    assert rubric.apply_required(checks) == ["a required hidden check did not pass, so the score is 0 until it passes"]
    assert [c.score for c in checks] == [0, 0]


# --- the lesson's hacks, optional ---


def test_hacks_are_off_by_default():
    report = run_webgrade("student_template", "--format", "json", "--no-browser").report
    assert not [c for c in report["checks"] if c["id"].startswith("hacks.")]


def test_hacks_fail_for_the_untouched_template_and_pass_for_a_student_s_own(tmp_path):
    path = write(tmp_path, '[checks."hacks.home_changed"]\n[checks."hacks.own_record"]\npoints = 2\n')
    template = run_webgrade("student_template", "--format", "json", "--no-browser", "--rubric", str(path))
    assert template.statuses()["hacks.home_changed"] == template.statuses()["hacks.own_record"] == "failed"
    assert "template's page unchanged" in template.check("hacks.home_changed")["message"]
    assert "(Shaurya Singh, John Doe), saw only those" in template.check("hacks.own_record")["message"]
    assert template.check("hacks.own_record")["max_score"] == 2
    own = run_webgrade(str(ROOT / "examples" / "solution"), "--format", "json", "--no-browser", "--rubric", str(path))
    assert own.statuses()["hacks.home_changed"] == own.statuses()["hacks.own_record"] == "passed"


# --- several origins ---


ONE_ORIGIN = (
    (ROOT / "reference_server" / "main.py")
    .read_text()
    .replace(
        "CORS(app, supports_credentials=True, origins='*')",
        "CORS(app, supports_credentials=True, origins=['http://127.0.0.1:4100'])",
    )
)


def test_cors_is_checked_for_every_origin(tmp_path):
    folder = tmp_path / "one_origin"
    folder.mkdir()
    (folder / "main.py").write_text(ONE_ORIGIN)
    assert "origins=['http://127.0.0.1:4100']" in ONE_ORIGIN
    alone = run_webgrade(str(folder), "--format", "json", "--no-browser", watch=folder)
    assert alone.statuses()["cors.preflight"] == alone.statuses()["cors.response"] == "passed"
    path = write(tmp_path, '[assignment]\norigins = ["http://127.0.0.1:4100", "https://me.github.io"]\n')
    both = run_webgrade(str(folder), "--format", "json", "--no-browser", "--rubric", str(path), watch=folder)
    assert both.statuses()["cors.preflight"] == both.statuses()["cors.response"] == "failed"
    for check_id in ("cors.preflight", "cors.response"):
        assert "(the page on https://me.github.io)" in both.check(check_id)["message"]


def test_plain_pytest_takes_a_rubric(tmp_path):
    path = write(tmp_path, '[assignment]\napi_path = "/api/people"\n')
    checks = write(tmp_path, 'def test_path(rubric):\n    assert rubric.api_path == "/api/people"\n', "test_x.py")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(checks),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--webgrade",
            str(ROOT / "reference_server"),
            "--webgrade-rubric",
            str(path),
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
