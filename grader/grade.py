"""Grade one submission: start it, run the checks, stop it, return a Report.

The data flows one way: find the submission (``grader.find.submission``) -> start
it (``grader.run.server``) -> run checks (pytest, ``grader.check.runner``, whose fixtures
come from ``grader.check.plugin``) -> collect results (``grader.check.collector`` makes
``grader.results``) -> render a report (``grader.reports``).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader.find.submission import Submission
from grader.results import Report
from grader.rubric import Rubric
from grader.run import diagnose
from grader.run.limits import Limits
from grader.run.server import Server, StartError

if TYPE_CHECKING:
    from grader.check.browser import Browser


@dataclass
class Options:
    """How to run the grading (not what is graded: that is the rubric)."""

    timeout: float = 20.0
    python: str = sys.executable
    command: str | None = None
    port: int | None = None
    #: Folders or files of instructor checks, graded alongside the built-in ones.
    extra_checks: list[Path] = field(default_factory=list)
    #: The browser check: True runs it (fails without a browser), False skips it,
    #: None runs it when a browser is installed, and always in CI.
    browser_check: bool | None = None
    #: A grader.check.browser.Browser shared by a batch; None: grade() launches one for this grading.
    browser: Browser | None = None
    #: "auto" (bubblewrap where it works), "bwrap" (required) or "none"; see grader.run.sandbox.
    sandbox: str = "auto"
    #: Resource limits on the student's server (memory, CPU time, file size, processes, output kept).
    limits: Limits = field(default_factory=Limits)
    #: Seconds one submission may take in all (start, checks, stop); past it the server is stopped.
    time_limit: float = 120.0


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
            sandbox=options.sandbox,
            limits=options.limits,
            hide=[*options.extra_checks, *rubric.checks_dirs, *(p for p in (rubric.schema, rubric.source) if p)],
        )
        self._problem: diagnose.StartProblem | None = None
        self._waited = False
        #: What a browser drew, by check id (PNG, from grader.check.browser.Visit.screenshot); grade()
        #: puts each on its check's CheckResult, for the outputs that show it.
        self.screenshots: dict[str, bytes] = {}

    def start(self) -> None:
        try:
            self.server.start()
        except OSError as error:  # e.g. the Python to run it with does not exist
            self._problem = diagnose.StartProblem(
                "exited",
                f"expected to start the server with {self.options.python}, saw: {error.strerror or error}",
                "pass --python the path of a Python that has flask installed",
            )
            self._waited = True

    def problem(self) -> diagnose.StartProblem | None:
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


def _browser_wanted(rubric: Rubric, options: Options) -> bool:
    """Whether the browser check will want a browser: not with --no-browser, nor for an origin it skips."""
    if options.browser_check is False:
        return False
    from grader.check.browser import on_this_computer  # light: Playwright is imported by the browser's thread

    return on_this_computer(rubric.origin)


def _own_browser() -> Browser | None:
    """A browser for this grading alone (none was given), when one is installed."""
    from grader.check.browser import Browser

    browser = Browser(prepare_next=False)  # this grading's page only: no context made for a next one
    return browser if browser.executable is not None else None


def grade(submission: Submission, rubric: Rubric | None = None, options: Options | None = None) -> Report:
    rubric = rubric or Rubric()
    options = options or Options()
    started = time.monotonic() - submission.found_in_s  # finding the file is part of the grading
    wanted = _browser_wanted(rubric, options)
    own_browser = _own_browser() if wanted and options.browser is None else None
    if own_browser is not None:
        options = dataclasses.replace(options, browser=own_browser)
    grading = Grading(submission, rubric, options)
    # The overall time limit: past it the server is stopped, so whatever check waits on it ends at once.
    watchdog = threading.Timer(options.time_limit, grading.server.expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        grading.start()  # inside the try: an interrupt during the spawn still stops the server
        if wanted and options.browser is not None:
            # Launched now (a shared one: unless it runs already), in its own thread: Playwright's driver
            # and Chromium start while the server boots and the HTTP checks run, so the browser check
            # then costs only the page.
            options.browser.start()
        # Imported only now, so the server boots on the other core meanwhile.
        import grader.check.schema
        from grader.check.runner import run_checks  # imports pytest

        grader.check.schema.load_schema(rubric.schema_path)  # jsonschema, and a bad --schema fails here

        folders = [rubric.lesson.checks_dir, *rubric.checks_dirs, *options.extra_checks]
        checks = run_checks(grading, list(dict.fromkeys(folders)))
    finally:
        watchdog.cancel()
        grading.stop()
        if own_browser is not None:
            # Not waited for (only a launch under way at this very moment is): a launch not begun yet
            # (the server never started) never begins, and Playwright's driver stops Chromium and removes
            # its profile even if this process exits first.
            own_browser.close(wait=False)
    for check in checks:
        check.screenshot = grading.screenshots.get(check.id)
    report = Report(
        submission=str(submission.path),
        entry=str(submission.entry),
        checks=checks,
        duration_s=time.monotonic() - started,
        server_log=grading.server.log_text(),
    )
    if submission.cell is not None:
        report.notes.append(
            f"graded cell {submission.cell} of {submission.entry.name}, the last one that creates a Flask app"
        )
    report.sandbox = str(grading.server.sandbox)  # the report model holds plain strings
    report.process = str(grading.server.backend)
    if grading.server.sandbox != "bwrap":  # said when it matters: the machine is less protected
        report.notes.append(
            f"sandbox: none ({grading.server.sandbox_note}); "
            "the resource limits still apply, except the one on the number of processes"
        )
    if grading.server.expired:
        report.notes.append(f"grading was stopped after the time limit of {options.time_limit:g} s for one submission")
    report.notes.extend(grading.server.warnings)
    report.notes.extend(rubric.apply_required(report.checks))
    return report
