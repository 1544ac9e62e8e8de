"""GitHub Classroom: the ``result`` output that the classroom grading reporter reads.

The reporter (classroom-resources/autograding-grading-reporter, v1) takes, for
each runner named in its ``runners`` input, an environment variable
``<RUNNER>_RESULTS`` holding base64 of this JSON (the format of Classroom's own
graders, version 1)::

    {"version": 1, "status": "pass" | "fail" | "error", "max_score": 13,
     "tests": [{"name", "status", "score", "message", "test_code",
                "filename", "line_no", "duration"}]}

What the reporter does with it, and so how each check is written:

* it prints ``pass`` as a green ✅ with the name, ``error`` as ``Error: <message>``
  and every other status as a red ❌.  A passed check is ``pass``, a failed one
  ``fail``; a check that was not graded (it needs one that did not pass, or the
  server did not start) did not run and did not pass: ``error``, whose message
  names the check and says why.  A skipped check (it could not run here, e.g. no
  browser) counts neither for nor against and the reporter has no way to show
  it that is not a failure or an error, so it is left out of ``tests``; the
  scorecard printed by ``webgrade check`` just above in the job log lists it.
* Classroom records ``Points X/Y``: X is the sum of the tests' ``score`` added up
  left to right in floating point, Y the ``max_score``.  They are webgrade's
  score and max_score exactly (ints stay ints; with fractional points the last
  scoring test absorbs the rounding of the sum, so 0.1 x 3 is recorded as 0.3,
  not 0.30000000000000004, which Classroom's CSV records as 0).
* the step fails when ``status`` is ``fail`` or ``error``: the report's status
  (``error`` when the server could not be graded), as webgrade's exit code.

It is rendered from the student's view of the report, so the points Classroom
records are the points the student saw in the terminal and the step summary.
The reporter prints names and ``error`` messages to the job log, so they are
made one line that no runner reads as a workflow command, with control
characters shown escaped.
"""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any

from grader.reports import Audience, Settings, visible
from grader.reports.github import defang
from grader.results import CheckResult, Report

NAME = "classroom"
AUDIENCE: Audience = "student"

STATUS = {"passed": "pass", "failed": "fail", "not_graded": "error"}


def _number(value: float) -> int | float:
    """An integral score as an int (13, not 13.0)."""
    return int(value) if float(value).is_integer() else float(value)


def _sum(values: list[float]) -> float:
    """What the reporter computes: ``0 + v1 + v2 + ...`` in floating point (a JavaScript Number)."""
    total: float = 0
    for value in values:
        total += value
    return total


def exact_scores(scores: list[float], target: float) -> list[float]:
    """``scores`` whose floating-point sum, left to right from 0, is exactly ``target``.

    Unchanged when it already is (always so for whole points); otherwise the
    last non-zero score takes the difference, by at most the 4-decimal rounding
    of Report.score and a few units in the last place.
    """
    scores = list(scores)
    if _sum(scores) == target:
        return scores
    last = max((i for i, s in enumerate(scores) if s), default=len(scores) - 1)
    if last < 0:
        return scores
    before = _sum(scores[:last])
    rest = scores[last + 1 :]  # all 0: adding them changes nothing
    value = target - before
    for _ in range(64):  # a step or two at most: x -> before + x is monotonic and hits every float near target
        got = _sum([before, value, *rest])
        if got == target:
            break
        value = math.nextafter(value, math.inf if got < target else -math.inf)
    scores[last] = value
    return scores


def _message(check: CheckResult) -> str:
    if check.status == "not_graded":  # the reporter prints only the message of an error: say which check
        return f"{check.name} ({check.id}): {check.message or 'not graded'}"
    if check.status == "failed":
        return check.message + (f" — try: {check.hint}" if check.hint else "")
    return ""


def result(report: Report) -> dict[str, Any]:
    """The JSON the reporter reads: a test per check that ran, scores that add up exactly to the report's."""
    shown = [c for c in report.checks if c.status != "skipped"]
    scores = exact_scores([c.score for c in shown], report.score)
    tests = []
    for check, score in zip(shown, scores, strict=False):
        tests.append(
            {
                "name": defang(f"{check.name} ({check.id})"),
                "status": STATUS[check.status],
                "score": _number(score),
                "message": defang(_message(check)),
                "test_code": f"webgrade check ({check.id})",
                "filename": visible(check.file or ""),
                "line_no": check.line or 0,
                "duration": 0,
            }
        )
    return {"version": 1, "status": STATUS[report.status], "max_score": _number(report.max_score), "tests": tests}


def encode(report: Report) -> str:
    """The value of the ``result`` output: base64 of the JSON above."""
    return base64.b64encode(json.dumps(result(report), ensure_ascii=False).encode("utf-8")).decode("ascii")


def write(report: Report, dest: Path | None, settings: Settings) -> None:
    """Append ``result=<base64>`` to the step's outputs file: ``dest``, or $GITHUB_OUTPUT."""
    path = dest or Path(os.environ["GITHUB_OUTPUT"])
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"result={encode(report)}\n")
