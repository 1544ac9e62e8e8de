"""Every output on hand-built reports: one shape, the right audience, and student text made harmless.

No server runs here: each renderer gets a Report built by hand with every
status and field (a hint, a log, a file and line, warnings, a hidden check,
notes), and what it writes is read back as its reader reads it.  The
end-to-end tests (tests/test_reports.py, tests/test_github.py and the consumer
tests) grade real servers; these pin each renderer's own rules.
"""

from __future__ import annotations

import base64
import inspect
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from gradescope_spec import check_gradescope_fields

from grader import reports
from grader.reports import Settings, classroom, github, gradescope, json_report, junit, markdown, terminal, visible
from grader.results import CheckResult, Report, points

#: Every control character a terminal, a log viewer or a browser may obey: C0 but newline and tab, DEL, C1.
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: Student text that tries it all: colours, OSC window title, clipboard (OSC 52) and hyperlink (OSC 8),
#: a bell, C1 CSI and NEL, NUL, DEL and a carriage return that would overwrite the line.
HOSTILE = (
    "\x1b[31mred\x1b[0m \x1b]0;pwned title\x07 \x1b]52;c;Y2xpcA==\x07 \x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\"
    " \x07bell \x9b2J c1 \x85nel \x00nul \x7fdel \rcr"
)


def every_kind_of_check(text: str = "") -> Report:
    """A report with every status and field; ``text`` is added to every piece of student text."""
    checks = [
        CheckResult("server.start", "the server starts", "passed", 1, 1),
        CheckResult(
            "api.status",
            "GET /api/data answers 200",
            "failed",
            0,
            2,
            "expected 200, saw 404" + text,
            "rename the route to /api/data" + text,
            detail="the whole body" + text,
            log="Traceback (most recent call last)\n  a line" + text,
            warnings=["a <warning> & *stars*" + text],
            file="main.py" + text.replace("\x00", ""),  # a file's name cannot hold NUL
            line=18,
        ),
        CheckResult("api.json", "the API answers JSON", "not_graded", 0, 1, "not graded: it needs api.status" + text),
        CheckResult("browser.table", "the page draws a row per record", "skipped", 0, 0, "not run (--no-browser)"),
        CheckResult("secret.word", "the password is zebra", "failed", 0, 3, "zebra expected", "say zebra", hidden=True),
        CheckResult("names.half", "half a point", "passed", 0.5, 0.5),
    ]
    notes = ["graded the cell at line 3" + text]
    return Report("sub", "main.py" + text, checks, 1.5, notes, server_log="Serving on 5001" + text, sandbox="none")


def settings(tmp_path: Path, **changes: object) -> Settings:
    """The run's settings, for a submission in ``tmp_path``."""
    return Settings(**{"folder": tmp_path, **changes})


# --- the one shape ---


@pytest.mark.parametrize("name", list(reports.REGISTRY))
def test_every_registered_output_has_the_output_shape(name):
    output = reports.output(name)
    assert output.NAME == name
    assert output.AUDIENCE in ("student", "full")
    assert list(inspect.signature(output.write).parameters) == ["report", "dest", "settings"]


def test_only_gradescope_and_json_get_the_full_report():
    audiences = {name: reports.output(name).AUDIENCE for name in reports.REGISTRY}
    assert {name for name, audience in audiences.items() if audience == "full"} == {"gradescope", "json"}


