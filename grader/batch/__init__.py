"""Grade a whole class: every entry of a folder, in parallel warm workers, into a gradebook.

``webgrade batch SUBMISSIONS`` finds the submissions (:func:`find_entries`),
grades each in a worker of a :class:`grader.batch.pool.Pool` (which imported the
grader once, so a submission costs its server's start and the checks, not
pytest's import), and records each result the moment it finishes
(:class:`grader.batch.gradebook.Gradebook`).  Each grading is the same
:func:`grader.grade.grade` that ``webgrade check`` runs, with its own port,
temporary directory, process tree and overall time limit
(``Options.time_limit``); the pool also stops a worker still busy well past
that limit, so a hanging submission costs only its own time.

Where the gradings run is an *engine*: :class:`LocalEngine` (this machine's
pool) or ``grader.batch.cluster.ClusterEngine`` (a Dask cluster whose every
machine runs such a pool).  Either only yields ``(entry, Done)`` pairs; what
is recorded, and how, is the same :class:`Batch` whatever the engine.
``--shard I/N`` (:mod:`grader.batch.shard`) grades a stable slice of the
entries, and ``webgrade merge`` joins the slices' outputs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Protocol

import psutil  # type: ignore[import-untyped]

from grader.batch.entries import Entry, content_hash, find_entries, git_commit, grader_version, settings_hash
from grader.batch.gradebook import (
    REPORT,
    Gradebook,
    Graded,
    feedback_markdown,
    feedback_names,
    full_marks,
    write_atomically,
)
from grader.batch.pool import Done, Pool
from grader.batch.roster import Roster
from grader.batch.worker import Job, Outcome, grade_entry, scratch_prefix, warm_worker
from grader.grade import Options
from grader.rubric import Rubric

if TYPE_CHECKING:
    from rich.progress import Progress

    from grader.check.browser import Memory

#: What one grading may need: a worker (~70 MB), the student's server (~40 MB), its browser (~200 MB).
MEMORY_PER_JOB = 320 * 2**20
MAX_JOBS = 32
#: A worker still busy this long after the time limit is stopped and replaced: grade() itself
#: could not stop (a hang outside the student's server), and the batch must go on.
BACKSTOP_S = 30.0
#: The batch's own record of what it graded, and how (read by ``webgrade merge``).
MANIFEST = "batch.json"
#: Modules the worker processes share, imported once by the fork server.
PRELOAD = (
    "grader.batch",
    "grader.batch.worker",
    "grader.grade",
    "grader.check.plugin",
    "grader.check.schema",
    "grader.lessons.web_server.people",
    "grader.find.notebook",
    "grader.find.archive",
)


def default_jobs() -> int:
    """Gradings at once: twice the cores, as memory allows (:data:`MEMORY_PER_JOB`, :data:`MAX_JOBS`).

    On two cores the throughput of plain gradings is flat from -j 2 to -j 8
    (benchmarks/batch.py); gradings that wait (a slow start, the browser
    check) fill the gaps when there are more of them than cores.
    """
    fits = int(psutil.virtual_memory().available // MEMORY_PER_JOB)
    return max(1, min(2 * (os.cpu_count() or 1), fits, MAX_JOBS))


def _remove_scratch_left_by_workers() -> None:
    """Every worker is gone: a temporary folder of ours still there is one a worker died (or was killed) with."""
    for path in Path(tempfile.gettempdir()).glob(scratch_prefix(os.getpid()) + "*"):
        shutil.rmtree(path, ignore_errors=True)


# --- in the batch process ---


@dataclass
class Summary:
    total: int
    graded: int  #: in this run
    kept: int  #: from an earlier run (--resume)
    counts: dict[str, int]
    skipped: list[tuple[str, str]]
    out: Path
    duration_s: float
    jobs: int  #: worker processes used
    interrupted: bool = False
    #: Where the gradings ran, when not in this machine's pool ("on the Dask cluster at tcp://...").
    where: str = ""
    #: The most memory each worker's browser held with a page open, by worker ("HOST pid N").
    browser_memory: dict[str, Memory] = dataclasses.field(default_factory=dict)


class Display:
    """Progress for the person waiting: a live bar on a terminal, a line per submission elsewhere (CI, a log)."""

    def __init__(self, total: int, kept: list[Graded], mode: str) -> None:
        self.mode, self.total, self.done = mode, total, len(kept)
        self.counts = {"passed": 0, "failed": 0, "not_graded": 0}
        for graded in kept:  # from an earlier run (--resume): counted from the start
            self.counts[graded.status] += 1
        self._progress: Progress | None = None

    def __enter__(self) -> Display:
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("grading"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "[green]{task.fields[passed]} passed[/] [red]{task.fields[failed]} failed[/] "
                    "[yellow]{task.fields[not_graded]} not graded[/]"
                ),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "grading",
                total=self.total,
                completed=self.done,
                passed=self.counts["passed"],
                failed=self.counts["failed"],
                not_graded=self.counts["not_graded"],
            )
        return self

    def add(self, graded: Graded) -> None:
        self.done += 1
        self.counts[graded.status] += 1
        if self._progress is not None:
            self._progress.update(
                self._task,
                advance=1,
                passed=self.counts["passed"],
                failed=self.counts["failed"],
                not_graded=self.counts["not_graded"],
            )
        elif self.mode == "lines":
            who = f" ({graded.student})" if graded.student else ""
            why = f": {graded.reason}" if graded.reason else ""
            print(
                f"[{self.done}/{self.total}] {graded.entry}{who} {graded.score:g}/{graded.max_score:g} "
                f"{graded.status.replace('_', ' ')} {graded.duration_s:.1f}s{why}",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def display_mode(quiet: bool) -> str:
    """ "bar" on a terminal, "lines" in CI or a log, "quiet" when asked."""
    if quiet:
        return "quiet"
    if sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1"):
        return "bar"
    return "lines"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a batch exactly as Ctrl-C does: what finished is kept


class Batch:
    """One run of ``webgrade batch``: which entries to grade, their results, and the outputs."""

    def __init__(
        self,
        folder: Path,
        out: Path,
        *,
        rubric: Rubric,
        options: Options,
        roster: Roster | None = None,
        settings_files: Sequence[Path | None] = (),
        shard: tuple[int, int] | None = None,
    ) -> None:
        from grader.batch import shard as shards

        self.folder, self.out = folder.resolve(), out.resolve()
        self.rubric, self.options, self.roster = rubric, options, roster
        #: Every entry of the folder, and those this run grades (a shard's slice, or all).
        self.all_entries, self.skipped = find_entries(self.folder, self.out)
        self.shard = shard
        self.entries = shards.select(self.all_entries, *shard) if shard else self.all_entries
        # From every entry, so that a shard names a feedback file as the whole batch would.
        self.feedback = feedback_names([e.name for e in self.all_entries])
        self.settings = settings_hash(rubric, options, settings_files)
        self.gradebook = Gradebook(self.out, list(rubric.points))
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self.results: dict[str, Graded] = {}
        #: Entries recorded in this run: a second result for one (a task run twice) is ignored.
        self._recorded: set[str] = set()
        #: The most memory each worker's browser held with a page open, by worker.
        self.browser_memory: dict[str, Memory] = {}

    def _student(self, entry: str) -> tuple[str, str]:
        student = self.roster.find(entry) if self.roster else None
        return (student.name, student.id) if student else ("", "")

    def plan(self, resume: bool) -> list[Entry]:
        """Hash every entry; keep the earlier results of unchanged ones (``resume``); return the rest."""
        previous = self.gradebook.previous() if resume else {}
        todo = []
        for entry in self.entries:
            entry.hash = content_hash(entry.path)
            entry.commit = git_commit(entry.path) if entry.kind == "folder" else None
            before = previous.get(entry.name)
            if before and before.hash == entry.hash and before.settings == self.settings and not before.internal:
                before.student, before.student_id = self._student(entry.name)  # the roster may have changed
                before.feedback = self.feedback[entry.name]
                if not (self.out / before.feedback).exists():
                    (self.out / before.feedback).parent.mkdir(parents=True, exist_ok=True)
                    write_atomically(self.out / before.feedback, feedback_markdown(before))
                self.results[entry.name] = before
            else:
                todo.append(entry)
        return todo

    def record(self, entry: Entry, done: Done) -> Graded | None:
        """A finished grading as the gradebook keeps it; None if this entry was already recorded in this run.

        Execution on a cluster is at least once: the same submission may come
        back twice, and the gradebook keeps one row per entry whatever happens.
        """
        if entry.name in self._recorded:
            return None
        self._recorded.add(entry.name)
        graded = Graded(
            entry.name,
            *self._student(entry.name),
            entry.hash,
            self.settings,
            entry.commit,
            full_marks=full_marks(list(self.results.values()), sum(self.rubric.points.values())),
            feedback=self.feedback[entry.name],
            run=self.run_id,
            graded_at=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_s=done.duration_s,
            worker=done.worker,
            attempt=done.attempt,
        )
        if done.value is not None:
            outcome: Outcome = done.value
            graded.report, graded.error, graded.hint = outcome.report, outcome.error, outcome.hint
            if outcome.report is not None:
                graded.duration_s = outcome.report.duration_s
            if outcome.browser_memory is not None:  # a worker's figure only grows: its latest is its largest
                self.browser_memory[outcome.worker] = outcome.browser_memory
        elif done.overtime:  # grade() did not stop at its own limit: --resume tries it again
            graded.error, graded.internal = done.error, True
            graded.hint = (
                "make sure the server starts within a few seconds and every route answers at once; "
                "run `webgrade check` on your submission to see which one hangs"
            )
        else:
            graded.error, graded.internal = f"the grader failed on this submission: {done.error}", True
            graded.hint = "this is not your fault: your instructor will grade it again"
        self.results[entry.name] = graded
        return graded

    def missing(self) -> list[str]:
        """Students the roster names who have no entry in the folder (in any shard)."""
        if not self.roster:
            return []
        matched = {s.key for e in self.all_entries if (s := self.roster.find(e.name))}
        return [s.name or s.key for s in self.roster.students if s.key not in matched]

    def manifest(self) -> dict[str, object]:
        """What ``webgrade merge`` needs to join this output with others: how it was graded, and what."""
        return {
            "webgrade": grader_version(),
            "settings": self.settings,
            "source": str(self.folder),
            "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
            "entries": [e.name for e in self.all_entries],
            "graded": [e.name for e in self.entries],
            "skipped": [list(pair) for pair in self.skipped],
            "missing": self.missing(),
            "check_order": list(self.rubric.points),
        }

    def write_outputs(self) -> list[Graded]:
        """grades.csv, report.html and batch.json from every result so far."""
        final = sorted(self.results.values(), key=lambda g: g.entry)
        return write_outputs(
            self.gradebook,
            final,
            order=list(self.rubric.points),
            source=str(self.folder),
            skipped=self.skipped,
            missing=self.missing(),
            manifest=self.manifest(),
            browser_memory=self.browser_memory,
        )


def write_outputs(
    gradebook: Gradebook,
    final: list[Graded],
    *,
    order: list[str],
    source: str,
    skipped: list[tuple[str, str]],
    missing: list[str],
    manifest: dict[str, object],
    generated: str | None = None,
    browser_memory: dict[str, Memory] | None = None,
) -> list[Graded]:
    """grades.csv, report.html and batch.json of ``final``: a batch's at its end, or ``webgrade merge``'s."""
    from grader.batch import html_report

    gradebook.write_grades(final)
    page = html_report.render(
        final,
        order=order,
        source=source,
        generated=generated or datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        skipped=skipped,
        missing=missing,
        browser_memory=browser_memory,
    )
    write_atomically(gradebook.out / REPORT, page)
    write_atomically(gradebook.out / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return final


class Engine(Protocol):
    """Where the gradings run: it grades the entries it is given and yields each as it finishes."""

    #: Gradings at once, once :meth:`grade` has started.
    jobs: int
    #: Said in the summary: "" for this machine, else where.
    where: str

    def grade(self, batch: Batch, todo: list[Entry]) -> Iterator[tuple[Entry, Done]]: ...

    def close(self) -> None:
        """Stop what is still running (on Ctrl-C too); leave nothing behind."""


class LocalEngine:
    """This machine's warm pool (:class:`grader.batch.pool.Pool`)."""

    where = ""

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = max(1, jobs or default_jobs())
        self._pool: Pool | None = None

    def grade(self, batch: Batch, todo: list[Entry]) -> Iterator[tuple[Entry, Done]]:
        by_name = {e.name: e for e in todo}
        self._pool = Pool(self.jobs, grade_entry, warm=warm_worker, preload=PRELOAD)
        self.jobs = min(self.jobs, len(todo))
        tasks = [(e.name, Job(e, batch.rubric, batch.options, os.getpid())) for e in todo]
        for done in self._pool.run(tasks, batch.options.time_limit + BACKSTOP_S):
            yield by_name[done.key], done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        _remove_scratch_left_by_workers()  # the pool is closed: its workers are all gone


