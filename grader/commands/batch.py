"""``webgrade batch``, ``worker`` and ``merge``: the instructor's commands for a whole class, on one machine or many.

Each imports the batch machinery only when it runs: ``webgrade check`` must
not load it (``grader.cli`` registers these commands).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from grader.commands.shared import (
    browser_option,
    internal_error,
    rubric_option,
    sandbox_option,
    time_limit_option,
    timeout_option,
)
from grader.errors import UsageError


@click.command(short_help="Grade a whole class: every submission in a folder, in parallel.")
@click.argument("submissions", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Submissions graded at once.  [default: twice the cores, as memory allows]",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("webgrade-out"),
    show_default=True,
    help="Where grades.csv, results.jsonl, feedback/ and report.html go.",
)
@rubric_option("A rubric file (TOML) for every submission.")
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="CSV",
    help="Students' names and ids: columns entry (or github_username), name, id.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Keep the results in --out of submissions whose files have not changed; grade the rest.",
)
@timeout_option
@time_limit_option
@sandbox_option
@browser_option
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Grade on the Dask cluster at ADDRESS (tcp://HOST:8786), or local: one started here; needs webgrade[cluster].",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    metavar="N",
    help="With --scheduler: gradings of one submission before it is left to the instructor, when workers die.",
)
@click.option("--shard", metavar="I/N", help="Grade only the I-th of N stable slices; join them with `webgrade merge`.")
def batch(
    submissions: Path,
    jobs: int | None,
    out: Path,
    rubric_file: Path | None,
    roster: Path | None,
    resume: bool,
    timeout: float,
    time_limit: float,
    sandbox: str,
    browser_check: bool | None,
    quiet: bool,
    scheduler: str | None,
    max_attempts: int,
    shard: str | None,
) -> None:
    """Grade every entry of SUBMISSIONS (folders or git repositories, .zip, .py and .ipynb files).

    Writes, as each submission finishes: grades.csv, results.jsonl (each
    full report), feedback/ENTRY.md (the scorecard the student would see),
    and at the end report.html.  Exit status: 0 the batch finished, 2 usage
    error, 130 interrupted (what finished is kept: run again with --resume).
    """
    # Imported here, not at the top: `webgrade check` must not load the batch machinery.
    from grader import rubric as rubrics
    from grader.batch import display_mode, run_batch
    from grader.batch.roster import load
    from grader.grade import Options

    if out.resolve() == submissions.resolve():
        raise click.BadParameter(
            "expected a folder of its own for the outputs, not SUBMISSIONS itself", param_hint="--out"
        )
    chosen = rubrics.load(rubric_file) if rubric_file else rubrics.Rubric()
    students = load(roster) if roster else None
    mode = display_mode(quiet)
    options = Options(timeout=timeout, browser_check=browser_check, time_limit=time_limit, sandbox=sandbox)
    engine, slice_ = _batch_engine(scheduler, jobs, max_attempts), _batch_shard(shard)
    try:
        summary = run_batch(
            submissions,
            out,
            rubric=chosen,
            options=options,
            jobs=jobs,
            roster=students,
            resume=resume,
            display=mode,
            settings_files=[rubric_file],
            shard=slice_,
            engine=engine,
        )
    except Exception as error:  # every result so far is in --out already
        internal_error(
            error,
            f"run again with --resume (the results so far are in {out}); with WEBGRADE_DEBUG=1 to see where it failed",
        )
    if not quiet:
        for name, why in summary.skipped:
            click.echo(f"skipped {name}: {why}", err=True)
    counts = summary.counts
    done = summary.graded + summary.kept
    workers = f" with {summary.jobs} worker{'s' if summary.jobs != 1 else ''}" if summary.jobs else ""
    workers += f" {summary.where}" if summary.where else ""
    click.echo(
        f"{'interrupted after grading' if summary.interrupted else 'graded'} {summary.graded} submission"
        f"{'s' if summary.graded != 1 else ''} in {summary.duration_s:.1f} s{workers}"
        + (f", kept {summary.kept} unchanged since an earlier run" if summary.kept else "")
        + f": {counts['passed']} passed, {counts['failed']} failed, {counts['not_graded']} not graded"
    )
    click.echo(f"wrote {summary.out}/: grades.csv, results.jsonl, feedback/, report.html")
    if summary.interrupted:
        click.echo(
            f"webgrade: interrupted with {summary.total - done} of {summary.total} left to grade; "
            "run the same command with --resume to grade them",
            err=True,
        )
        sys.exit(130)


def _batch_engine(scheduler: str | None, jobs: int | None, max_attempts: int) -> Any:
    """``--scheduler``: the batch's engine on a Dask cluster; None grades on this machine."""
    if scheduler is None:
        return None
    try:
        from grader.batch.cluster import ClusterEngine
    except ImportError:
        raise UsageError(
            "--scheduler grades on a Dask cluster, and Dask is not installed here", "pip install 'webgrade[cluster]'"
        ) from None
    if jobs is not None and scheduler != "local":
        click.echo("webgrade: -j is each worker's own with --scheduler (`webgrade worker -j N`); ignored", err=True)
    engine = ClusterEngine(scheduler, jobs=jobs, max_attempts=max_attempts)
    engine.connect()  # an unreachable scheduler is a usage error, said before anything is graded
    return engine