def test_write_all_gives_each_output_its_audience(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    wanted = {"junit": tmp_path / "deep" / "junit.xml", "gradescope": tmp_path / "gs", "classroom": None, "json": None}
    reports.write_all(every_kind_of_check(), wanted, settings(tmp_path))

    full = json.loads(capsys.readouterr().out)
    assert "secret.word" in [c["id"] for c in full["checks"]], "--format json is the instructor's: everything"
    graded = json.loads((tmp_path / "gs" / "results.json").read_text())
    assert any("(secret.word)" in t["name"] and t["visibility"] == "hidden" for t in graded["tests"])
    assert "zebra" not in graded["output"], "Gradescope's own output is the student's view"
    assert "zebra" not in (tmp_path / "deep" / "junit.xml").read_text()
    (line,) = (tmp_path / "github_output").read_text().splitlines()
    assert "zebra" not in base64.b64decode(line.removeprefix("result=")).decode()


def test_write_all_refuses_an_unknown_output(tmp_path):
    with pytest.raises(ValueError, match="no such output: html"):
        reports.write_all(every_kind_of_check(), {"html": None}, settings(tmp_path))


def test_in_actions_the_scorecard_is_fenced_and_the_annotations_follow_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (tmp_path / "main.py").write_text("")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    report = every_kind_of_check()
    reports.write_all(report, {"text": None, "github": None}, settings(tmp_path, in_actions=True))
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].startswith("::stop-commands::") and lines[-2] == f"::{lines[0].rsplit('::', 1)[1]}::"
    assert lines[-1].startswith("::error file=main.py,line=18,title=GET /api/data answers 200 (api.status)::")
    assert out.err == ""


def test_with_json_on_stdout_the_annotations_go_to_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    report = every_kind_of_check("##[set-output name=x;]y")
    wanted = {"json": None, "github": None}
    reports.write_all(report, wanted, settings(tmp_path, in_actions=True, json_on_stdout=True))
    out = capsys.readouterr()
    assert json.loads(out.out)["score"] == report.score, "stdout is one JSON object"
    assert "##[" not in out.out and "#\\u0023[set-output" in out.out
    assert out.err.startswith("::error title=GET /api/data answers 200 (api.status)::")


# --- each renderer on every status ---


def test_terminal_scorecard(tmp_path, capsys):
    student = every_kind_of_check().for_student()
    terminal.write(student, None, settings(tmp_path, verbose=True))
    text = capsys.readouterr().out
    assert text.startswith("webgrade: main.py\n  graded the cell at line 3\n")
    assert "✓   1/1  the server starts  server.start" in text
    assert "✗   0/2  GET /api/data answers 200  api.status\n         expected 200, saw 404\n" in text
    assert "         try: rename the route to /api/data\n" in text
    assert "         warning: a <warning> & *stars*\n" in text
    assert "           | Traceback (most recent call last)\n           |   a line\n" in text
    assert "         seen:\n           the whole body\n" in text
    assert "–   0/1  the API answers JSON  api.json\n         not graded: it needs api.status\n" in text
    assert "○   0/0  the page draws a row per record  browser.table\n" in text
    assert "✓ 0.5/0.5  half a point  names.half" in text
    assert "1 hidden check worth 3 points will also be graded" in text and "zebra" not in text
    assert "score 1.5/4.5 — 1 check to fix  (1.50 s)\n" in text  # api.json is not graded: not one to fix
    assert text.endswith("the server's output:\n  | Serving on 5001\n")


def test_json_is_the_full_report_to_dict(tmp_path, capsys):
    report = every_kind_of_check()
    json_report.write(report, None, settings(tmp_path, verbose=True))
    assert json.loads(capsys.readouterr().out) == report.to_dict(verbose=True)


def test_markdown_scorecard():
    page = markdown.render(every_kind_of_check().for_student(), title="webgrade: ann")
    assert page.startswith("## webgrade: ann: 1.5/4.5 (failed)\n\n> graded the cell at line 3\n")
    assert "| ✅ | the server starts | `server.start` | 1/1 |  |" in page
    assert (
        "| ❌ | GET /api/data answers 200 | `api.status` | 0/2 | expected 200, saw 404"
        "<br>**Try:** rename the route to /api/data<br>⚠️ a &lt;warning&gt; &amp; \\*stars\\* |"
    ) in page
    assert "| ➖ | the API answers JSON | `api.json` | 0/1 | not graded: it needs api.status |" in page
    assert "| ⏭️ | the page draws a row per record | `browser.table` | 0/0 | not run (--no-browser) |" in page
    assert "```text\nTraceback (most recent call last)\n  a line\n```" in page
    assert "zebra" not in page


