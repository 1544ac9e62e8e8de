"""The ``webgrade`` command line."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from grader import __version__

#: Where Gradescope reads results.json (grader.reports.gradescope.RESULTS_DIR, not imported here: start-up time).
GRADESCOPE_RESULTS = "/autograder/results"


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="webgrade")
def cli() -> None:
    """Grade a Flask web server from the 'Internet - Web Server' lesson."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point.

    Ends with ``os._exit`` once the output is flushed: by then the server is
    stopped and every temporary file removed, and the interpreter's own
    teardown of pytest, jsonschema and friends would add about 30 ms to a
    run a student repeats after every edit.
    """
    # SIGTERM (a CI job cancelled, `kill`) unwinds like Ctrl+C, so the server is
    # stopped and temporary files removed; the supervisor would kill the server
    # anyway, but only we can clean up our own files.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cli()
        code = 0
    except SystemExit as exit:
        code = exit.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


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
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=20.0,
    show_default=True,
    metavar="S",
    help="How long the server may take to start.",
)
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
@click.option(
    "--sandbox",
    type=click.Choice(["auto", "bwrap", "none"]),
    default="auto",
    help="Run the server in bubblewrap (default: auto).",
)
@click.option(
    "--time-limit", type=click.FloatRange(min=1), default=120.0, metavar="S", help="Time limit in all (default 120 s)."
)
@click.option(
    "--browser/--no-browser",
    "browser_check",
    default=None,
    help="Load the lesson's page in headless Chromium.  [default: when one is installed; always in CI]",
)
@click.option(
    "--rubric",
    "rubric_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Rubric file.  [default: webgrade.toml in PATH]",
)
@click.option(
    "--checks",
    "checks_dirs",
    multiple=True,
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Instructor checks (pytest files) to grade too.",
)
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
def check(
    path: Path,
    entry,
    fmt,
    verbose,
    timeout,
    origin,
    api_path,
    schema,
    command,
    python,
    port,
    browser_check,
    rubric_file,
    checks_dirs,
    junit,
    gradescope_dir,
    classroom,
    sandbox,
    time_limit,
) -> None:
    """Start the server in PATH (a folder, a .py file or a .ipynb notebook), check it, stop it.

    Exit status: 0 all checks passed, 1 some failed or the server could not
    be graded, 2 usage error (no such path, no Flask app, ambiguous entry, rubric).
    """
    from grader import rubric as rubrics
    from grader.find.submission import SubmissionError, find_submission
    from grader.grade import Options, grade

    if api_path is not None and not api_path.startswith("/"):
        raise click.BadParameter("expected a path starting with /, like /api/data", param_hint="--api-path")
    try:
        submission = find_submission(path, entry)
    except SubmissionError as error:
        click.echo(f"webgrade: {error.message}", err=True)
        if error.hint:
            click.echo(f"  try: {error.hint}", err=True)
        if gradescope_dir is not None:  # the student reads why on Gradescope, not in a log
            from grader.reports import gradescope

            gradescope.write_problem(gradescope_dir, error.message, error.hint)
        sys.exit(2)
    if classroom and not os.environ.get("GITHUB_OUTPUT"):
        raise click.UsageError("--classroom writes to $GITHUB_OUTPUT, which GitHub Actions sets; it is not set here")

    if schema is not None:
        from grader.check.schema import load_schema

        try:
            load_schema(schema)
        except Exception as error:  # JSON syntax or an invalid JSON Schema
            raise click.BadParameter(f"{schema} is not a usable JSON Schema: {error}", param_hint="--schema") from None
    try:
        rubric_file = rubric_file or rubrics.find(path)
        rubric = rubrics.load(rubric_file) if rubric_file else rubrics.Rubric()
        extra_checks = [folder.resolve() for folder in checks_dirs]
        if not extra_checks and not rubric.checks_dirs:  # only built-in checks: a typo'd id is known now
            _fail_on(rubric.unknown_checks({*rubrics.POINTS, *rubrics.OPTIONAL}))
    except rubrics.RubricError as error:
        _fail_on([error])
    if origin:
        rubric.origin = origin
    if api_path:
        rubric.api_path = api_path
    if schema:
        rubric.schema = schema
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
        if os.environ.get("WEBGRADE_DEBUG"):
            raise
        click.echo(f"webgrade: internal error: {type(error).__name__}: {error}", err=True)
        click.echo("  try: run again with WEBGRADE_DEBUG=1 and show the output to your instructor", err=True)
        sys.exit(1)

    _fail_on(rubric.unknown_checks({c.id for c in report.checks}))
    _write_reports(report, submission.folder, rubric, fmt, verbose, junit, gradescope_dir, classroom)
    sys.exit(0 if report.status == "passed" else 1)


def _fail_on(errors: list) -> None:
    """Rubric mistakes are usage errors: say where each is, exit 2."""
    for error in errors:
        click.echo(f"webgrade: {error}", err=True)
    if errors:
        sys.exit(2)


def _write_reports(report, folder: Path, rubric, fmt, verbose, junit, gradescope_dir, classroom) -> None:
    """Print the scorecard and write every other output asked for, all from the same report.

    Everything a student can read is rendered from ``report.for_student()``
    (hidden checks removed); Gradescope, which hides tests itself, and
    ``--format json``, for instructors' scripts, get the full report.
    """
    from grader.reports import github

    student = report.for_student()
    if junit:
        from grader.reports import junit as junit_xml

        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(junit_xml.render(student), encoding="utf-8")
    if gradescope_dir is not None:
        from grader.reports import gradescope

        gradescope.write(report, gradescope_dir, rubric.gradescope_hidden)
    if classroom:
        from grader.reports import classroom as classroom_output

        classroom_output.write_output(student)
    in_actions = github.in_actions()
    if fmt == "json":
        from grader.reports import json_report

        text = json_report.render(report, verbose)
        click.echo(github.safe_json(text) if in_actions else text)
    else:
        from grader.reports import terminal

        text = terminal.render(student, verbose)
        click.echo(github.fenced(text) if in_actions else text)  # student text must not issue workflow commands
    if in_actions:
        for line in github.annotations(student, folder):
            click.echo(line, err=fmt == "json")  # stdout stays one JSON object
        github.write_step_summary(student)


@cli.command("gradescope-bundle", short_help="Make the autograder zip to upload to Gradescope.")
@click.option(
    "--rubric",
    "rubric_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The rubric to grade with (its schema and checks folder go in too).  [default: the lesson's]",
)
@click.option(
    "--checks",
    "checks_dirs",
    multiple=True,
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of instructor checks to include; repeatable.",
)
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
    from grader.gradescope_bundle import BundleError, build
    from grader.rubric import RubricError

    try:
        build(output, rubric_file, checks_dirs)
    except (RubricError, BundleError) as error:
        click.echo(f"webgrade: {error}", err=True)
        sys.exit(2)
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
@click.option(
    "--rubric",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A rubric file (TOML) for every submission.",
)
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
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=20.0,
    show_default=True,
    metavar="S",
    help="How long each server may take to start.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    metavar="S",
    help="How long one submission may take in all before its server is stopped.",
)
@click.option(
    "--sandbox",
    type=click.Choice(["auto", "bwrap", "none"]),
    default="auto",
    show_default=True,
    help="Run each server in bubblewrap; auto: where it works.",
)
@click.option(
    "--browser/--no-browser",
    "browser_check",
    default=None,
    help="Load the lesson's page in headless Chromium.  [default: when one is installed; always in CI]",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
def batch(
    submissions: Path, jobs, out: Path, rubric, roster, resume, timeout, time_limit, sandbox, browser_check, quiet
) -> None:
    """Grade every entry of SUBMISSIONS (folders or git repositories, .zip, .py and .ipynb files).

    Writes, as each submission finishes: grades.csv, results.jsonl (each
    full report), feedback/ENTRY.md (the scorecard the student would see),
    and at the end report.html.  Exit status: 0 the batch finished, 2 usage
    error, 130 interrupted (what finished is kept: run again with --resume).
    """
    from grader import rubric as rubrics
    from grader.batch import display_mode, run_batch
    from grader.batch.roster import RosterError, load
    from grader.grade import Options

    if out.resolve() == submissions.resolve():
        raise click.BadParameter(
            "expected a folder of its own for the outputs, not SUBMISSIONS itself", param_hint="--out"
        )
    try:
        chosen = rubrics.load(rubric) if rubric else rubrics.Rubric()
        students = load(roster) if roster else None
    except (rubrics.RubricError, RosterError) as error:
        click.echo(f"webgrade: {error}", err=True)
        sys.exit(2)
    mode = display_mode(quiet)
    options = Options(timeout=timeout, browser_check=browser_check, time_limit=time_limit, sandbox=sandbox)
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
            settings_files=[rubric],
        )
    except Exception as error:  # every result so far is in --out already
        if os.environ.get("WEBGRADE_DEBUG"):
            raise
        click.echo(f"webgrade: internal error: {type(error).__name__}: {error}", err=True)
        click.echo(
            f"  try: run again with --resume (the results so far are in {out}); "
            "with WEBGRADE_DEBUG=1 to see where it failed",
            err=True,
        )
        sys.exit(1)
    if not quiet:
        for name, why in summary.skipped:
            click.echo(f"skipped {name}: {why}", err=True)
    counts = summary.counts
    done = summary.graded + summary.kept
    workers = f" with {summary.jobs} worker{'s' if summary.jobs != 1 else ''}" if summary.jobs else ""
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
