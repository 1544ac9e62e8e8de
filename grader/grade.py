"""Grade one submission: start it, run the checks, stop it, return a Report.

The data flows one way: find the submission (``grader.submission``) -> start
it (``grader.server``) -> run checks (pytest, ``grader.plugin``) -> collect
results (``grader.results``) -> render a report (``grader.reports``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import diagnose
from grader.results import Report
from grader.rubric import Rubric
from grader.server import Server, StartError
from grader.submission import Submission

CHECKS_DIR = Path(__file__).with_name("checks")


@dataclass
class Options:
    """How to run the grading (not what is graded: that is the rubric)."""

    timeout: float = 20.0
    python: str = sys.executable
    command: str | None = None
    port: int | None = None
    #: Folders or files of instructor checks, graded alongside the built-in ones.
    extra_checks: list[Path] = field(default_factory=list)


class Grading:
    """One submission being graded: its server, its rubric, and whether it started."""

    def __init__(self, submission: Submission, rubric: Rubric, options: Options) -> None:
        self.submission = submission
        self.rubric = rubric
        self.options = options
        self.server = Server(
            submission if options.command is None else None,
            command=options.command,
            workdir=submission.folder,
            python=options.python,
            port=options.port,
        )
        self._problem: diagnose.Problem | None = None
        self._waited = False

    def start(self) -> None:
        try:
            self.server.start()
        except OSError as error:  # e.g. the Python to run it with does not exist
            self._problem = diagnose.Problem(
                "exited",
                f"expected to start the server with {self.options.python}, saw: {error.strerror or error}",
                "pass --python the path of a Python that has flask installed",
            )
            self._waited = True

    def problem(self) -> diagnose.Problem | None:
        """Wait (once) for the server; the reason it did not start, or None."""
        if not self._waited:
            self._waited = True
            try:
                self.server.wait_ready(self.options.timeout)
            except StartError as error:
                self._problem = error.problem
        return self._problem

    def stop(self) -> None:
        self.server.stop()


def grade(submission: Submission, rubric: Rubric | None = None, options: Options | None = None) -> Report:
    rubric = rubric or Rubric()
    options = options or Options()
    started = time.monotonic()
    grading = Grading(submission, rubric, options)
    grading.start()
    try:
        # Imported only now, so the server boots on the other core meanwhile.
        import grader.schema
        from grader.plugin import run_checks  # pytest

        grader.schema.load_schema(rubric.schema)  # jsonschema, and a bad --schema fails here

        checks = run_checks(grading, [CHECKS_DIR, *options.extra_checks])
    finally:
        grading.stop()
    report = Report(
        submission=str(submission.path),
        entry=str(submission.entry),
        checks=checks,
        duration_s=time.monotonic() - started,
        server_log=grading.server.log_text(),
    )
    if submission.cell is not None:
        report.notes.append(f"graded cell {submission.cell} of {submission.entry.name}, the last one that creates a Flask app")
    report.notes.extend(grading.server.warnings)
    return report
