"""``--classroom`` read by a model of GitHub Classroom's grading reporter.

The reporter (classroom-resources/autograding-grading-reporter@v1, d13b591) is
not on a package registry, so its contract, measured on webgrade's output and
read from its source at that tag, is modelled here in a few lines:

* it decodes ``<RUNNER>_RESULTS`` (base64 JSON; the workflow hands it webgrade's
  ``result`` step output, a ``result=...`` line of ``$GITHUB_OUTPUT``);
* per test: ``pass`` prints ``✅ name``, ``error`` prints ``Error: message``,
  every other status (``skip`` included) ``❌ name``; `` - line N`` follows the
  name when ``line_no`` is not 0; ``test_code`` is printed when present;
* ``Total points for <runner>`` is passed/listed × max_score (every test weighs
  the same there) and "Grand total tests passed: p/n";
* Classroom records the notice ``Points X/Y``: X is ``0 + score + score ...``
  over every test, in JavaScript numbers (IEEE doubles, so 0.1+0.2 is
  0.30000000000000004), Y the sum of the runners' truthy ``max_score``;
* the step fails ("Some tests failed.") when a runner's status is ``fail``,
  else ("Some tests errored.") when one is ``error``.

The outputs of real ``webgrade check --classroom`` runs go through it, and what
it prints and records is compared with webgrade's own score for the student
(the student's view: hidden checks are not in Classroom's output).
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import shutil
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from conftest import ROOT, run_webgrade

from grader.reports import classroom
from grader.results import CheckResult, Report

# --- the reporter's contract, as a model ---


def js_number(x: float) -> str:
    """ECMAScript Number::toString(x): what `${x}` prints."""
    if math.isnan(x):
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number(-x)
    _, digits, exponent = Decimal(repr(float(x))).normalize().as_tuple()  # repr: the shortest round-trip digits
    s = "".join(map(str, digits))
    k, n = len(s), exponent + len(s)
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return f"{s[:n]}.{s[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + s
    e = f"e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return f"{s}{e}" if k == 1 else f"{s[0]}.{s[1:]}{e}"


def js_to_fixed_2(x: float) -> str:
    """Number.prototype.toFixed(2): the exact double, halves rounded up."""
    return "NaN" if math.isnan(x) else str(Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def step_outputs(github_output: str) -> dict[str, str]:
    """The step's outputs, read from $GITHUB_OUTPUT as the runner reads it (name=value, or name<<DELIM ... DELIM)."""
    outputs, lines = {}, iter(github_output.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for body in lines:
                if body == delimiter:
                    break
                value.append(body)
            outputs[name] = "\n".join(value)
        elif line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


@dataclass
class Reported:
    log: list[str]  # the reporter's console, one entry per console.log, colours left out
    notices: list[str]  # the annotations Classroom reads ("Points X/Y", then the JSON)
    failed: str | None  # core.setFailed's message: the step fails when set


def grading_reporter(runners: str, env: dict[str, str]) -> Reported:
    """What autograding-grading-reporter@v1 does with ``runners`` and the ``<RUNNER>_RESULTS`` variables."""
    results = []
    for runner in runners.split(","):
        encoded = env[f"{runner.strip().upper()}_RESULTS"]
        # JSON.parse: every number is a double.
        results.append((runner, json.loads(base64.b64decode(encoded).decode("utf-8"), parse_int=float)))
    log: list[str] = []
    grand_passed = grand_total = 0
    for runner, result in results:
        max_score = result.get("max_score") or 0
        passed = 0
        for test in result["tests"]:
            where = f" - line {js_number(test['line_no'])}" if test.get("line_no") != 0 else ""
            if test["status"] == "pass":
                passed += 1
                log.append(f"✅ {test['name']}{where}")
            elif test["status"] == "error":
                fallback = f"Failed to run test '{test['name']}'"
                log.append(f"Error: {test.get('message') or fallback}")
            else:
                log.append(f"❌ {test['name']}{where}")
            if test.get("test_code"):
                log.append(f"Test code:\n{test['test_code']}")
        grand_passed += passed
        grand_total += len(result["tests"])
        if max_score != 0:
            share = passed / len(result["tests"]) * max_score if result["tests"] else float("nan")
            log.append(f"Total points for {runner}: {js_to_fixed_2(share)}/{js_number(max_score)}")
    log.append(f"🏆 Grand total tests passed: {grand_passed}/{grand_total}")
    total_points: float = 0.0
    max_points: float = 0.0
    for _, result in results:
        if not result.get("max_score"):
            continue
        max_points += result["max_score"]
        for test in result["tests"]:
            total_points += test["score"]
    notices = []
    if max_points:
        notices = [
            f"Points {js_number(total_points)}/{js_number(max_points)}",
            f'{{"totalPoints":{js_number(total_points)},"maxPoints":{js_number(max_points)}}}',
        ]
    failed = None
    if any(result["status"] == "fail" for _, result in results):
        failed = "Some tests failed."
    elif any(result["status"] == "error" for _, result in results):
        failed = "Some tests errored."
    return Reported(log, notices, failed)


def reporter_on(github_output: str) -> Reported:
    """The student template's wiring: runner ``webgrade``, WEBGRADE_RESULTS = steps.webgrade.outputs.result."""
    return grading_reporter("webgrade", {"WEBGRADE_RESULTS": step_outputs(github_output)["result"]})


def id_in(line: str) -> str:
    """The check id in a reporter line: names are "its name (its.id)"."""
    return re.search(r"\(([\w.-]+)\)(?: - line \d+)?(?::|$)", line).group(1)


def assert_reporter_agrees(reported: Reported, student: Report) -> None:
    """What the reporter prints and records is webgrade's grade for the student, and says nothing false."""
    by_status = {
        status: [c.id for c in student.checks if c.status == status]
        for status in ("passed", "failed", "not_graded", "skipped")
    }
    assert [id_in(line) for line in reported.log if line.startswith("✅")] == by_status["passed"]
    # Only a check that failed is a red cross: not one that was not graded or could not run here.
    assert [id_in(line) for line in reported.log if line.startswith("❌")] == by_status["failed"]
    errors = [line for line in reported.log if line.startswith("Error: ")]
    assert [id_in(line) for line in errors] == by_status["not_graded"]
    for line, check_id in zip(errors, by_status["not_graded"], strict=False):
        message = next(c.message for c in student.checks if c.id == check_id)
        assert line.endswith(" ".join(message.split()))  # on one line
    for check_id in by_status["skipped"]:
        assert not any(f"({check_id})" in line for line in reported.log if not line.startswith("Test code"))
    # The points Classroom records are webgrade's, to the last digit.
    assert reported.notices[0] == f"Points {js_number(student.score)}/{js_number(student.max_score)}"
    assert json.loads(reported.notices[1]) == {"totalPoints": student.score, "maxPoints": student.max_score}
    # The step fails exactly when the grade is not full.
    full = student.score == student.max_score
    assert (reported.failed is None) == full, (reported.failed, student.score, student.max_score)
    if not full:
        assert reported.failed == ("Some tests errored." if student.status == "not_graded" else "Some tests failed.")
    listed = len(student.checks) - len(by_status["skipped"])
    grand = f"🏆 Grand total tests passed: {len(by_status['passed'])}/{listed}"
    assert reported.log[-1] == grand
    if full:
        assert (
            f"Total points for webgrade: {js_to_fixed_2(student.max_score)}/{js_number(student.max_score)}"
            in reported.log
        )


def assert_numbers_are_plain(github_output: str) -> None:
    """Whole points are written as ints (13, not 13.0)."""
    result = json.loads(base64.b64decode(step_outputs(github_output)["result"]))
    for value in [result["max_score"], *(t["score"] for t in result["tests"])]:
        assert not (isinstance(value, float) and value.is_integer()), result


# --- real runs of webgrade check --classroom ---


def classroom_run(submission: str, tmp_path: Path, monkeypatch, *args: str) -> tuple[Report, str]:
    """Grade a copy of ``submission`` (relative to the repository) with --classroom, as in the student template."""
    folder = tmp_path / Path(submission).name
    shutil.copytree(ROOT / submission, folder)
    github_output = tmp_path / "github_output"
    github_output.write_text("")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    run = run_webgrade(str(folder), "--format", "json", "--no-browser", "--classroom", *args, watch=folder)
    assert run.code == (0 if run.report["status"] == "passed" else 1), run.stderr
    full = Report.from_dict(run.report)
    assert (full.score, full.max_score, full.status) == (
        run.report["score"],
        run.report["max_score"],
        run.report["status"],
    )
    return full, github_output.read_text()


def test_a_full_grade_with_a_check_that_could_not_run(tmp_path, monkeypatch):
    """The measured case: browser.table skipped (no browser), 13/13; it used to print ❌ and "9/10"."""
    full, output = classroom_run("reference_server", tmp_path, monkeypatch)
    assert full.status == "passed" and [c.id for c in full.checks if c.status == "skipped"] == ["browser.table"]
    reported = reporter_on(output)
    assert_reporter_agrees(reported, full)
    assert reported.notices[0] == "Points 13/13" and reported.failed is None
    assert reported.log[-1] == "🏆 Grand total tests passed: 9/9"
    assert not any(line.startswith(("❌", "Error")) for line in reported.log)
    assert_numbers_are_plain(output)


def test_a_failing_grade_fails_the_step(tmp_path, monkeypatch):
    full, output = classroom_run("tests/servers/route_renamed", tmp_path, monkeypatch)
    assert {"passed", "failed", "not_graded"} <= {c.status for c in full.checks}
    reported = reporter_on(output)
    assert_reporter_agrees(reported, full)
    assert reported.failed == "Some tests failed."
    assert any(line.startswith("❌") and line.endswith("(api.status) - line 18") for line in reported.log)
    assert_numbers_are_plain(output)


def test_a_server_that_does_not_start_errors_the_step(tmp_path, monkeypatch):
    full, output = classroom_run("tests/servers/crash_import", tmp_path, monkeypatch)
    assert full.status == "not_graded" and full.score == 0
    reported = reporter_on(output)
    assert_reporter_agrees(reported, full)
    # server.start failed (❌); everything after it did not run: an error naming it, not a ❌.
    assert [id_in(line) for line in reported.log if line.startswith("❌")] == ["server.start"]
    assert reported.failed == "Some tests errored."


def test_hidden_checks_stay_out_and_the_visible_points_are_recorded(tmp_path, monkeypatch):
    full, output = classroom_run(
        "examples/solution", tmp_path, monkeypatch, "--rubric", str(ROOT / "examples" / "webgrade.toml")
    )
    hidden = [c for c in full.checks if c.hidden]
    assert [c.id for c in hidden] == ["names.unknown"] and hidden[0].status == "passed"
    student = full.for_student()
    reported = reporter_on(output)
    assert_reporter_agrees(reported, student)
    assert student.max_score == full.max_score - hidden[0].max_score
    decoded = base64.b64decode(step_outputs(output)["result"]).decode("utf-8")
    assert "names.unknown" not in decoded and hidden[0].name not in decoded
    assert_numbers_are_plain(output)


FRACTIONAL_RUBRIC = "\n".join(
    f'[checks."{check_id}"]\npoints = 0.1'
    for check_id in (
        "server.start",
        "home.status",
        "home.html",
        "home.not_found",
        "api.status",
        "api.json",
        "api.schema",
        "cors.preflight",
        "cors.response",
        "browser.table",
    )
)


def test_fractional_points_are_recorded_exactly(tmp_path, monkeypatch):
    """Nine checks worth 0.1: webgrade says 0.9, and so must Classroom (not 0.8999999999999999)."""
    rubric = tmp_path / "webgrade.toml"
    rubric.write_text(FRACTIONAL_RUBRIC + "\n")
    full, output = classroom_run("reference_server", tmp_path, monkeypatch, "--rubric", str(rubric))
    assert (full.score, full.max_score) == (0.9, 0.9)
    reported = reporter_on(output)
    assert_reporter_agrees(reported, full)
    assert reported.notices[0] == "Points 0.9/0.9"


# --- hand-built reports ---


def test_a_full_grade_with_every_check_run_passes():
    report = Report("sub", "main.py", [CheckResult(f"c.{n}", f"check {n}", "passed", n, n) for n in (1, 2, 3)])
    reported = grading_reporter("webgrade", {"WEBGRADE_RESULTS": classroom.encode(report)})
    assert_reporter_agrees(reported, report)
    assert reported.notices[0] == "Points 6/6" and reported.log[-1] == "🏆 Grand total tests passed: 3/3"


def test_a_failing_hidden_check_is_not_in_classroom():
    """Classroom gets the student's view: the visible points, and a hidden failure neither named nor counted."""
    report = Report(
        "sub",
        "main.py",
        [
            CheckResult("c.seen", "seen", "passed", 2, 2),
            CheckResult("c.secret", "the secret zebra", "failed", 0, 3, "zebra", hidden=True),
        ],
    )
    student = report.for_student()
    encoded = classroom.encode(student)
    assert "zebra" not in base64.b64decode(encoded).decode("utf-8")
    reported = grading_reporter("webgrade", {"WEBGRADE_RESULTS": encoded})
    assert_reporter_agrees(reported, student)
    assert reported.notices[0] == "Points 2/2"


def _fractional_reports():
    rng = random.Random(20240601)  # fixed: the same cases every run
    yield [0.1, 0.2]
    yield [0.1] * 3
    yield [0.7, 0.1, 0.2, 0]
    yield [1 / 3] * 3  # Report.score rounds to 4 decimals: 1.0
    yield [0.05] * 7 + [0, 0]
    yield [0.33333] * 3  # 0.99999, which Report.score rounds to 1.0
    points = [0, 0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 1, 1.5, 2.2, 0.05, 0.33]
    for _ in range(200):
        yield [rng.choice(points) for _ in range(rng.randint(1, 14))]


def test_fractional_sums_are_exact_in_the_reporter():
    noisy = 0  # cases where adding the checks' own scores would not give webgrade's score
    for scores in _fractional_reports():
        checks = [
            CheckResult(f"c.n{i}", f"check {i}", "passed" if s else "failed", s, max(s, 0.5), "m")
            for i, s in enumerate(scores)
        ]
        report = Report("sub", "main.py", checks)
        reported = grading_reporter("webgrade", {"WEBGRADE_RESULTS": classroom.encode(report)})
        assert reported.notices[0] == f"Points {js_number(report.score)}/{js_number(report.max_score)}", scores
        tests = classroom.result(report)["tests"]
        for test, check in zip(tests, checks, strict=False):  # a test's score moves by the rounding only, never visibly
            assert abs(test["score"] - check.score) < 1e-4
        total = 0.0
        for check in checks:
            total += check.score
        noisy += total != report.score
    assert noisy > 50, "the cases exercise sums that floating point gets wrong"


def test_the_model_prints_javascript_numbers():
    cases = {
        13.0: "13",
        0.9: "0.9",
        0.1 + 0.2: "0.30000000000000004",
        1e21: "1e+21",
        1e-7: "1e-7",
        0.000001: "0.000001",
        123456789012.5: "123456789012.5",
        2.5e-5: "0.000025",
    }
    for value, text in cases.items():
        assert js_number(value) == text
    assert (js_to_fixed_2(13.0), js_to_fixed_2(11.7), js_to_fixed_2(1.005)) == ("13.00", "11.70", "1.00")
    assert step_outputs("a=1\nresult<<EOF\nx\ny\nEOF\nb=c=d\n") == {"a": "1", "result": "x\ny", "b": "c=d"}


def test_the_model_reproduces_what_was_measured_on_the_old_output():
    """The consumers file measured "Points 13/13", a ❌ for the skipped browser check and "9/10": so does the model."""
    points = [1, 1, 1, 1, 2, 1, 2, 2, 2]
    tests = [{"name": f"check {n} (c.{n})", "status": "pass", "score": p, "line_no": 0} for n, p in enumerate(points)]
    tests.append({"name": "the page draws (browser.table)", "status": "fail", "score": 0, "line_no": 0})
    encoded = base64.b64encode(
        json.dumps({"version": 1, "status": "pass", "max_score": 13, "tests": tests}).encode()
    ).decode()
    reported = grading_reporter("webgrade", {"WEBGRADE_RESULTS": encoded})
    assert "❌ the page draws (browser.table)" in reported.log and reported.failed is None
    assert reported.log[-1] == "🏆 Grand total tests passed: 9/10" and reported.notices[0] == "Points 13/13"
