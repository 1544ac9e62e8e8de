"""``--format json``: exactly one JSON object, with the stable field names of Report.to_dict.

For instructors' scripts: the full report (hidden checks marked ``"hidden"``).
Its values are kept exact, so student text is escaped the JSON way: json
writes C0 controls as ``\\u001b``, and DEL and C1 (U+0080 to U+009F), which
it would write raw, are written ``\\u009b`` here.  Parsed, the value is the
same; printed, no control character reaches a terminal.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from grader.reports import Audience, Settings, github
from grader.results import Report

NAME = "json"
AUDIENCE: Audience = "full"

#: DEL and C1, which json.dumps leaves raw; outside strings, dumped JSON is ASCII, so these are always in a string.
_RAW_IN_JSON = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def render(report: Report, verbose: bool = False) -> str:
    """The JSON object, with ``detail`` and ``server_log`` when verbose."""
    return json.dumps(report.to_dict(verbose=verbose), indent=2, ensure_ascii=False).translate(_RAW_IN_JSON)


def write(report: Report, dest: Path | None, settings: Settings) -> None:
    """Print the JSON on stdout (``dest`` is not used); in GitHub Actions with the old ``##[`` command form escaped."""
    text = render(report, settings.verbose)
    click.echo(github.safe_json(text) if settings.in_actions else text)
