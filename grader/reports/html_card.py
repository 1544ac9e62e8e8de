"""The scorecard as a small HTML card, for a notebook's output (Jupyter, JupyterLab, VS Code).

It is the terminal's scorecard, line for line (``grader.scorecard.text``), with
the terminal's colours translated into inline styles: the same marks, points,
messages and hints, hidden checks counted but not named, and nothing a
terminal user would not see.  Inline styles only, no ``<style>`` or script: a
notebook page holds many outputs, and its HTML sanitizer keeps inline styles.

Student text is untrusted: the terminal renderer shows its control characters
escaped (``\\x1b``), and every piece of text here goes through
:func:`html.escape`, so nothing a server printed or answered becomes markup.
"""

from __future__ import annotations

import base64
import html
import re
from typing import TYPE_CHECKING

from grader.reports import visible

if TYPE_CHECKING:
    from grader.results import Report

#: The terminal's colours (click's SGR codes), readable on a light and on a dark notebook theme.
COLOURS = {
    31: "#d1242f",  # red: failed
    32: "#1f883d",  # green: passed
    33: "#b7791f",  # yellow: not graded, warnings
    34: "#3b82f6",  # blue: skipped
    35: "#a855f7",
    36: "#0e8a9c",  # cyan: hints
    91: "#e5534b",
    92: "#3fb950",
    93: "#d29922",
    94: "#539bf5",
    95: "#c297ff",
    96: "#39c5cf",
}
CARD_STYLE = (
    "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace; "
    "font-size: 13px; line-height: 1.45; white-space: pre-wrap; overflow-wrap: anywhere; "
    "padding: 0.6em 0.9em; border: 1px solid rgba(127, 127, 127, 0.35); border-radius: 6px"
)
_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def render(report: Report, verbose: bool = False, *, page_png: bytes | None = None) -> str:
    """The student's scorecard as an HTML fragment (a ``<div>``), safe to display whatever the student's server said.

    ``page_png``: a picture of the lesson's page as the browser drew it, shown
    under the scorecard (the browser check's screenshot: ``Report.for_student().screenshot``).  Only its
    base64 is written into the markup, in a ``data:image/png`` address.
    """
    from grader import scorecard

    body = terminal_to_html(scorecard.text(report, verbose))
    picture = ""
    if page_png:
        data = base64.b64encode(page_png).decode("ascii")
        picture = (
            '<div style="margin-top: 0.6em"><img alt="the lesson&#x27;s page as the browser drew it" '
            f'style="max-width: 100%; border: 1px solid rgba(127, 127, 127, 0.35)" src="data:image/png;base64,{data}">'
            "</div>"
        )
    return f'<div class="webgrade-scorecard" style="{CARD_STYLE}">{body}</div>{picture}'


def terminal_to_html(text: str) -> str:
    """Terminal text with SGR colour codes (bold, dim, colours) as escaped HTML with styled ``<span>``s.

    Any other control character is shown escaped: only the renderer's own colour codes are obeyed.
    """
    out: list[str] = []
    bold = dim = False
    colour: int | None = None
    position = 0

    def emit(chunk: str) -> None:
        if not chunk:
            return
        escaped = html.escape(visible(chunk))
        styles = []
        if colour in COLOURS:
            styles.append(f"color: {COLOURS[colour]}")
        if bold:
            styles.append("font-weight: bold")
        if dim:
            styles.append("opacity: 0.7")
        out.append(f'<span style="{"; ".join(styles)}">{escaped}</span>' if styles else escaped)

    for match in _SGR.finditer(text):
        emit(text[position : match.start()])
        position = match.end()
        for code in (int(part) if part else 0 for part in match[1].split(";")):
            if code == 0:
                bold = dim = False
                colour = None
            elif code == 1:
                bold = True
            elif code == 2:
                dim = True
            elif code == 22:
                bold = dim = False
            elif code == 39:
                colour = None
            elif 30 <= code <= 37 or 90 <= code <= 97:
                colour = code
    emit(text[position:])
    return "".join(out)
