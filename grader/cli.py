"""The ``webgrade`` command line."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from grader import __version__
from grader.errors import Explained, UsageError
from grader.reports import GRADESCOPE_RESULTS, Settings, write_all

if TYPE_CHECKING:
    from grader.results import Report
    from grader.rubric import Rubric, RubricError


def _origin(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An origin is scheme://host[:port] and nothing more, exactly as a browser serializes it."""
    from grader.rubric import is_origin

    if value is None:
        return value
    if not is_origin(value):
        raise click.BadParameter(
            f"expected an origin like http://127.0.0.1:4100 (no path, no trailing slash), saw {value!r}"
        )
    return value


# --- options of more than one command: declared once, so their defaults and help cannot drift apart ---

F = TypeVar("F", bound=Callable[..., Any])

timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=20.0,
    show_default=True,
    metavar="S",
    help="How long the server may take to start.",
)
time_limit_option = click.option(
    "--time-limit",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    metavar="S",
    help="How long one submission may take in all before its server is stopped.",
)
sandbox_option = click.option(
    "--sandbox",
    type=click.Choice(["auto", "bwrap", "none"]),
    default="auto",
    show_default=True,
    help="Run the server in bubblewrap; auto: where it works.",
)
browser_option = click.option(
    "--browser/--no-browser",
    "browser_check",
    default=None,
    help="Load the lesson's page in headless Chromium.  [default: when one is installed; always in CI]",
)


def rubric_option(help: str) -> Callable[[F], F]:
    """``--rubric FILE``; each command says which rubric it grades with when none is given."""
    return click.option(
        "--rubric",
        "rubric_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        help=help,
    )


def checks_option(help: str) -> Callable[[F], F]:
    """``--checks DIR``, repeatable: folders of instructor checks."""
    return click.option(
        "--checks",
        "checks_dirs",
        multiple=True,
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help=help,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="webgrade")
def cli() -> None:
    """Grade a Flask web server from the 'Internet - Web Server' lesson."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point: the one place that turns a :class:`grader.errors.UsageError` into exit status 2.

    Any command may raise one (no such path, no Flask app, a mistake in the
    rubric or the roster); it is said here in the user's terms, with no
    traceback, as click's ``ClickException`` is by click.

    Ends with ``os._exit`` once the output is flushed: by then the server is
    stopped and every temporary file removed, and the interpreter's own
    teardown of pytest, jsonschema and friends would add about 30 ms to a
    run a student repeats after every edit.
    """
    # SIGTERM (a CI job cancelled, `kill`) unwinds like Ctrl+C, so the server is
    # stopped and temporary files removed; the supervisor would kill the server
    # anyway, but only we can clean up our own files.
    signal.signal(signal.SIGTERM, _interrupt)
    code: int | str | None
    try:
        cli()
        code = 0
    except SystemExit as exit:
        code = exit.code
    except UsageError as error:
        _explain(error)
        code = error.exit_code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _explain(error: Explained) -> None:
    """Say an error in the user's terms on stderr: what went wrong, then what to try."""
    click.echo(f"webgrade: {error}", err=True)
    if error.hint:
        click.echo(f"  try: {error.hint}", err=True)


def _internal_error(error: Exception, hint: str) -> NoReturn:
    """A fault of ours, never shown as a traceback (unless WEBGRADE_DEBUG is set): what broke, what to do; exit 1."""
    if os.environ.get("WEBGRADE_DEBUG"):
        raise error
    click.echo(f"webgrade: internal error: {type(error).__name__}: {error}", err=True)
    click.echo(f"  try: {hint}", err=True)
    sys.exit(1)