def run_batch(
    folder: Path,
    out: Path,
    *,
    rubric: Rubric,
    options: Options,
    jobs: int | None = None,
    roster: Roster | None = None,
    resume: bool = False,
    display: str = "quiet",
    settings_files: Sequence[Path | None] = (),
    shard: tuple[int, int] | None = None,
    engine: Engine | None = None,
) -> Summary:
    """Grade every entry of ``folder`` (or a ``shard`` of them) into ``out``, on ``engine`` (default: this machine)."""
    started = time.monotonic()
    engine = engine or LocalEngine(jobs)
    try:
        batch = Batch(
            folder, out, rubric=rubric, options=options, roster=roster, settings_files=settings_files, shard=shard
        )
        batch.out.mkdir(parents=True, exist_ok=True)
        todo = batch.plan(resume)
        kept = len(batch.results)
        batch.gradebook.open(fresh=not resume)
    except BaseException:
        engine.close()  # a cluster started for this batch (--scheduler local) stops with it
        raise
    interrupted = False
    previous_handler = signal.signal(signal.SIGTERM, _terminate)
    try:
        with Display(len(batch.entries), list(batch.results.values()), display) as progress:
            try:
                for entry, done in engine.grade(batch, todo) if todo else ():
                    graded = batch.record(entry, done)
                    if graded is not None:
                        batch.gradebook.add(graded, list(batch.results.values()))
                        progress.add(graded)
            finally:
                engine.close()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        batch.gradebook.close()
        final = batch.write_outputs()
    counts = {"passed": 0, "failed": 0, "not_graded": 0}
    for graded in final:
        counts[graded.status] += 1
    return Summary(
        len(batch.entries),
        len(final) - kept,
        kept,
        counts,
        batch.skipped,
        batch.out,
        time.monotonic() - started,
        engine.jobs if todo else 0,
        interrupted,
        engine.where,
        dict(batch.browser_memory),
    )
