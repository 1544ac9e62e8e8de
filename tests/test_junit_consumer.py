"""Every JUnit file webgrade writes validates against Jenkins' junit-10.xsd, and reads well where it is shown.

junit-10.xsd (Jenkins xunit-plugin) is the de-facto JUnit schema: pytest
validates its own junitxml against it, and ships it in its source distribution
at ``testing/example_scripts/junit-10.xsd``.  The schema is fetched once per
session from the package registry (the sdist of the pytest installed here) and
never kept in the repository; it is validated with ``xmlschema``.

Where each consumer shows a case (what the assertions below keep readable):

* Jenkins: the case name, ``<failure message>`` ("Error Message"), the
  failure's text ("Stacktrace"), ``<skipped message>`` and ``<system-out>``;
* GitLab: the case name and the text of ``<failure>``/``<skipped>`` (it reads
  ``system-out`` only for attachments);
* dorny/test-reporter: the case name, ``<failure message>`` and the failure's text.

So the points are in the failure's and the skip's text as well as in
``system-out``, and the student's file and line (``file``/``line`` on
``<testcase>`` are not in junit-10) are written there as text.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from conftest import ROOT, run_webgrade
from junitparser import JUnitXml

from grader.reports import junit
from grader.results import CheckResult, Report

XSD_MEMBER = "testing/example_scripts/junit-10.xsd"
#: What pip prints when it cannot reach the index at all (as opposed to any other failure).
#: (pip -vv logs "Could not fetch URL ...: connection error" even with PIP_RETRIES=0, where -v says nothing.)
UNREACHABLE = (
    "Could not fetch URL",
    "connection error",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "Read timed out",
    "ProxyError",
)


def _pip() -> list[str] | None:
    """A pip that works here: this interpreter's, else the system Python's."""
    candidates = [[sys.executable, "-m", "pip"]]
    candidates += [[found, "-m", "pip"] for name in ("python3", "python") if (found := shutil.which(name))]
    candidates += [[found] for name in ("pip3", "pip") if (found := shutil.which(name))]
    for pip in candidates:
        probe = subprocess.run(
            [*pip, "--version"], check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if probe.returncode == 0:
            return pip
    return None


def _lines_about_the_index(output: str) -> str:
    return "\n".join(
        line
        for line in output.splitlines()
        if line.startswith(("Looking in", "ERROR", "WARNING")) or "Could not fetch" in line
    )


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture(scope="session")
def junit_10(tmp_path_factory) -> xmlschema.XMLSchema:
    """Jenkins' junit-10.xsd, from the sdist of the installed pytest on the package registry."""
    version = importlib.metadata.version("pytest")
    pip = _pip()
    if pip is None:
        pytest.fail("no working pip found (tried this Python's, python3's and pip3): needed to fetch junit-10.xsd")
    where = tmp_path_factory.mktemp("pytest-sdist")
    scratch = where / "tmp"  # pip's build environment, kept under pytest's own temporary directory
    scratch.mkdir()
    download = subprocess.run(
        [
            *pip,
            "download",
            "-vv",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-input",
            f"pytest=={version}",
            "-d",
            str(where),
        ],
        check=False,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(scratch), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    if download.returncode != 0:
        output = download.stdout + download.stderr
        unreachable = any(sign in output for sign in UNREACHABLE)
        why = "the package registry cannot be reached" if unreachable else "`pip download` failed"
        message = f"{why}: junit-10.xsd comes from pytest=={version}'s sdist\n{_lines_about_the_index(output)}"
        if unreachable and not _in_ci():
            pytest.skip(f"{message}\n(with CI=true this is a failure)")
        pytest.fail(message if unreachable else f"{message}\n...\n{output[-3000:]}")
    (sdist,) = where.glob(f"pytest-{version}.tar.gz")
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(f"pytest-{version}/{XSD_MEMBER}")
        assert member is not None, f"{XSD_MEMBER} is not in {sdist.name}"
        text = member.read().decode("utf-8")
    return xmlschema.XMLSchema(text)


def assert_valid(schema: xmlschema.XMLSchema, xml: str | Path) -> None:
    errors = list(schema.iter_errors(str(xml)))
    assert not errors, "not valid against junit-10.xsd:\n" + "\n".join(f"{e.reason} @ {e.path}" for e in errors)


def assert_readable(xml: str, report: Report) -> None:
    """Each check's name, message, points and place are where Jenkins, GitLab and dorny show them."""
    root = ET.fromstring(xml)
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(report.checks)
    for case, check in zip(cases, report.checks, strict=False):
        assert set(case.attrib) == {"name", "classname", "time"}, "junit-10 allows no other attribute here"
        assert case.get("name") == f"{check.name} ({check.id})"
        assert case.get("classname") == f"webgrade.{check.category}"
        points = f"points: {check.score:g}/{check.max_score:g}"
        where = (f"{check.file}:{check.line}" if check.line else check.file) if check.file else None
        out = case.find("system-out")
        assert out is not None and points in out.text
        if where:
            assert f"where: {where}" in out.text
        if check.status == "passed":
            assert case.find("failure") is None and case.find("skipped") is None
        elif check.status == "failed":
            failure = case.find("failure")
            assert failure.get("message") == check.message
            assert failure.text.startswith(check.message) and points in failure.text
            if check.hint:
                assert f"try: {check.hint}" in failure.text
            if where:
                assert f"at {where}" in failure.text
        else:
            skipped = case.find("skipped")
            assert skipped.get("type") == check.status
            assert skipped.get("message") == (check.message or check.status)
            assert skipped.text.startswith(check.message or check.status) and points in skipped.text
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert (properties["score"], properties["max_score"]) == (f"{report.score:g}", f"{report.max_score:g}")
    assert properties["status"] == report.status
    assert [p.get("value") for p in suite.iter("property") if p.get("name") == "note"] == report.notes
    # junitparser (what many tools are built on) reads the same counts.
    (parsed,) = list(JUnitXml.fromstring(xml))
    skipped = sum(c.status in ("not_graded", "skipped") for c in report.checks)
    failed = sum(c.status == "failed" for c in report.checks)
    assert (parsed.tests, parsed.failures, parsed.errors, parsed.skipped) == (len(report.checks), failed, 0, skipped)


# --- the real CLI ---

#: (submission, extra arguments, the report's status, a check status that must occur)
RUNS = {
    "passing, browser skipped": ("reference_server", (), "passed", "skipped"),
    "failing, dependents not graded, at the student's line": ("tests/servers/route_renamed", (), "failed", "failed"),
    "not graded: the server does not start": ("tests/servers/crash_import", (), "not_graded", "not_graded"),
    "hidden instructor check": (
        "examples/solution",
        ("--rubric", str(ROOT / "examples" / "webgrade.toml")),
        "passed",
        "passed",
    ),
}


@pytest.mark.parametrize("case", list(RUNS))
def test_every_junit_file_validates_against_junit_10(case, junit_10, tmp_path, monkeypatch):
    submission, args, status, occurs = RUNS[case]
    folder = tmp_path / Path(submission).name
    shutil.copytree(ROOT / submission, folder)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    xml_file = tmp_path / "out" / "junit.xml"
    run = run_webgrade(str(folder), "--format", "json", "--no-browser", "--junit", str(xml_file), *args, watch=folder)
    assert run.code in (0, 1), run.stderr
    full = Report.from_dict(run.report)
    assert full.status == status and occurs in {c.status for c in full.checks}, run.report
    assert_valid(junit_10, xml_file)
    student = full.for_student()
    assert_readable(xml_file.read_text(encoding="utf-8"), student)
    if case.startswith("hidden"):
        hidden = [c for c in full.checks if c.hidden]
        assert hidden and all(f"({c.id})" not in xml_file.read_text() for c in hidden)
        assert any("hidden check" in note for note in student.notes)
    if case.startswith("failing"):
        assert any(c.file and c.line for c in student.checks if c.status == "failed"), "the line is tested"


# --- hand-built reports: every status and field at once ---


def every_kind_of_check() -> Report:
    checks = [
        CheckResult("server.start", "the server starts", "passed", 1, 1),
        CheckResult(
            "api.status",
            "GET /api/data answers 200",
            "failed",
            0,
            2,
            "expected 200, saw 404",
            "rename the route to /api/data",
            log="\x1b[31mTraceback\x00 (most recent call last)\x07",
            warnings=['a <warning> & "quotes"'],
            file="main.py",
            line=18,
        ),
        CheckResult("api.json", "the API answers JSON", "not_graded", 0, 1, "not graded: it needs api.status"),
        CheckResult("browser.table", "the page draws one row per record", "skipped", 0, 0, "not run (--no-browser)"),
        CheckResult("home.html", "the home page is HTML", "failed", 0, 1, "expected <title>", file="main.py"),
        CheckResult("secret.word", "the password is zebra", "failed", 0, 3, "zebra expected", hidden=True),
        CheckResult("names.half", "half a point", "passed", 0.5, 0.5),
    ]
    return Report("sub", "main.py", checks, 1.5, notes=["graded the cell at line 3"])


@pytest.mark.parametrize("view", ["student", "full"])
def test_hand_built_reports_validate_and_read_well(view, junit_10):
    report = every_kind_of_check()
    if view == "student":
        report = report.for_student()
    xml = junit.render(report)
    assert_valid(junit_10, xml)
    assert_readable(xml, report)


def test_an_empty_report_validates(junit_10):
    assert_valid(junit_10, junit.render(Report("sub", "main.py", [])))