def _batch_shard(spec: str | None) -> tuple[int, int] | None:
    from grader.batch.shard import ShardError, parse

    try:
        return parse(spec) if spec is not None else None
    except ShardError as error:
        raise click.BadParameter(str(error), param_hint="--shard") from None


@click.command(short_help="Join a Dask cluster as a grading machine (needs webgrade[cluster]).")
@click.argument("scheduler", metavar="SCHEDULER")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Gradings at once on this machine.  [default: twice the cores, as memory allows]",
)
@click.option(
    "--sandbox",
    type=click.Choice(["bwrap", "none"]),
    default="bwrap",
    show_default=True,
    help="bwrap: refuse to start unless bubblewrap works here; none: grade only batches run with --sandbox none.",
)
@click.option(
    "--browser/--no-browser",
    default=True,
    help="--browser (default): refuse to start without a working Chromium; --no-browser: grade only "
    "batches run with --no-browser.",
)
@click.option(
    "--host",
    metavar="ADDRESS",
    default="127.0.0.1",
    show_default=True,
    help="Listen on this address only.  Anyone who reaches a worker or the scheduler runs code here: "
    "keep 127.0.0.1 (with SSH tunnels) unless the network is private or TLS is on.",
)
@click.option("--worker-port", type=click.IntRange(1, 65535), metavar="N", help="The worker's port.  [default: any]")
@click.option("--nanny-port", type=click.IntRange(1, 65535), metavar="N", help="Its nanny's port.  [default: any]")
@click.option("--name", metavar="NAME", help="This worker's name on the scheduler.")
def worker(
    scheduler: str,
    jobs: int | None,
    sandbox: str,
    browser: bool,
    host: str,
    worker_port: int | None,
    nanny_port: int | None,
    name: str | None,
) -> None:
    """Grade for the batches sent to the Dask scheduler at SCHEDULER (tcp://HOST:8786), until Ctrl+C.

    Checks first that this machine grades as every other one does: it
    refuses to start when bubblewrap cannot sandbox a server or Chromium
    cannot load a page, unless told --sandbox none or --no-browser.  Exit
    status: 0 stopped, 1 refused to start, 2 usage error.
    """
    try:
        from grader.batch import cluster, default_jobs
    except ImportError:
        raise UsageError(
            "webgrade worker runs a Dask worker, and Dask is not installed here", "pip install 'webgrade[cluster]'"
        ) from None
    try:
        cluster.serve(
            scheduler,
            jobs=jobs or default_jobs(),
            sandbox=sandbox,
            browser=browser,
            host=host,
            worker_port=worker_port,
            nanny_port=nanny_port,
            name=name,
            say=lambda text: click.echo(text, err=True),
        )
    except cluster.WorkerRefused as error:
        click.echo(f"webgrade: this machine would grade differently, so it does not join: {error}", err=True)
        sys.exit(1)
    except cluster.JoinError as error:
        click.echo(f"webgrade: {error}", err=True)
        click.echo("  try: is `dask scheduler` running there, and reachable from here (see the README)?", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    click.echo("webgrade: worker stopped", err=True)


@click.command(short_help="Join the outputs of batch slices (--shard I/N) into one gradebook.")
@click.argument("outputs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the joined grades.csv, results.jsonl, feedback/ and report.html go.",
)
def merge(outputs: tuple[Path, ...], out: Path) -> None:
    """Join OUTPUTS, the --out folders of `webgrade batch --shard I/N` runs, into one gradebook in --out.

    Refuses outputs graded with different settings (webgrade, rubric,
    options).  Exit status: 0 merged, 1 merged but some submissions are in
    no output (a slice that did not run or finish), 2 refused.
    """
    from grader.batch.shard import MergeError
    from grader.batch.shard import merge as merge_outputs

    try:
        merged = merge_outputs(list(outputs), out)
    except MergeError as error:
        raise UsageError(str(error)) from None
    counts = merged.counts
    click.echo(
        f"merged {merged.outputs} output{'s' if merged.outputs != 1 else ''}: {len(merged.results)} submissions, "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['not_graded']} not graded"
    )
    click.echo(f"wrote {merged.out}/: grades.csv, results.jsonl, feedback/, report.html")
    if merged.not_graded_anywhere:
        names = ", ".join(merged.not_graded_anywhere[:10]) + (" ..." if len(merged.not_graded_anywhere) > 10 else "")
        click.echo(
            f"webgrade: {len(merged.not_graded_anywhere)} submission(s) are in no output: {names}; "
            "did every slice run to the end?",
            err=True,
        )
        sys.exit(1)
