"""GitHub Classroom: the ``result`` output that the classroom grading reporter reads.

The reporter (classroom-resources/autograding-grading-reporter) takes, for
each runner named in its ``runners`` input, an environment variable
``<RUNNER>_RESULTS`` holding base64 of this JSON (the format of Classroom's own
graders, version 1)::

    {"version": 1, "status": "pass" | "fail" | "error", "max_score": 13,
     "tests": [{"name", "status", "score", "message", "test_code",
                "filename", "line_no", "duration"}]}

Classroom records the sum of the tests' ``score`` out of ``max_score``.  It is
rendered from the student's view of the report, so the points Classroom
records are the points the student saw in the terminal and the step summary.
The reporter prints each failed test's name and message to the job log, so
they are made one line that no runner reads as a workflow command.
"""

from __future__ import annotations

import base64
import json
import os

from grader.reports.github import defang
from grader.results import Report

STATUS = {"passed": "pass", "failed": "fail", "not_graded": "error"}


def result(report: Report) -> dict:
    tests = []
    for check in report.checks:
        message = check.message if check.status != "passed" else ""
        if check.hint and check.status == "failed":
            message += f" — try: {check.hint}"
        tests.append({
            "name": defang(f"{check.name} ({check.id})"),
            "status": "pass" if check.status == "passed" else "fail",
            "score": check.score,
            "message": defang(message),
            "test_code": f"webgrade check ({check.id})",
            "filename": check.file or "",
            "line_no": check.line or 0,
            "duration": 0,
        })  # fmt: skip
    return {"version": 1, "status": STATUS[report.status], "max_score": report.max_score, "tests": tests}


def encode(report: Report) -> str:
    """The value of the ``result`` output: base64 of the JSON above."""
    return base64.b64encode(json.dumps(result(report), ensure_ascii=False).encode("utf-8")).decode("ascii")


def write_output(report: Report, output_file: str | None = None) -> None:
    """Append ``result=<base64>`` to the step's outputs file ($GITHUB_OUTPUT)."""
    path = output_file or os.environ["GITHUB_OUTPUT"]
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"result={encode(report)}\n")
