"""The scorecard as Markdown: per-student feedback files and the GitHub step summary.

Student text (messages quote the server's answers and output) is escaped so it
cannot add links, HTML or formatting of its own.
"""

from __future__ import annotations

import html

from grader.results import CheckResult, Report

MARKS = {"passed": "✅", "failed": "❌", "not_graded": "➖", "skipped": "⏭️"}


def escape(text: str) -> str:
    """Plain text inside Markdown: no HTML, no emphasis, no links, no table breaks."""
    text = html.escape(text, quote=False)
    for char in "\\`*_[]|#<>!":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def _row(result: CheckResult) -> str:
    said = escape(result.message) if result.status != "passed" else ""
    if result.hint and result.status == "failed":
        said += f"<br>**Try:** {escape(result.hint)}"
    for warning in result.warnings:
        said += f"<br>⚠️ {escape(warning)}"
    return (f"| {MARKS[result.status]} | {escape(result.name)} | `{result.id}` "
            f"| {result.score:g}/{result.max_score:g} | {said} |")  # fmt: skip


def render(report: Report, title: str = "webgrade") -> str:
    """Render the student's view of ``report`` (hidden checks already removed by the caller)."""
    lines = [f"## {escape(title)}: {report.score:g}/{report.max_score:g} ({report.status.replace('_', ' ')})", ""]
    lines.extend(f"> {escape(note)}" for note in report.notes)
    if report.notes:
        lines.append("")
    lines += ["| | check | id | points | what to fix |", "|---|---|---|---|---|"]
    lines.extend(_row(result) for result in report.checks)
    logs = [c for c in report.checks if c.log and c.status == "failed"]
    for result in logs:
        body = result.log.replace("```", "`\u200b``")
        lines += ["", f"<details><summary>What the server printed ({escape(result.id)})</summary>", "",
                  "```text", body, "```", "", "</details>"]  # fmt: skip
    return "\n".join(lines) + "\n"
