"""``--gradescope [DIR]``: Gradescope's ``results.json``, as its autograder specification describes.

Top level: ``score`` (the whole score, hidden checks included), ``execution_time``
(seconds), ``output`` and ``output_format`` (what the student reads above the
tests), ``visibility``, ``stdout_visibility`` and ``tests``.  Each test has
``name``, ``number``, ``score``, ``max_score``, ``status`` ("passed" or
"failed"), ``output``, ``output_format``, ``tags`` and ``visibility``.

Gradescope has its own per-test visibility, so this renders the full report:
hidden checks are listed with the rubric's hidden visibility ("hidden" by
default: never shown to the student), and the run's stdout, which may name
them, is hidden from students too.  Gradescope shows the texts to the student
as they are, so their control characters are shown escaped
(:func:`~grader.reports.visible`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from grader.reports import GRADESCOPE_RESULTS, Audience, Settings, visible
from grader.results import CheckResult, Report

NAME = "gradescope"
AUDIENCE: Audience = "full"


def _output(check: CheckResult) -> str:
    if check.status == "passed":
        lines = ["passed"]
    else:
        lines = [check.message or check.status.replace("_", " ")]
        if check.hint and check.status == "failed":
            lines.append(f"try: {check.hint}")
    lines += [f"warning: {w}" for w in check.warnings]
    if check.log and check.status == "failed":
        lines += ["", "the server printed:", check.log]
    return visible("\n".join(lines))


def results(report: Report, hidden_visibility: str = "hidden") -> dict[str, Any]:
    """results.json's content: every check, the hidden ones with ``hidden_visibility``."""
    student = report.for_student()
    output = [f"score {student.score:g}/{student.max_score:g} ({student.status.replace('_', ' ')})", *student.notes]
    tests = [
        {
            "name": visible(f"{check.name} ({check.id})"),
            "number": str(number),
            "score": check.score,
            "max_score": check.max_score,
            "status": "passed" if check.status == "passed" else "failed",
            "output": _output(check),
            "output_format": "text",
            "tags": [check.category],
            "visibility": hidden_visibility if check.hidden else "visible",
        }
        for number, check in enumerate(report.checks, 1)
    ]
    return {
        "score": report.score,
        "execution_time": math.ceil(report.duration_s),
        "output": visible("\n".join(output)),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"webgrade_status": report.status},
    }


def write(report: Report, dest: Path | None, settings: Settings) -> None:
    """Write ``results.json`` into the folder ``dest`` (default: where Gradescope looks for it)."""
    folder = dest or Path(GRADESCOPE_RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results(report, settings.gradescope_hidden), indent=2, ensure_ascii=False)
    (folder / "results.json").write_text(text + "\n", encoding="utf-8")


def write_problem(folder: Path, message: str, hint: str = "") -> Path:
    """results.json for a submission that could not be graded at all (no Flask app found, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    text = visible(message + (f"\ntry: {hint}" if hint else ""))
    data = {
        "score": 0,
        "execution_time": 0,
        "output": text,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