@cli.command(short_help="Grade one submission: start its server, check it, stop it.")
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--entry", metavar="FILE", help="The file to run when PATH is a folder with several candidates.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Scorecard for people, or one JSON object for scripts.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show the full values seen and the server's own output.")
@timeout_option
@click.option(
    "--origin",
    callback=_origin,
    metavar="URL",
    help="Origin of the page that fetches the API.  [default: http://127.0.0.1:4100]",
)
@click.option("--api-path", metavar="PATH", help="The API route the page fetches.  [default: /api/data]")
@click.option(
    "--schema",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON Schema file for the API's answer, instead of the lesson's.",
)
@click.option("--command", metavar="CMD", help="Start the server with CMD instead; {port} and $PORT give its port.")
@click.option(
    "--python",
    metavar="EXE",
    default=sys.executable,
    show_default="this Python",
    help="The Python that runs the submission.",
)
@click.option("--port", type=click.IntRange(1, 65535), metavar="N", help="Port for the server.  [default: a free one]")
@sandbox_option
@time_limit_option
@browser_option
@rubric_option("Rubric file.  [default: webgrade.toml in PATH]")
@checks_option("Instructor checks (pytest files) to grade too.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Also write JUnit XML.")
@click.option(
    "--gradescope",
    "gradescope_dir",
    is_flag=False,
    flag_value=GRADESCOPE_RESULTS,
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="[DIR]",
    help=f"Also write results.json.  [{GRADESCOPE_RESULTS}]",
)
@click.option("--classroom", is_flag=True, help="Also write GitHub Classroom's result.")
@click.option(
    "--screenshot",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Also write the lesson's page as the browser check drew it (a PNG).",
)
def check(
    path: Path,
    entry: str | None,
    fmt: str,
    verbose: bool,
    timeout: float,
    origin: str | None,
    api_path: str | None,
    schema: Path | None,
    command: str | None,
    python: str,
    port: int | None,
    browser_check: bool | None,
    rubric_file: Path | None,
    checks_dirs: tuple[Path, ...],
    junit: Path | None,
    gradescope_dir: Path | None,
    classroom: bool,
    sandbox: str,
    time_limit: float,
    screenshot: Path | None,
) -> None:
    """Start the server in PATH (a folder, a .py file or a .ipynb notebook), check it, stop it.

    Exit status: 0 all checks passed, 1 some failed or the server could not
    be graded, 2 usage error (no such path, no Flask app, ambiguous entry, rubric).
    """
    # Imported here, not at the top: `webgrade --help` and the other commands need none of it.
    from grader import rubric as rubrics
    from grader.find.submission import SubmissionError, find_submission
    from grader.grade import Options, grade

    if api_path is not None and not api_path.startswith("/"):
        raise click.BadParameter("expected a path starting with /, like /api/data", param_hint="--api-path")
    try:
        submission = find_submission(path, entry)
    except SubmissionError as error:
        if gradescope_dir is not None:  # the student reads why on Gradescope, not in a log
            from grader.reports import gradescope

            gradescope.write_problem(gradescope_dir, error.message, error.hint)
        raise  # and main() says it here
    if classroom and not os.environ.get("GITHUB_OUTPUT"):
        raise click.UsageError("--classroom writes to $GITHUB_OUTPUT, which GitHub Actions sets; it is not set here")
    if screenshot is not None:
        if browser_check is False:
            raise click.UsageError("--screenshot writes what the browser check drew, and --no-browser turns it off")
        if not screenshot.parent.is_dir():
            raise click.BadParameter(
                f"expected a file in an existing folder, saw {screenshot}", param_hint="--screenshot"
            )

    if schema is not None:
        from grader.check.schema import load_schema

        try:
            load_schema(schema)
        except Exception as error:  # JSON syntax or an invalid JSON Schema
            raise click.BadParameter(f"{schema} is not a usable JSON Schema: {error}", param_hint="--schema") from None
    rubric_file = rubric_file or rubrics.find(path)
    rubric = rubrics.load(rubric_file) if rubric_file else rubrics.Rubric()
    extra_checks = [folder.resolve() for folder in checks_dirs]
    if not extra_checks and not rubric.checks_dirs:  # only built-in checks: a typo'd id is known now
        _fail_on(rubric.unknown_checks(set(rubric.lesson.check_ids)))
    rubric = rubric.with_overrides(origin=origin, api_path=api_path, schema=schema)
    options = Options(
        timeout=timeout,
        python=python,
        command=command,
        port=port,
        browser_check=browser_check,
        extra_checks=extra_checks,
        sandbox=sandbox,
        time_limit=time_limit,
    )
    try:
        report = grade(submission, rubric, options)
    except KeyboardInterrupt:
        click.echo("webgrade: interrupted; the server was stopped", err=True)
        sys.exit(130)
    except Exception as error:  # never show a student a traceback of ours
        _internal_error(error, "run again with WEBGRADE_DEBUG=1 and show the output to your instructor")

    _fail_on(rubric.unknown_checks({c.id for c in report.checks}))
    _write_reports(report, submission.folder, rubric, fmt, verbose, junit, gradescope_dir, classroom)
    if screenshot is not None:
        _write_screenshot(report, screenshot)
    sys.exit(0 if report.status == "passed" else 1)


def _write_screenshot(report: Report, path: Path) -> None:
    """``--screenshot``: the page as the browser check drew it (as the student may see it); else say why not.

    Said on stderr and not an error: the grading's exit status stays the grading's.
    """
    view = report.for_student()  # a hidden check's picture is not the student's to see
    picture = view.screenshot
    if picture:
        try:
            path.write_bytes(picture)
        except OSError as error:
            click.echo(f"webgrade: --screenshot: could not write {path}: {error.strerror or error}", err=True)
        return
    browser = next((c for c in view.checks if c.category == "browser"), None)
    why = (
        f"the browser check ({browser.id}) did not load the page: {browser.message}"
        if browser is not None
        else "there is no browser check in this grading"
    )
    click.echo(f"webgrade: --screenshot: nothing written to {path}: {why}", err=True)


