"""``--junit FILE``: the scorecard as JUnit XML, for CI systems that show test results.

The file follows Jenkins' ``junit-10.xsd``, the de-facto JUnit schema (pytest
checks its own junitxml against it; Jenkins, GitLab and dorny/test-reporter
read what it allows).  One ``<testcase>`` per check, named "its name (its.id)":

* a failed check carries a ``<failure>`` whose ``message`` is the check's
  message (Jenkins' "Error Message", dorny's annotation title) and whose text
  (what GitLab and dorny show, Jenkins' "Stacktrace") adds where in the
  student's file, the hint, warnings, the points and what the server printed;
* a check that was not graded (or skipped) carries ``<skipped>`` whose text
  says why and the points;
* every case's ``<system-out>`` (Jenkins' "Standard Output") has the points and,
  when known, ``where: FILE:LINE``; the suite's ``<properties>`` the score.

junit-10 has no ``file``/``line`` on ``<testcase>`` (GitLab reads them, the
schema rejects them), so the student's file and line are written as text.
CI pages are shown to students, so this renders the student's view (hidden
checks removed), with control characters shown escaped
(:func:`~grader.reports.visible`).
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from grader.reports import Audience, Settings, visible
from grader.results import CheckResult, Report, points

NAME = "junit"
AUDIENCE: Audience = "student"

#: Characters XML 1.0 cannot hold at all and visible() leaves (lone surrogates, U+FFFE, U+FFFF).
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    """Student text as XML can hold it and a reader can see it."""
    return _NOT_XML.sub("\ufffd", visible(value))


def _where(check: CheckResult) -> str:
    """``main.py:18`` (or ``main.py``), the student's file and line when the check knows them."""
    if not check.file:
        return ""
    return f"{check.file}:{check.line}" if check.line else check.file


def _case(check: CheckResult) -> ET.Element:
    attrs = {
        "classname": _text(f"webgrade.{check.category}"),
        "name": _text(f"{check.name} ({check.id})"),
        "time": "0",
    }
    case = ET.Element("testcase", attrs)
    earned = f"points: {points(check.score)}/{points(check.max_score)}"
    where = _where(check)
    if check.status == "failed":
        body = [check.message]
        if where:
            body.append(f"at {where}")
        if check.hint:
            body.append(f"try: {check.hint}")
        body += [f"warning: {w}" for w in check.warnings]
        body.append(earned)
        if check.log:
            body += ["", "the server printed:", check.log]
        failure = ET.SubElement(case, "failure", {"type": "failed", "message": _text(check.message)})
        failure.text = _text("\n".join(body))
    elif check.status in ("not_graded", "skipped"):
        reason = check.message or check.status
        skipped = ET.SubElement(case, "skipped", {"type": check.status, "message": _text(reason)})
        skipped.text = _text(f"{reason}\n{earned}")
    out = ET.SubElement(case, "system-out")
    out.text = _text(
        earned + (f"\nwhere: {where}" if where else "") + "".join(f"\nwarning: {w}" for w in check.warnings)
    )
    return case


def render(report: Report) -> str:
    """The JUnit XML document, with its declaration."""
    failures = sum(c.status == "failed" for c in report.checks)
    skipped = sum(c.status in ("not_graded", "skipped") for c in report.checks)
    counts = {
        "tests": str(len(report.checks)),
        "failures": str(failures),
        "errors": "0",
        "time": f"{report.duration_s:.3f}",
    }
    # junit-10 allows "skipped" on <testsuite> only, not on the root.
    root = ET.Element("testsuites", {"name": "webgrade", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": "webgrade",
            **counts,
            "skipped": str(skipped),
            "timestamp": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "hostname": socket.gethostname(),
        },
    )
    properties = ET.SubElement(suite, "properties")
    facts = [
        ("submission", report.submission),
        ("entry", report.entry),
        ("status", report.status),
        ("score", points(report.score)),
        ("max_score", points(report.max_score)),
    ]
    facts += [("note", note) for note in report.notes]
    for name, value in facts:
        ET.SubElement(properties, "property", {"name": name, "value": _text(value)})
    suite.extend(_case(check) for check in report.checks)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write(report: Report, dest: Path | None, settings: Settings) -> None:
    """Write the XML to the file ``dest`` (``--junit FILE``), making its folder if needed."""
    if dest is None:
        raise ValueError("JUnit XML is written to a file: give its path")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(render(report), encoding="utf-8")
