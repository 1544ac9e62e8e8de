"""report.html: one self-contained page for the instructor after a batch.

What the class scored (a histogram), which check the class did not get
(the pass rate of every check), the slowest and the ungraded submissions,
and a link to every student's feedback.  No external assets: inline CSS and
SVG, so the page opens from a USB stick or an LMS attachment; the one
exception is the pictures of the lesson's page as each student's browser check
drew it (feedback/ENTRY.png, beside each feedback file), which it links and
shows as thumbnails, so the class's tables are seen at a glance.  Every piece of
text that a student or their server wrote is escaped with ``html.escape``.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from grader.batch.gradebook import Graded, check_columns, full_marks
from grader.results import points

if TYPE_CHECKING:
    from grader.check.browser import Memory

#: Integer scores up to this many points get a bar each; above, ten bars of 10 %.
MAX_BARS = 25
SLOWEST = 10

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0; background: #f6f8fa; }
main { max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; }
.meta { color: #59636e; margin: 0 0 16px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 10px 16px; min-width: 110px; }
.card b { display: block; font-size: 22px; }
section { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 12px 16px; margin-top: 12px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { font-weight: 600; color: #59636e; font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 13px; }
.rate { width: 160px; } .track { background: #eaeef2; border-radius: 4px; height: 10px; }
.fill { height: 10px; border-radius: 4px; }
.high { background: #1a7f37; } .mid { background: #bf8700; } .low { background: #cf222e; }
.passed { color: #1a7f37; } .failed { color: #cf222e; } .not_graded { color: #9a6700; }
svg text { font: 12px system-ui, sans-serif; fill: #59636e; }
svg rect.bar { fill: #0969da; }
.empty { color: #59636e; font-style: italic; }
.pages { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
.pages figure { margin: 0; } .pages img { width: 100%; height: auto; border: 1px solid #d1d9e0; border-radius: 4px; }
.pages figcaption { font-size: 13px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class Bin:
    label: str
    count: int


def bins(results: list[Graded]) -> list[Bin]:
    """The histogram's bars: a bar per score when full marks are a small whole number, else tens of percent."""
    full = Counter(g.max_score for g in results).most_common(1)[0][0] if results else 0
    same = all(g.max_score == full for g in results)
    if same and 0 < full <= MAX_BARS and float(full).is_integer() and all(float(g.score).is_integer() for g in results):
        counts = Counter(int(g.score) for g in results)
        return [Bin(str(score), counts[score]) for score in range(int(full) + 1)]
    counts = Counter(min(9, int(10 * g.score / g.max_score)) if g.max_score else 0 for g in results)
    return [Bin(f"{10 * n}–{10 * n + 10}%", counts[n]) for n in range(10)]


def histogram_svg(bars: list[Bin], axis: str) -> str:
    width, height, left, bottom, top = 640, 220, 10, 36, 18
    plot_w, plot_h = width - 2 * left, height - bottom - top
    step = plot_w / len(bars)
    tallest = max((b.count for b in bars), default=0) or 1
    parts = [
        f'<svg id="histogram" role="img" aria-label="score distribution" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#d1d9e0"/>',
    ]
    for n, b in enumerate(bars):
        h = plot_h * b.count / tallest
        x, y = left + n * step + step * 0.1, top + plot_h - h
        center = left + n * step + step / 2
        noun = "submission" if b.count == 1 else "submissions"
        parts.append(
            f'<g class="bin"><rect class="bar" data-label="{_e(b.label)}" data-count="{b.count}" '
            f'x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{h:.1f}" rx="2">'
            f"<title>{b.count} {noun}: {_e(b.label)}</title></rect>"
        )
        if b.count:
            parts.append(f'<text x="{center:.1f}" y="{y - 4:.1f}" text-anchor="middle">{b.count}</text>')
        parts.append(f'<text x="{center:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_e(b.label)}</text></g>')
    parts.append(f'<text x="{width / 2}" y="{height - 4}" text-anchor="middle">{_e(axis)}</text></svg>')
    return "".join(parts)


