"""The scorecard a student reads: one line per check, then the score.

Styled with click (already loaded for the CLI) rather than rich: rich's
import would cost a noticeable share of a run that a student repeats after
every edit.

Every text of the report goes through :func:`~grader.reports.visible`: a
student's server output must not drive the student's terminal.
"""

from __future__ import annotations

from pathlib import Path

import click

from grader.reports import Audience, Settings, github, visible
from grader.results import CheckResult, Report, points

NAME = "text"
AUDIENCE: Audience = "student"

MARKS = {"passed": ("✓", "green"), "failed": ("✗", "red"), "not_graded": ("–", "yellow"), "skipped": ("○", "blue")}


def _check(result: CheckResult, verbose: bool, previous: CheckResult | None) -> list[str]:
    mark, colour = MARKS[result.status]
    earned = f"{points(result.score)}/{points(result.max_score)}"
    name, check_id = visible(result.name), visible(result.id)
    lines = [f"{click.style(mark, fg=colour, bold=True)} {earned:>5}  {name}  {click.style(check_id, dim=True)}"]
    repeated = previous is not None and previous.status == result.status and previous.message == result.message
    if result.message and result.status != "passed" and not repeated:
        lines.append(f"         {visible(result.message)}")
    if result.hint and result.status == "failed":
        lines.append(click.style(f"         try: {visible(result.hint)}", fg="cyan"))
    for warning in result.warnings:
        lines.append(click.style(f"         warning: {visible(warning)}", fg="yellow"))
    if result.log and result.status == "failed":
        lines.append(click.style("         the server printed:", dim=True))
        lines.extend(click.style(f"           | {visible(line)}", dim=True) for line in result.log.splitlines())
    if verbose and result.detail and result.status != "passed":
        lines.append(click.style("         seen:", dim=True))
        lines.extend(f"           {visible(line)}" for line in result.detail.splitlines()[:200])
    return lines


def render(report: Report, verbose: bool = False) -> str:
    """The scorecard: a line per check (what to fix under each that did not pass), then the score."""
    lines = [click.style(f"webgrade: {visible(report.entry)}", bold=True)]
    lines.extend(f"  {visible(note)}" for note in report.notes)
    lines.append("")
    previous = None
    for result in report.checks:
        lines.extend(_check(result, verbose, previous))
        previous = result
    lines.append("")
    colour = {"passed": "green", "failed": "red", "not_graded": "yellow"}[report.status]
    summary = f"score {points(report.score)}/{points(report.max_score)}"
    if report.status == "not_graded":
        summary += " — the server did not start, so nothing else could be graded"
    elif report.status == "failed":
        # The failures to fix: a check not graded because another failed is fixed with that one.
        failed = sum(1 for c in report.checks if c.status == "failed")
        summary += f" — {failed} check{'s' if failed != 1 else ''} to fix"
    else:
        summary += " — all checks passed"
    lines.append(click.style(summary, fg=colour, bold=True) + click.style(f"  ({report.duration_s:.2f} s)", dim=True))
    if verbose and report.server_log:
        lines.append("")
        lines.append(click.style("the server's output:", bold=True))
        lines.extend(f"  | {visible(line)}" for line in report.server_log.splitlines())
    return "\n".join(lines)


def write(report: Report, dest: Path | None, settings: Settings) -> None:
    """Print the scorecard on stdout (``dest`` is not used).

    In GitHub Actions it is fenced: student text in it must not issue workflow commands.
    """
    text = render(report, settings.verbose)
    click.echo(github.fenced(text) if settings.in_actions else text)