def test_junit_cases(tmp_path):
    dest = tmp_path / "a" / "b" / "junit.xml"
    junit.write(every_kind_of_check().for_student(), dest, settings(tmp_path))
    suite = ET.parse(dest).getroot().find("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["GET /api/data answers 200 (api.status)"].find("failure")
    assert failure.get("message") == "expected 200, saw 404"
    assert failure.text.startswith("expected 200, saw 404\nat main.py:18\ntry: rename the route to /api/data\n")
    assert failure.text.endswith("points: 0/2\n\nthe server printed:\nTraceback (most recent call last)\n  a line")
    assert cases["the API answers JSON (api.json)"].find("skipped").get("type") == "not_graded"
    assert cases["the page draws a row per record (browser.table)"].find("skipped").get("type") == "skipped"
    assert cases["half a point (names.half)"].find("system-out").text == "points: 0.5/0.5"
    assert "the password is zebra (secret.word)" not in cases
    with pytest.raises(ValueError):
        junit.write(every_kind_of_check(), None, settings(tmp_path))


def test_github_annotations_and_step_summary(tmp_path, monkeypatch):
    (tmp_path / "main.py").write_text("")
    student = every_kind_of_check().for_student()
    (line,) = github.error_annotations(student, tmp_path, workspace=tmp_path)
    assert line == (
        "::error file=main.py,line=18,title=GET /api/data answers 200 (api.status)::"
        "expected 200, saw 404%0Atry: rename the route to /api/data"
    )
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert github.write_step_summary(student)
    assert summary.read_text() == markdown.render(student) + "\n"


def test_classroom_result(tmp_path):
    dest = tmp_path / "github_output"
    dest.write_text("before=1\n")
    student = every_kind_of_check().for_student()
    classroom.write(student, dest, settings(tmp_path))
    first, second = dest.read_text().splitlines()
    assert first == "before=1", "appended, as $GITHUB_OUTPUT is"
    result = json.loads(base64.b64decode(second.removeprefix("result="), validate=True))
    assert (result["status"], result["max_score"]) == ("fail", 4.5)
    tests = {t["test_code"]: t for t in result["tests"]}
    assert list(tests) == [f"webgrade check ({i})" for i in ("server.start", "api.status", "api.json", "names.half")]
    failed = tests["webgrade check (api.status)"]
    assert failed["message"] == "expected 200, saw 404 — try: rename the route to /api/data"
    assert (failed["filename"], failed["line_no"], failed["status"]) == ("main.py", 18, "fail")
    assert tests["webgrade check (api.json)"]["message"] == (
        "the API answers JSON (api.json): not graded: it needs api.status"
    )


def test_gradescope_results(tmp_path):
    gradescope.write(
        every_kind_of_check(), tmp_path / "results", settings(tmp_path, gradescope_hidden="after_due_date")
    )
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    check_gradescope_fields(results)
    assert results["output"].startswith("score 1.5/4.5 (failed)\ngraded the cell at line 3\n1 hidden check")
    tests = {t["name"]: t for t in results["tests"]}
    assert tests["the password is zebra (secret.word)"]["visibility"] == "after_due_date"
    assert tests["GET /api/data answers 200 (api.status)"]["output"] == (
        "expected 200, saw 404\ntry: rename the route to /api/data\nwarning: a <warning> & *stars*\n\n"
        "the server printed:\nTraceback (most recent call last)\n  a line"
    )
    assert results["score"] == 1.5, "hidden checks count"


def test_points_are_written_the_same_everywhere():
    assert [points(v) for v in (2.0, 0.5, 13, 0, 1 / 3)] == ["2", "0.5", "13", "0", "0.333333"]


# --- student text is untrusted, in every renderer ---


def test_visible_escapes_every_control_character_but_newline_and_tab():
    every = "".join(map(chr, range(0xA1)))
    shown = visible(every)
    assert not CONTROLS.search(shown)
    assert "\n" in shown and "\t" in shown
    assert visible("\x1b[31m\x07\x00\x9b\x85\x7f\r") == "\\x1b[31m\\x07\\x00\\x9b\\x85\\x7f\\r"
    assert visible("plain text, é € 😀\n\tindented") == "plain text, é € 😀\n\tindented"


def _texts_of_json(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for key, item in value.items() for t in (*_texts_of_json(key), *_texts_of_json(item))]
    if isinstance(value, list):
        return [t for item in value for t in _texts_of_json(item)]
    return []


def _written(tmp_path: Path, monkeypatch, capsys) -> dict[str, str]:
    """What each renderer writes for a report full of hostile text, as its reader gets it."""
    report = every_kind_of_check(HOSTILE)
    student = report.for_student()
    summary, output = tmp_path / "summary.md", tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    (tmp_path / "main.py").write_text("")
    terminal.write(student, None, settings(tmp_path, verbose=True))
    terminal_text = capsys.readouterr().out
    json_report.write(report, None, settings(tmp_path, verbose=True))
    json_text = capsys.readouterr().out
    github.write(student, None, settings(tmp_path, in_actions=True))
    annotations = capsys.readouterr().out
    junit.write(student, tmp_path / "junit.xml", settings(tmp_path))
    classroom.write(student, output, settings(tmp_path))
    gradescope.write(report, tmp_path / "gs", settings(tmp_path))
    gradescope_problem = gradescope.write_problem(tmp_path / "gs-problem", "no Flask app" + HOSTILE, HOSTILE)
    classroom_json = base64.b64decode(output.read_text().strip().removeprefix("result=")).decode()
    return {
        "terminal": terminal_text,
        "json (raw)": json_text,
        "markdown feedback": markdown.render(student),
        "markdown feedback, cut to fit": markdown.render(student, max_bytes=1_500),
        "github annotations": annotations,
        "github annotations, as the runner reads them": "\n".join(
            re.sub("%0A|%0D|%25", lambda m: {"%0A": "\n", "%0D": "\r", "%25": "%"}[m[0]], line)
            for line in annotations.splitlines()
        ),
        "github step summary": summary.read_text(),
        "junit (raw)": (tmp_path / "junit.xml").read_text(),
        "junit (parsed)": "\n".join(ET.parse(tmp_path / "junit.xml").getroot().itertext()),
        "classroom (values)": "\n".join(_texts_of_json(json.loads(classroom_json))),
        "gradescope (values)": "\n".join(_texts_of_json(json.loads((tmp_path / "gs" / "results.json").read_text()))),
        "gradescope problem (values)": "\n".join(_texts_of_json(json.loads(gradescope_problem.read_text()))),
    }


def test_student_text_reaches_no_reader_with_its_control_characters(tmp_path, monkeypatch, capsys):
    written = _written(tmp_path, monkeypatch, capsys)
    for where, text in written.items():
        found = CONTROLS.search(text)
        assert found is None, f"{where} holds {found[0]!r}: {text[max(found.start() - 40, 0) : found.end() + 40]!r}"
        assert "31mred" in text, f"{where}: the student's text is still there, escaped, not dropped"
    for where in ("terminal", "junit (parsed)", "github annotations, as the runner reads them", "gradescope (values)"):
        assert "\\x1b[31mred\\x1b[0m \\x1b]0;pwned title\\x07" in written[where], where
        assert "\\x9b2J c1 \\x85nel \\x00nul \\x7fdel \\rcr" in written[where], where
    # Markdown escapes the backslash too: the page shows the same \x1b.
    assert "\\\\x1b\\[31mred\\\\x1b\\[0m" in written["markdown feedback"]


def test_json_keeps_student_text_exact_and_escapes_it_the_json_way(tmp_path, capsys):
    report = every_kind_of_check(HOSTILE)
    json_report.write(report, None, settings(tmp_path))
    text = capsys.readouterr().out
    assert "\\u001b[31mred" in text and "\\u009b2J" in text and "\\u007fdel" in text
    assert json.loads(text) == report.to_dict(), "parsed, the values are the student's text exactly"
