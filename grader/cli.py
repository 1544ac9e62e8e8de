"""The ``webgrade`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from grader import __version__


def _origin(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An origin is scheme://host[:port] and nothing more, exactly as a browser serializes it."""
    if value is None:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("",) or parts.query:
        raise click.BadParameter(f"expected an origin like http://127.0.0.1:4100 (no path, no trailing slash), saw {value!r}")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="webgrade")
def cli() -> None:
    """Grade a Flask web server from the 'Internet - Web Server' lesson."""


def main() -> None:
    """Console entry point.

    Ends with ``os._exit`` once the output is flushed: by then the server is
    stopped and every temporary file removed, and the interpreter's own
    teardown of pytest, jsonschema and friends would add about 30 ms to a
    run a student repeats after every edit.
    """
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
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Scorecard for people, or one JSON object for scripts.")
@click.option("-v", "--verbose", is_flag=True, help="Show the full values seen and the server's own output.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=20.0, show_default=True, metavar="S",
              help="How long the server may take to start.")
@click.option("--origin", callback=_origin, metavar="URL", help="Origin of the page that fetches the API.  [default: http://127.0.0.1:4100]")
@click.option("--api-path", metavar="PATH", help="The API route the page fetches.  [default: /api/data]")
@click.option("--schema", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A JSON Schema file for the API's answer, instead of the lesson's.")
@click.option("--command", metavar="CMD", help="Start the server with CMD instead; {port} and $PORT give its port.")
@click.option("--python", metavar="EXE", default=sys.executable, show_default="this Python",
              help="The Python that runs the submission.")
@click.option("--port", type=click.IntRange(1, 65535), metavar="N", help="Port for the server.  [default: a free one]")
def check(path: Path, entry, fmt, verbose, timeout, origin, api_path, schema, command, python, port) -> None:
    """Start the server in PATH (a folder, a .py file or a .ipynb notebook), check it, stop it.

    Exit status: 0 all checks passed, 1 some failed or the server could not
    be graded, 2 usage error (no such path, no Flask app, ambiguous entry).
    """
    from grader.grade import Options, grade
    from grader.rubric import Rubric
    from grader.submission import SubmissionError, find_submission

    if api_path is not None and not api_path.startswith("/"):
        raise click.BadParameter("expected a path starting with /, like /api/data", param_hint="--api-path")
    try:
        submission = find_submission(path, entry)
    except SubmissionError as error:
        click.echo(f"webgrade: {error.message}", err=True)
        if error.hint:
            click.echo(f"  try: {error.hint}", err=True)
        sys.exit(2)

    if schema is not None:
        from grader.schema import load_schema

        try:
            load_schema(schema)
        except Exception as error:  # JSON syntax or an invalid JSON Schema
            raise click.BadParameter(f"{schema} is not a usable JSON Schema: {error}", param_hint="--schema")
    rubric = Rubric()
    if origin:
        rubric.origin = origin
    if api_path:
        rubric.api_path = api_path
    if schema:
        rubric.schema = schema
    options = Options(timeout=timeout, python=python, command=command, port=port)
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

    if fmt == "json":
        from grader.reports import json_report

        click.echo(json_report.render(report, verbose))
    else:
        from grader.reports import terminal

        click.echo(terminal.render(report.for_student(), verbose))
    sys.exit(0 if report.status == "passed" else 1)
