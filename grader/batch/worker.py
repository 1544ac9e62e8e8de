"""What a batch worker process does: import the grader once, then grade entry after entry.

Runs in the workers of :class:`grader.batch.pool.Pool` (or a cluster's):
:func:`warm_worker` imports the grader and makes the worker's one browser,
:func:`grade_entry` grades one entry with it and answers an :class:`Outcome`.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.batch.entries import Entry
from grader.grade import Options
from grader.results import Report
from grader.rubric import Rubric

if TYPE_CHECKING:
    from grader.check.browser import Memory


@dataclass
class Job:
    entry: Entry
    rubric: Rubric
    options: Options
    #: The batch's process id, in the name of the worker's temporary folder: see :func:`scratch_prefix`.
    batch_pid: int = 0


@dataclass
class Outcome:
    """A worker's answer: a report, or why there is none (not a Flask app, an unsafe zip)."""

    report: Report | None = None
    error: str = ""
    hint: str = ""
    #: The most memory this worker's browser has held with a page open, and which worker it is.
    browser_memory: Memory | None = None
    worker: str = ""


#: This worker's browser, shared by all its gradings (Playwright's objects cannot cross processes).
_browser = None


def warm_worker() -> None:
    """Import the grader and load the schema once per worker, not once per submission."""
    import multiprocessing.util

    import grader.check.plugin  # noqa: F401
    import grader.check.schema
    import grader.find.notebook  # noqa: F401
    import grader.grade  # noqa: F401
    from grader.check.browser import Browser

    grader.check.schema.load_schema(Rubric().schema_path)
    global _browser
    # Launched by the first grading that needs it (as its server starts); it reports its memory.  No
    # context is made ahead for the next page: the batch is bound by the CPU, and it would only add to it.
    _browser = Browser(track_memory=True, prepare_next=False)
    multiprocessing.util.Finalize(None, _browser.close, exitpriority=10)  # run as the worker exits


def scratch_prefix(batch_pid: int) -> str:
    """How a worker's temporary folders start: named after the batch, which removes those a dead worker left."""
    return f"webgrade-batch-{batch_pid}-"


def grade_entry(job: Job) -> Outcome:
    """Grade one entry of this machine's SUBMISSIONS folder in a warm worker."""
    return grade_at(
        job.entry, job.entry.path, job.rubric, job.options, prefix=scratch_prefix(job.batch_pid or os.getpid())
    )


def grade_at(
    entry: Entry,
    source: Path,
    rubric: Rubric,
    options: Options,
    *,
    prefix: str,
    scratch: Path | None = None,
) -> Outcome:
    """Grade ``entry``, whose files are at ``source``: unpack a zip, give a single file a folder of its own, grade.

    ``source`` is the entry's own path, or the copy a grading machine received
    (``grader.batch.packing``); either way the report names ``entry.path``, so
    a result is the same wherever it was graded.  Temporary folders start with
    ``prefix``, in ``scratch`` (default: the system's).
    """
    from grader.find.archive import ArchiveError, extract
    from grader.find.submission import SubmissionError, find_submission
    from grader.grade import grade

    with tempfile.TemporaryDirectory(prefix=prefix, dir=scratch) as tmp:
        work = Path(tmp, "submission")
        try:
            if entry.kind == "zip":
                extract(source, work)
                submission = find_submission(work)
            elif entry.kind == "folder":
                work = source
                submission = find_submission(work)
            else:  # alone in a folder: its server must not see the other students' files beside it
                work.mkdir()
                shutil.copyfile(source, work / entry.name)
                submission = find_submission(work / entry.name)
        except (ArchiveError, SubmissionError) as error:
            return Outcome(error=error.message.replace(str(work), entry.name), hint=error.hint)
        report = grade(submission, rubric, dataclasses.replace(options, browser=_browser))
    if work != entry.path:  # name the student's file, not our temporary copy
        report.submission = str(entry.path)
        report.entry = (
            str(entry.path / Path(report.entry).relative_to(work))
            if entry.kind in ("zip", "folder")
            else str(entry.path)
        )
    memory = _browser.memory if _browser is not None else None
    return Outcome(report, browser_memory=memory, worker=f"{platform.node()} pid {os.getpid()}" if memory else "")
