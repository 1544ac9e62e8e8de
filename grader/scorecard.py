"""The student's scorecard as text: the terminal's, for the notebook and ``webgrade watch``.

The one place outside the CLI that calls the terminal renderer, so the
notebook's text, its HTML card (``grader.reports.html_card`` translates this
text's colours) and ``webgrade watch`` always show the same lines as
``webgrade check``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from grader.results import Report


def text(report: Report, verbose: bool = False, colour: bool = True) -> str:
    """The scorecard ``webgrade check`` prints: hidden checks removed (and counted), student text made visible.

    ``colour=False`` drops the terminal's colour codes (the renderer's own: the
    student's control characters are already shown escaped).
    """
    from grader.reports import terminal

    rendered = terminal.render(report.for_student(), verbose)
    return rendered if colour else click.unstyle(rendered)
