"""What more than one command uses: options declared once, and how a fault of ours is said.

Declared once so that their defaults and help cannot drift apart between
``webgrade check``, ``watch`` and ``batch``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

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


def internal_error(error: Exception, hint: str) -> NoReturn:
    """A fault of ours, never shown as a traceback (unless WEBGRADE_DEBUG is set): what broke, what to do; exit 1."""
    if os.environ.get("WEBGRADE_DEBUG"):
        raise error
    click.echo(f"webgrade: internal error: {type(error).__name__}: {error}", err=True)
    click.echo(f"  try: {hint}", err=True)
    sys.exit(1)
