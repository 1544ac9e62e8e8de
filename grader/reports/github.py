"""GitHub Actions: the scorecard in the job's step summary, and one annotation per failed check.

The runner reads every line a step prints and obeys "workflow commands" in it:
a line that starts (after spaces) with ``::name ...::``, and the older form
``##[name ...]`` anywhere in a line.  A student's server output and the answers
our messages quote are student text, so whatever reaches the log must not be
able to issue one (``::add-mask::``, ``::set-output``, ``::stop-commands::``...):

* the scorecard is printed between ``::stop-commands::TOKEN`` and ``::TOKEN::``,
  with a fresh random token the student cannot know, so the runner ignores
  every command inside (GitHub's own advice for printing untrusted text);
* annotations are commands of ours; their message and properties are escaped
  as the runner unescapes them (``%``, CR, LF, and ``:`` ``,`` in properties);
* JSON output stays parseable, so it is not fenced: JSON strings cannot hold a
  raw line break, and ``##[`` is written as ``#\\u0023[``.

GitHub's limits, which it enforces silently or by dropping everything:

* at most 10 error (and 10 warning, 10 notice) annotations are shown per step,
  the rest dropped without a word: with more failed checks, the 10th error says
  how many others failed and where to read them (webgrade emits errors only);
* the runner refuses a step summary file over 1 MiB and uploads none of it:
  webgrade's part is kept within ``STEP_SUMMARY_BUDGET``, and within what is
  left of the limit after what the step already wrote there, by cutting the
  longest messages and logs (never the scorecard's lines).

Student text in annotations and the summary has its control characters shown
escaped (:func:`~grader.reports.visible`): GitHub's log viewer obeys colour
and other escape sequences.

Only the student's view of the report (hidden checks removed) comes here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click

from grader.reports import Audience, Settings, markdown, visible
from grader.results import Report

NAME = "github"
AUDIENCE: Audience = "student"

#: GitHub shows at most this many annotations of each level (error, warning, notice) per step; it drops the rest.
ANNOTATIONS_PER_LEVEL = 10
#: The runner refuses a step summary file larger than this (actions/runner's AttachmentSizeLimit) and uploads nothing.
STEP_SUMMARY_LIMIT = 1024 * 1024
#: At most this much of the step summary is webgrade's: a quarter of the limit, the rest a margin for the step.
STEP_SUMMARY_BUDGET = 256 * 1024
#: How many ids of the failed checks that got no annotation of their own the last annotation lists.
LISTED_IDS = 20


def escape_data(text: str) -> str:
    """A command's message, as the runner's UnescapeData reads it back."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value, as the runner's UnescapeProperty reads it back."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str | int | None) -> str:
    """One workflow command line: ``::name key=value,...::message``, escaped as the runner reads it."""
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def fenced(text: str) -> str:
    """``text`` with workflow commands turned off around it: the runner only logs it."""
    token = secrets.token_hex(16)
    return f"::stop-commands::{token}\n{text}\n::{token}::"


def defang(text: str) -> str:
    """One line of student text that no runner can read as a command (for logs we do not fence)."""
    return " ".join(visible(text).split()).replace("##[", "#\u200b#[")


def safe_json(text: str) -> str:
    """JSON output with the old ``##[`` command form spelled ``#\\u0023[``: the same JSON, no command."""
    return text.replace("##[", "#\\u0023[")


def error_annotations(report: Report, submission_folder: Path, workspace: Path | None = None) -> list[str]:
    """One ``::error`` per failed check, at the student's file and line when we know them.

    GitHub shows only ``ANNOTATIONS_PER_LEVEL`` errors per step, so with more
    failed checks the first ones get an annotation each and the last one says
    how many others failed and where to read them.
    """
    workspace = (workspace or Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())).resolve()
    failed = [result for result in report.checks if result.status == "failed"]
    shown = failed if len(failed) <= ANNOTATIONS_PER_LEVEL else failed[: ANNOTATIONS_PER_LEVEL - 1]
    lines = []
    for result in shown:
        file = line = None
        if result.file:
            path = (submission_folder / result.file).resolve()
            if path.is_file() and path.is_relative_to(workspace):
                file, line = visible(path.relative_to(workspace).as_posix()), result.line
        message = visible(result.message or "this check failed")
        if result.hint:
            message += f"\ntry: {visible(result.hint)}"
        lines.append(command("error", message, file=file, line=line, title=visible(f"{result.name} ({result.id})")))
    if rest := failed[len(shown) :]:
        ids = visible(", ".join(result.id for result in rest[:LISTED_IDS])) + (", …" if len(rest) > LISTED_IDS else "")
        lines.append(
            command(
                "error",
                f"{len(rest)} more checks failed ({ids}), {len(failed)} in all: GitHub shows only "
                f"{ANNOTATIONS_PER_LEVEL} annotations per step. Read every failed check in webgrade's summary "
                "on the run's Summary page, or in this step's log.",
                title=f"{len(rest)} more failed checks",
            )
        )
    return lines


def write_step_summary(report: Report) -> bool:
    """Append the Markdown scorecard to the job's summary page; False when there is none.

    The runner uploads nothing from a file over ``STEP_SUMMARY_LIMIT``, so what
    webgrade appends fits in ``STEP_SUMMARY_BUDGET`` and in what the step left.
    """
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return False
    with open(summary, "ab") as out:
        already = os.fstat(out.fileno()).st_size
        budget = min(STEP_SUMMARY_BUDGET, STEP_SUMMARY_LIMIT - already) - 1  # - 1: the line break after it
        out.write((markdown.render(report, max_bytes=max(budget, 0)) + "\n").encode("utf-8"))
    return True


def in_actions() -> bool:
    """Running as a step of a GitHub Actions job, whose runner reads our output for workflow commands."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def write(report: Report, dest: Path | None, settings: Settings) -> None:
    """In Actions: an annotation per failed check, after the scorecard, then the step summary (``dest`` is not used).

    Annotations go to stderr when stdout holds the JSON object, which must stay one object.
    """
    for line in error_annotations(report, settings.folder or Path.cwd()):
        click.echo(line, err=settings.json_on_stdout)
    write_step_summary(report)