def _rate_bar(rate: float) -> str:
    level = "high" if rate >= 0.8 else "mid" if rate >= 0.5 else "low"
    return f'<div class="track"><div class="fill {level}" style="width:{100 * rate:.0f}%"></div></div>'


def _checks_table(results: list[Graded], order: list[str]) -> str:
    graded = [g for g in results if g.report]
    if not graded:
        return '<p class="empty">No submission was graded, so no check has a pass rate.</p>'
    rows = []
    for check_id in check_columns(results, order):
        seen = [c for g in graded if g.report for c in g.report.checks if c.id == check_id]
        name = seen[0].name if seen else ""
        hidden = " <small>(hidden)</small>" if seen and seen[0].hidden else ""
        status = Counter(c.status for c in seen)
        # A check skipped wherever it could run (e.g. --no-browser) says nothing of the class.
        skipped = status["skipped"] and not (status["passed"] or status["failed"])
        ran = len(graded) - status["skipped"]
        rate = None if skipped or not ran else status["passed"] / ran
        most = points(max(c.max_score for c in seen)) if seen else ""
        shown = f"{100 * rate:.0f}%" if rate is not None else "skipped"
        rows.append(
            f'<tr data-check="{_e(check_id)}"><td><code>{_e(check_id)}</code>{hidden}<br>{_e(name)}</td>'
            f'<td class="num">{most}</td><td class="num passed">{status["passed"]}</td>'
            f'<td class="num failed">{status["failed"]}</td>'
            f'<td class="num not_graded">{status["not_graded"]}</td>'
            f'<td class="num pass-rate">{shown}</td>'
            f'<td class="rate">{_rate_bar(rate) if rate is not None else ""}</td></tr>'
        )
    return (
        '<table id="checks"><thead><tr><th>check</th><th class="num">points</th><th class="num">passed</th>'
        '<th class="num">failed</th><th class="num">not graded</th><th class="num">pass rate</th><th></th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="meta">Pass rates are out of the {len(graded)} submissions that were graded '
        "(when a server did not start, none of its checks passed).</p>"
    )


def _who(g: Graded) -> str:
    link = (
        f'<a href="{_e(quote(g.feedback))}">{_e(g.student or g.entry)}</a>' if g.feedback else _e(g.student or g.entry)
    )
    return link + (f" <small>{_e(g.entry)}</small>" if g.student else "")


