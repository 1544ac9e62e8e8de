"""``%webgrade``: grade the lesson's server from inside the notebook (an IPython extension).

``%load_ext grader`` registers the line magic::

    %webgrade                  # the last cell run in this kernel that creates a Flask app
    %webgrade main.py          # a file, a folder or a notebook, as `webgrade check PATH`
    %webgrade --no-browser -v  # any option of `webgrade check` that is about grading
    %webgrade --stop [PORT]    # stop your own server on PORT (default 5001), as `webgrade stop`

Without a path the source is the kernel's own input history (what the student
ran, even unsaved), with the IPython syntax removed by the very function that
cleans a saved notebook's cells (``grader.find.notebook.clean_cell``).

The grading is ``webgrade check``'s (``grader.grade.grade``): the student's code
runs in a process of its own, on a port of the grader's, with every bound of
the command line.  Nothing of the student's runs in the kernel, even when the
kernel's namespace already holds their app; their own server on 5001, if it
runs, is left alone.  An interrupt of the kernel (KeyboardInterrupt) stops the
grading and its server.

Options are parsed by ``webgrade check``'s own click parameters (not by
IPython's ``magic_arguments``, an argparse wrapper): one declaration of each
option, its type, check and help, for the command line and the notebook.
"""

from __future__ import annotations

import ast
import os
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from grader.find.submission import Submission
    from grader.results import Report

#: The port the lesson's own server listens on (``app.run(port=5001)``), when the code names none.
LESSON_PORT = 5001

INTRO = """Grade your Flask server from this notebook, as `webgrade check` does.

Without PATH: the last cell run in this kernel that creates a Flask app (no
need to save the notebook).  With PATH: that file, folder or notebook.  Your
code runs in a server of the grader's own, on its own port: a server of yours
on port 5001 is left running and is not what is graded.

`%webgrade --stop [PORT]` stops your own server on PORT (default 5001), as
`webgrade stop` does: only a Python program of yours.
"""


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register ``%webgrade``; its docstring (``%webgrade?``) is the options' help."""

    def webgrade(line: str) -> None:
        run(line, ipython)

    webgrade.__doc__ = help_text()
    ipython.magics_manager.register_function(webgrade, "line", "webgrade")


def command() -> click.Command:
    """``%webgrade``'s options: ``--stop``, then ``webgrade check``'s (``grader.settings.grading_params``)."""
    from grader.cli import cli
    from grader.settings import grading_params
    from grader.stop import DEFAULT_PORT

    check = cli.get_command(click.Context(cli), "check")  # by its name: the command line's stable interface
    assert check is not None

    stop = click.Option(
        ["--stop"],
        type=click.IntRange(1, 65535),
        is_flag=False,
        flag_value=DEFAULT_PORT,
        default=None,
        metavar="[PORT]",
        help=f"Stop your own server on PORT (default {DEFAULT_PORT}) instead of grading, as `webgrade stop`.",
    )
    return click.Command(
        "%webgrade",
        params=[*grading_params(check), stop],
        help=INTRO,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )


def help_text() -> str:
    cmd = command()
    return cmd.get_help(click.Context(cmd, info_name="%webgrade", **cmd.context_settings))


def run(line: str, shell: InteractiveShell) -> None:
    """What ``%webgrade LINE`` does: grade (and show the scorecard), or stop a server."""
    from IPython.core.error import UsageError

    from grader.errors import Explained

    cmd = command()
    try:
        ctx = cmd.make_context("%webgrade", _split(line))
    except click.exceptions.Exit:  # --help was printed
        return
    except click.ClickException as error:
        raise UsageError(f"{error.format_message()}\n  try: %webgrade? for the options") from None
    params = ctx.params
    if params["stop"] is not None:
        _stop(params["stop"])
        return
    try:
        report = _grade(shell, params, from_history=ctx.get_parameter_source("path") is ParameterSource.DEFAULT)
    except (Explained, click.ClickException) as error:
        raise UsageError(_explained(error)) from None
    if report is not None:
        show(report, params.get("verbose", False))


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True, posix=os.name != "nt")  # `%webgrade  # a comment`
    except ValueError as error:  # an unclosed quote
        from IPython.core.error import UsageError

        raise UsageError(f"could not read the options: {error}") from None


def _explained(error: Exception) -> str:
    if isinstance(error, click.ClickException):
        return error.format_message()
    message, hint = getattr(error, "message", str(error)), getattr(error, "hint", "")
    return f"{message}\n  try: {hint}" if hint else str(message)


