"""The ``webgrade`` command line."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from grader import __version__
from grader.commands.batch import batch, merge, worker
from grader.commands.shared import (
    browser_option,
    checks_option,
    internal_error,
    rubric_option,
    sandbox_option,
    time_limit_option,
    timeout_option,
)
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
        internal_error(error, "run again with WEBGRADE_DEBUG=1 and show the output to your instructor")

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


cli.add_command(batch)
cli.add_command(worker)
cli.add_command(merge)