def _submission_rows(results: list[Graded], table_id: str, extra: str, cell: Callable[[Graded], str]) -> str:
    if not results:
        return f'<p class="empty" id="{table_id}">None.</p>'
    rows = "".join(
        f'<tr><td>{_who(g)}</td><td class="num">{points(g.score)}/{points(g.max_score)}</td>'
        f'<td class="{g.status}">{g.status.replace("_", " ")}</td>{cell(g)}</tr>'
        for g in results
    )
    return (
        f'<table id="{table_id}"><thead><tr><th>student</th><th class="num">score</th><th>status</th>{extra}'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _pages(results: list[Graded]) -> str:
    """A thumbnail of each picture of the lesson's page, with who drew it and the browser check's outcome."""
    figures = []
    for g in results:
        if not g.picture:
            continue
        table = next((c for c in g.report.checks if c.id == "browser.table"), None) if g.report else None
        status = f' <span class="{_e(table.status)}">{_e(table.status.replace("_", " "))}</span>' if table else ""
        link = _e(quote(g.picture))
        figures.append(
            f'<figure data-entry="{_e(g.entry)}"><a href="{link}"><img src="{link}" loading="lazy" width="800" '
            f'height="600" alt="the lesson\'s page for {_e(g.student or g.entry)}"></a>'
            f"<figcaption>{_who(g)}{status}</figcaption></figure>"
        )
    return f'<div class="pages" id="pages">{"".join(figures)}</div>'


def _memory(browser_memory: Mapping[str, Memory]) -> str:
    """Each worker's browser at its largest with a page open: proportional memory, and the plain sum of RSS."""
    mb = 2**20
    rows = "".join(
        f"<tr><td>{_e(worker)}</td>"
        f'<td class="num">{f"{m.pss / mb:.0f} MB" if m.pss is not None else "–"}</td>'
        f'<td class="num">{m.rss / mb:.0f} MB</td><td class="num">{m.processes}</td></tr>'
        for worker, m in sorted(browser_memory.items())
    )
    return (
        '<table id="browser-memory"><thead><tr><th>worker</th><th class="num">Chromium (PSS)</th>'
        '<th class="num">RSS, summed</th><th class="num">processes</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        '<p class="meta">Each worker\'s Chromium (its browser process and every child), at its largest with a '
        "page open. PSS divides the pages its processes share among them; the sum of their RSS counts shared "
        "pages once per process, so it overstates.</p>"
    )


def render(
    results: list[Graded],
    *,
    order: list[str],
    source: str,
    generated: str,
    skipped: Sequence[tuple[str, str]] = (),
    missing: Sequence[str] = (),
    browser_memory: Mapping[str, Memory] | None = None,
) -> str:
    """The instructor's page for ``results`` (one Graded per submission)."""
    count = Counter(g.status for g in results)
    scores = [g.score for g in results]
    full = full_marks(results, max((g.max_score for g in results), default=0))
    bars = bins(results)
    axis = "score (points)" if bars and "%" not in bars[0].label else "score (% of full marks)"
    cards = [
        ("submissions", len(results)),
        ("passed", count["passed"]),
        ("failed", count["failed"]),
        ("not graded", count["not_graded"]),
        ("mean", f"{statistics.fmean(scores):.1f}/{points(full)}" if scores else "–"),
        ("median", f"{statistics.median(scores):g}/{points(full)}" if scores else "–"),
    ]
    by_entry = sorted(results, key=lambda g: g.entry)
    slowest = sorted(results, key=lambda g: -g.duration_s)[:SLOWEST]
    ungraded = [g for g in by_entry if g.status == "not_graded"]
    body = [
        "<h1>webgrade: batch report</h1>",
        f'<p class="meta">{_e(source)} · {_e(generated)}</p>',
        '<div class="cards">'
        + "".join(f'<div class="card" data-card="{_e(k)}"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards)
        + "</div>",
        "<h2>Score distribution</h2>",
        f"<section>{histogram_svg(bars, axis)}</section>",
        "<h2>Checks: what the class got, and did not</h2>",
        f"<section>{_checks_table(results, order)}</section>",
        "<h2>Not graded</h2>",
        "<section>"
        + _submission_rows(ungraded, "ungraded", "<th>why</th>", lambda g: f"<td>{_e(g.reason)}</td>")
        + "</section>",
        f"<h2>Slowest {len(slowest)}</h2>",
        "<section>"
        + _submission_rows(
            slowest, "slowest", '<th class="num">seconds</th>', lambda g: f'<td class="num">{g.duration_s:.2f}</td>'
        )
        + "</section>",
        "<h2>Every submission</h2>",
        "<section>"
        + _submission_rows(
            by_entry,
            "students",
            "<th>id</th><th>page</th>",
            lambda g: (
                f"<td>{_e(g.student_id)}</td><td>"
                + (f'<a href="{_e(quote(g.picture))}">picture</a>' if g.picture else "")
                + "</td>"
            ),
        )
        + "</section>",
    ]
    if any(g.picture for g in by_entry):
        body += ["<h2>The lesson's page, as each browser drew it</h2>", f"<section>{_pages(by_entry)}</section>"]
    if browser_memory:
        body += ["<h2>The browser's memory</h2>", f"<section>{_memory(browser_memory)}</section>"]
    if skipped:
        items = "".join(f"<li><code>{_e(name)}</code>: {_e(why)}</li>" for name, why in skipped)
        body += ["<h2>Skipped entries</h2>", f'<section><ul id="skipped">{items}</ul></section>']
    if missing:
        items = "".join(f"<li>{_e(name)}</li>" for name in missing)
        body += ["<h2>On the roster, no submission found</h2>", f'<section><ul id="missing">{items}</ul></section>']
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>webgrade batch report</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
