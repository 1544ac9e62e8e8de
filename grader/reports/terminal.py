"""The scorecard a student reads: one line per check, then the score.

Styled with click (already loaded for the CLI) rather than rich: rich's
import would cost a noticeable share of a run that a student repeats after
every edit.
"""

from __future__ import annotations

import click

from grader.results import CheckResult, Report

MARKS = {"passed": ("✓", "green"), "failed": ("✗", "red"), "not_graded": ("–", "yellow"), "skipped": ("○", "blue")}


def _points(value: float) -> str:
    return f"{value:g}"


def _check(result: CheckResult, verbose: bool, previous: CheckResult | None) -> list[str]:
    mark, colour = MARKS[result.status]
    points = f"{_points(result.score)}/{_points(result.max_score)}"
    lines = [
        f"{click.style(mark, fg=colour, bold=True)} {points:>5}  {result.name}  {click.style(result.id, dim=True)}"
    ]
    repeated = previous is not None and previous.status == result.status and previous.message == result.message
    if result.message and result.status != "passed" and not repeated:
        lines.append(f"         {result.message}")
    if result.hint and result.status == "failed":
        lines.append(click.style(f"         try: {result.hint}", fg="cyan"))
    for warning in result.warnings:
        lines.append(click.style(f"         warning: {warning}", fg="yellow"))
    if result.log and result.status == "failed":
        lines.append(click.style("         the server printed:", dim=True))
        lines.extend(click.style(f"           | {line}", dim=True) for line in result.log.splitlines())
    if verbose and result.detail and result.status != "passed":
        lines.append(click.style("         seen:", dim=True))
        lines.extend(f"           {line}" for line in result.detail.splitlines()[:200])
    return lines


def render(report: Report, verbose: bool = False) -> str:
    lines = [click.style(f"webgrade: {report.entry}", bold=True)]
    lines.extend(f"  {note}" for note in report.notes)
    lines.append("")
    previous = None
    for result in report.checks:
        lines.extend(_check(result, verbose, previous))
        previous = result
    lines.append("")
    colour = {"passed": "green", "failed": "red", "not_graded": "yellow"}[report.status]
    summary = f"score {_points(report.score)}/{_points(report.max_score)}"
    if report.status == "not_graded":
        summary += " — the server did not start, so nothing else could be graded"
    elif report.status == "failed":
        failed = sum(1 for c in report.checks if c.status != "passed" and c.status != "skipped")
        summary += f" — {failed} check{'s' if failed != 1 else ''} to fix"
    else:
        summary += " — all checks passed"
    lines.append(click.style(summary, fg=colour, bold=True) + click.style(f"  ({report.duration_s:.2f} s)", dim=True))
    if verbose and report.server_log:
        lines.append("")
        lines.append(click.style("the server's output:", bold=True))
        lines.extend(f"  | {line}" for line in report.server_log.splitlines())
    return "\n".join(lines)