def _grade(shell: InteractiveShell, params: dict[str, Any], from_history: bool) -> Report | None:
    """Find what to grade, grade it, and return the report (None after an internal error, said on stderr)."""
    from grader.find.submission import find_submission
    from grader.grade import grade
    from grader.settings import rubric_and_options, unknown_checks

    if from_history:
        if params.get("entry"):
            raise click.UsageError("--entry needs a PATH: name the folder it is in")
        submission = history_submission(shell)
        label: str | None = _history_label(submission, shell)
    else:
        submission, label = find_submission(params["path"], params.get("entry")), None
    rubric, options = rubric_and_options(submission.folder if from_history else params["path"], params)
    try:
        with _one_interrupt():
            report = grade(submission, rubric, options)
    except KeyboardInterrupt:
        print("webgrade: interrupted; the grading's server was stopped", file=sys.stderr)
        raise
    except Exception as error:  # never show a student a traceback of ours
        if os.environ.get("WEBGRADE_DEBUG"):
            raise
        print(f"webgrade: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print("  try: run %env WEBGRADE_DEBUG=1, grade again and show the output to your instructor", file=sys.stderr)
        return None
    errors = unknown_checks(rubric, report)
    if errors:
        raise errors[0]
    if label is not None:
        report.entry = label
        report.notes.insert(
            0, f"graded {submission.display_name}: the last cell run in this kernel that creates a Flask app"
        )
    own = own_port(submission.source)
    if _listening(own):
        report.notes.append(
            f"your own server on port {own} was left running and was not graded: "
            "webgrade ran your code in a server of its own"
        )
    return report


def history_submission(shell: InteractiveShell) -> Submission:
    """The newest cell run in this kernel that creates a Flask app, as a submission in the kernel's folder.

    The kernel's raw input history (``In`` before IPython's transformations) is
    read newest first; each cell is cleaned exactly as a saved notebook's cell
    is.  The server runs in a copy of the kernel's working directory, as the
    student's own ``%%python --bg`` server does.
    """
    from grader.errors import SubmissionError
    from grader.find.notebook import clean_cell
    from grader.find.submission import STRONG, Submission, flask_strength

    history = shell.history_manager.input_hist_raw if shell.history_manager is not None else []
    for number in range(len(history) - 1, 0, -1):
        cleaned = clean_cell(history[number])
        if cleaned is not None and flask_strength(cleaned) == STRONG:
            folder = Path.cwd().resolve()
            # Named as IPython names a cell in tracebacks ("Cell In[7], line 12").
            return Submission(folder, folder, folder / f"In[{number}]", None, cleaned)
    raise SubmissionError(
        "no cell run in this kernel creates a Flask app",
        "run your server cell (the one with `app = Flask(__name__)`, like the lesson's `%%python --bg` cell) "
        "first, or name a file: %webgrade main.py",
    )


def _history_label(submission: Submission, shell: InteractiveShell) -> str:
    """How the scorecard names what was graded: "lesson.ipynb, In[7]", or "In[7] (this kernel)"."""
    notebook = shell.user_ns.get("__vsc_ipynb_file__") or os.environ.get("JPY_SESSION_NAME")  # VS Code, Jupyter
    if isinstance(notebook, str) and notebook.endswith(".ipynb"):
        return f"{Path(notebook).name}, {submission.display_name}"
    return f"{submission.display_name} (this kernel)"


@contextmanager
def _one_interrupt() -> Iterator[None]:
    """The first interrupt stops the grading; more, while its server is being stopped, are ignored.

    A second KeyboardInterrupt inside the grading's clean-up would leave the
    server running: unlike the command line, the kernel lives on, and its
    server with it.  Only in the main thread, where signal handlers live.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = False

    def on_interrupt(signum: int, frame: object) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise KeyboardInterrupt

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def own_port(source: str) -> int:
    """The port the student's own server listens on: ``app.run(port=N)`` in their code, else the lesson's 5001."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return LESSON_PORT
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run":
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg == "port" and isinstance(value, ast.Constant) and type(value.value) is int:
                    return value.value
    return LESSON_PORT


def _listening(port: int) -> bool:
    """Whether something answers on 127.0.0.1:``port`` (refused at once when nothing does)."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def show(report: Report, verbose: bool = False) -> None:
    """Display the scorecard: HTML where the front end renders it, the terminal's text everywhere else.

    One display bundle with both ``text/html`` and ``text/plain``: Jupyter,
    JupyterLab and VS Code show the HTML, with the browser check's picture of
    the lesson's page under it when that check drew one; a terminal IPython
    prints the text, in colour when it is a terminal.
    """
    from IPython.display import display

    from grader import scorecard
    from grader.reports import html_card

    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    # The page as the browser check drew it (the student's table, or the empty one), under the HTML card
    # only: a hidden check's picture is not the student's to see, and a terminal shows no picture.
    page_png = report.for_student().screenshot
    bundle = {
        "text/plain": scorecard.text(report, verbose, colour=colour),
        "text/html": html_card.render(report, verbose, page_png=page_png),
    }
    display(bundle, raw=True)  # type: ignore[no-untyped-call]


def _stop(port: int) -> None:
    from grader.stop import stop_server

    outcome = stop_server(port)
    print(f"webgrade: {outcome.message}", file=sys.stdout if outcome.stopped else sys.stderr)
    if outcome.hint:
        print(f"  try: {outcome.hint}", file=sys.stderr)