def _fail_on(errors: list[RubricError]) -> None:
    """Say every mistake in the rubric, not only the first; the last one ends the run as the usage error."""
    for error in errors[:-1]:
        _explain(error)
    if errors:
        raise errors[-1]


def _write_reports(
    report: Report,
    folder: Path,
    rubric: Rubric,
    fmt: str,
    verbose: bool,
    junit: Path | None,
    gradescope_dir: Path | None,
    classroom: bool,
) -> None:
    """Print the scorecard (or JSON) and write every other output asked for, all from the same report.

    Which outputs get the student's view and which the full report is
    ``grader.reports.write_all``'s to decide; in GitHub Actions the
    annotations and step summary come too.
    """
    from grader.reports.github import in_actions  # secrets, markdown: imported only once graded (start-up time)

    actions = in_actions()
    wanted: dict[str, Path | None] = {fmt: None}  # "text" or "json", on stdout
    if junit:
        wanted["junit"] = junit
    if gradescope_dir is not None:
        wanted["gradescope"] = gradescope_dir
    if classroom:
        wanted["classroom"] = None  # $GITHUB_OUTPUT
    if actions:
        wanted["github"] = None
    settings = Settings(
        verbose=verbose,
        folder=folder,
        gradescope_hidden=rubric.gradescope_hidden,
        in_actions=actions,
        json_on_stdout=fmt == "json",
    )
    write_all(report, wanted, settings)


@cli.command("gradescope-bundle", short_help="Make the autograder zip to upload to Gradescope.")
@rubric_option("The rubric to grade with (its schema and checks folder go in too).  [default: the lesson's]")
@checks_option("A folder of instructor checks to include; repeatable.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="ZIP",
    default=Path("webgrade-autograder.zip"),
    show_default=True,
    help="Where to write the zip.",
)
def gradescope_bundle(rubric_file: Path | None, checks_dirs: tuple[Path, ...], output: Path) -> None:
    """Write the zip Gradescope's "Configure Autograder" page takes.

    Gradescope runs its setup.sh once (it installs webgrade's dependencies at
    the versions installed here) and its run_autograder for each submission
    (webgrade check --gradescope).  Hidden checks stay hidden from students.
    """
    from grader.gradescope_bundle import build

    build(output, rubric_file, checks_dirs)
    click.echo(f"wrote {output}: upload it on the assignment's Configure Autograder page (zip file upload)")


@cli.command(short_help="Grade a whole class: every submission in a folder, in parallel.")
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
        _internal_error(
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


# --- webgrade watch and webgrade stop (issue 14) ---


def _watch(**params: Any) -> None:
    """Grade PATH, then grade it again each time one of its files is saved; Ctrl+C to stop.

    Takes every option of `webgrade check` that is about grading.  One process
    for the whole session: the grader (and the browser, when the browser check
    is on) stays warm, so a regrade costs about the server's own start.
    """
    from grader.watch import Watcher

    with Watcher(params["path"], params) as watcher:
        try:
            watcher.run()
        except KeyboardInterrupt:
            click.echo("webgrade: stopped watching; no server is left running", err=True)
            sys.exit(130)


def _watch_command() -> click.Command:
    """``watch`` parses ``check``'s own parameters (``grader.settings``: click only), so they never drift apart."""
    from grader.settings import grading_params

    return click.Command(
        "watch",
        callback=_watch,
        params=grading_params(check),
        help=_watch.__doc__,
        short_help="Grade PATH, and again each time one of its files is saved.",
    )


cli.add_command(_watch_command())


@cli.command(short_help="Stop your own server on a port (default 5001, the lesson's).")
@click.argument("port", type=click.IntRange(1, 65535), default=5001, required=False)  # grader.stop.DEFAULT_PORT
def stop(port: int) -> None:
    """Stop the Python server of yours that listens on PORT (default 5001): SIGTERM, then SIGKILL after 3 s.

    Says which process it is.  Refuses a process that is not a Python
    program, or not yours, or the one this command runs in.  Exit status: 0
    stopped, 1 not stopped (nothing listens on PORT, or it was refused).
    """
    from grader.stop import stop_server

    outcome = stop_server(port)
    click.echo(f"webgrade: {outcome.message}", err=not outcome.stopped)
    if outcome.hint:
        click.echo(f"  try: {outcome.hint}", err=True)
    sys.exit(0 if outcome.stopped else 1)


# --- past one machine: webgrade batch --scheduler/--shard, webgrade worker, webgrade merge (issue 15) ---


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


@cli.command(short_help="Join a Dask cluster as a grading machine (needs webgrade[cluster]).")
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


@cli.command(short_help="Join the outputs of batch slices (--shard I/N) into one gradebook.")
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
