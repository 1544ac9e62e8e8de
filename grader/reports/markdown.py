"""The scorecard as Markdown: per-student feedback files and the GitHub step summary.

Student text (messages quote the server's answers and output) is escaped so it
cannot add links, HTML or formatting of its own, and its control characters
are shown escaped (:func:`~grader.reports.visible`).

``render(..., max_bytes=N)`` keeps the page within N bytes of UTF-8 (the GitHub
step summary has a hard size limit): the scorecard itself (every check's mark,
name, id and points) is always whole, and the longest texts (messages, hints,
warnings, the server's output) are cut, each with a visible marker.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from grader.reports import visible
from grader.results import CheckResult, Report

MARKS = {"passed": "✅", "failed": "❌", "not_graded": "➖", "skipped": "⏭️"}

#: Where the whole of a cut text can be read: webgrade prints every message and log in full in the step's log.
WHOLE_TEXT = "the whole text is in webgrade's output in the step's log"


def escape(text: str) -> str:
    """Plain text inside Markdown: no HTML, no emphasis, no links, no table breaks, no control characters."""
    text = html.escape(visible(text), quote=False)
    for char in "\\`*_[]|#<>!":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _fence(log: str) -> str:
    body = visible(log).replace("```", "`\u200b``")
    return f"```text\n{body}\n```"


@dataclass
class _Cuttable:
    """A student text that may be cut to fit: ``show`` turns its raw text into Markdown."""

    text: str
    show: Callable[[str], str]
    #: Keep the end (a log's last lines explain the failure) rather than the start.
    keep_end: bool = False

    def __post_init__(self) -> None:
        self.full = self.show(self.text)
        self.size = _size(self.full)

    def _cut(self, keep: int) -> str:
        """The text with only ``keep`` characters kept (slicing characters never splits a UTF-8 sequence)."""
        if self.keep_end:
            kept = self.text[len(self.text) - keep :]
            cut = _size(self.text) - _size(kept)
            return f"**\\[✂ cut: the first {cut:,} bytes of this output; {WHOLE_TEXT}\\]**\n\n{self.show(kept)}"
        kept = self.text[:keep]
        cut = _size(self.text) - _size(kept)
        return f"{self.show(kept)} **\\[✂ cut: {cut:,} more bytes; {WHOLE_TEXT}\\]**"

    def fit(self, budget: int) -> str:
        """The Markdown, in at most ``budget`` bytes if it can be (a cut text is never shorter than its marker)."""
        if self.size <= budget:
            return self.full
        low, high = 0, len(self.text) - 1  # _cut(low) fits (or nothing does); _cut(high + 1) does not
        while low < high:
            middle = (low + high + 1) // 2
            if _size(self._cut(middle)) <= budget:
                low = middle
            else:
                high = middle - 1
        return self._cut(low)


def _shares(sizes: list[int], room: int) -> list[int]:
    """Bytes for each text so that together they fit in ``room``.

    The short ones stay whole, the longest are cut to one length.
    """
    if sum(sizes) <= room:
        return sizes
    left, count, cap = max(room, 0), len(sizes), 0
    for size in sorted(sizes):
        if size * count > left:
            cap = left // count
            break
        left -= size
        count -= 1
    return [min(size, cap) for size in sizes]


def _row(result: CheckResult) -> list[str | _Cuttable]:
    """A table row: fixed text (the scorecard) and the student texts that may be cut."""
    points = f"{result.score:g}/{result.max_score:g}"
    parts: list[str | _Cuttable] = [f"| {MARKS[result.status]} | {escape(result.name)} | `{result.id}` | {points} | "]
    if result.status != "passed" and result.message:
        parts.append(_Cuttable(result.message, escape))
    if result.hint and result.status == "failed":
        parts += ["<br>**Try:** ", _Cuttable(result.hint, escape)]
    for warning in result.warnings:
        parts += ["<br>⚠️ ", _Cuttable(warning, escape)]
    parts.append(" |")
    return parts


def render(report: Report, title: str = "webgrade", max_bytes: int | None = None) -> str:
    """Render the student's view of ``report`` (hidden checks already removed by the caller).

    With ``max_bytes``, the longest student texts are cut so the page fits; the
    scorecard's lines are never cut.
    """
    lines: list[list[str | _Cuttable]] = [
        [f"## {escape(title)}: {report.score:g}/{report.max_score:g} ({report.status.replace('_', ' ')})"],
        [""],
    ]
    lines.extend([f"> {escape(note)}"] for note in report.notes)
    if report.notes:
        lines.append([""])
    lines += [["| | check | id | points | what to fix |"], ["|---|---|---|---|---|"]]
    lines.extend(_row(result) for result in report.checks)
    for result in report.checks:
        if result.log and result.status == "failed":
            lines += [
                [""],
                [f"<details><summary>What the server printed ({escape(result.id)})</summary>"],
                [""],
                [_Cuttable(result.log, _fence, keep_end=True)],
                [""],
                ["</details>"],
            ]
    cuttable = [part for line in lines for part in line if isinstance(part, _Cuttable)]
    fixed = _size("\n".join("".join(p for p in line if isinstance(p, str)) for line in lines) + "\n")
    room = (max_bytes - fixed) if max_bytes is not None else sum(c.size for c in cuttable)
    shares = dict(zip(map(id, cuttable), _shares([c.size for c in cuttable], room), strict=True))
    return "\n".join("".join(p if isinstance(p, str) else p.fit(shares[id(p)]) for p in line) for line in lines) + "\n"
