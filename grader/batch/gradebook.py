"""A batch's results and the files written from them in ``--out``.

``results.jsonl`` is the record: one line per graded submission, appended,
flushed and fsynced as each one finishes, so a batch that is interrupted or
killed loses nothing it finished.  It is only ever appended to (``--resume``)
or started anew, so a later line for the same entry replaces an earlier one
(a regrade after the submission changed).  ``grades.csv`` is rebuilt from the
results after each submission (atomically: a spreadsheet never sees half a
file), and ``feedback/ENTRY.md`` is the scorecard the student would see,
with ``feedback/ENTRY.png`` beside it (and linked from it): the lesson's page as
the browser check drew it.

A gradebook of thousands of rows (a cluster's batch) would spend more time
rewriting grades.csv than grading: past :data:`ALWAYS_REWRITE` rows it is
rewritten at most once per ten times what the last rewrite took (results.jsonl
still gets every result at once), and always at the end.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.reports import markdown
from grader.results import Report, points

RESULTS = "results.jsonl"
GRADES = "grades.csv"
FEEDBACK = "feedback"
REPORT = "report.html"

#: Up to this many rows, grades.csv is rewritten after every submission; past it, see the module's docstring.
ALWAYS_REWRITE = 2000

#: grades.csv's first columns; one column per check id follows, with the points earned.
COLUMNS = ("student", "id", "entry", "score", "max", "status", "duration", "error")


@dataclass
class Graded:
    """One submission's result in a batch: who, which content, and its Report (None when it could not be graded)."""

    entry: str  #: its name in the SUBMISSIONS folder
    student: str = ""
    student_id: str = ""
    hash: str = ""  #: of its files (not .git): --resume regrades it when this changes
    settings: str = ""  #: of the rubric and options: --resume regrades everything when this changes
    commit: str | None = None  #: the git commit graded, for a repository
    report: Report | None = None
    #: Why there is no report (not a submission, an unsafe zip, over the time limit), in the student's terms.
    error: str = ""
    hint: str = ""
    duration_s: float = 0.0
    #: Points possible, for a submission without a report.
    full_marks: float = 0.0
    feedback: str = ""  #: path of its feedback file, relative to --out
    run: str = ""  #: which batch run graded it
    graded_at: str = ""
    #: The grader failed (a worker crashed), not the submission: --resume grades it again.
    internal: bool = False
    #: On a cluster: the Dask worker that graded it, and which start of its grading this was (1: the first).
    worker: str = ""
    attempt: int = 0
    #: Path (relative to --out) of the picture of the page its browser check drew, beside its feedback; or "".
    picture: str = ""

    @property
    def status(self) -> str:
        return self.report.status if self.report else "not_graded"

    @property
    def score(self) -> float:
        return self.report.score if self.report else 0

    @property
    def max_score(self) -> float:
        return self.report.max_score if self.report else self.full_marks

    @property
    def reason(self) -> str:
        """Why it was not graded: our error, or the server's own failure to start."""
        if self.error or self.report is None or self.status != "not_graded":
            return self.error
        start = next((c for c in self.report.checks if c.id == "server.start"), None)
        return start.message if start else ""

    def to_json(self) -> dict[str, Any]:
        data = {
            "entry": self.entry,
            "student": self.student,
            "id": self.student_id,
            "status": self.status,
            "score": self.score,
            "max_score": self.max_score,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "hint": self.hint,
            "hash": self.hash,
            "settings": self.settings,
            "commit": self.commit,
            "feedback": self.feedback,
            "run": self.run,
            "graded_at": self.graded_at,
            "report": self.report.to_dict() if self.report else None,
        }
        if self.internal:
            data["internal"] = True
        if self.worker:
            data["worker"], data["attempt"] = self.worker, self.attempt
        if self.picture:
            data["picture"] = self.picture
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Graded:
        report = Report.from_dict(data["report"]) if data.get("report") else None
        return cls(
            entry=data["entry"],
            student=data.get("student", ""),
            student_id=data.get("id", ""),
            hash=data.get("hash", ""),
            settings=data.get("settings", ""),
            commit=data.get("commit"),
            report=report,
            error=data.get("error", ""),
            hint=data.get("hint", ""),
            duration_s=data.get("duration_s", 0.0),
            full_marks=data.get("max_score", 0.0),
            feedback=data.get("feedback", ""),
            run=data.get("run", ""),
            graded_at=data.get("graded_at", ""),
            internal=data.get("internal", False),
            worker=data.get("worker", ""),
            attempt=data.get("attempt", 0),
            picture=data.get("picture", ""),
        )


def full_marks(results: list[Graded], default: float) -> float:
    """The points possible in this batch: what most reports say (a skipped check is out of 0), else ``default``."""
    counts = Counter(g.report.max_score for g in results if g.report)
    return counts.most_common(1)[0][0] if counts else default


def feedback_names(entries: list[str]) -> dict[str, str]:
    """A distinct, file-system-safe feedback file name for each entry name."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for entry in sorted(entries):
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", entry).strip("._") or "submission"
        name, n = base, 1
        while name.lower() in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name.lower())
        names[entry] = f"{FEEDBACK}/{name}.md"
    return names


def check_columns(results: list[Graded], order: list[str]) -> list[str]:
    """Check ids for grades.csv: the rubric's order, then any other check in the order reports list it."""
    ids = list(order)
    for graded in sorted(results, key=lambda g: g.entry):
        for check in graded.report.checks if graded.report else []:
            if check.id not in ids:
                ids.append(check.id)
    seen = {c.id for g in results if g.report for c in g.report.checks}
    return [i for i in ids if i in seen] or list(order)


def _cell(text: str) -> str:
    """Text that a spreadsheet shows as text: a leading = + - @ would start a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def grades_csv(results: list[Graded], order: list[str]) -> str:
    columns = check_columns(results, order)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *columns])
    for graded in sorted(results, key=lambda g: g.entry):
        earned = {c.id: points(c.score) for c in graded.report.checks} if graded.report else {}
        writer.writerow(
            [
                _cell(graded.student),
                _cell(graded.student_id),
                _cell(graded.entry),
                points(graded.score),
                points(graded.max_score),
                graded.status,
                f"{graded.duration_s:.2f}",
                _cell(" ".join(graded.reason.split())),
                *(earned.get(c, "") for c in columns),
            ]
        )
    return out.getvalue()


def feedback_markdown(graded: Graded) -> str:
    """The student's scorecard: hidden checks removed, exactly as ``webgrade check`` would show it."""
    title = f"webgrade: {graded.student or graded.entry}"
    if graded.report is not None:
        card = markdown.render(graded.report.for_student(), title=title)
        if graded.picture:  # beside this file, in the same folder
            card += f"\n![The lesson's page, drawn in a real browser from your API]({Path(graded.picture).name})\n"
        return card
    lines = [
        f"## {markdown.escape(title)}: 0/{graded.max_score:g} (not graded)",
        "",
        f"Your submission `{markdown.escape(graded.entry)}` could not be graded: {markdown.escape(graded.error)}",
    ]
    if graded.hint:
        lines += ["", f"**Try:** {markdown.escape(graded.hint)}"]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step, so a reader sees the old file or the new one, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Gradebook:
    """The ``--out`` folder of one batch."""

    def __init__(self, out: Path, check_order: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.check_order = check_order
        self._results_file: io.TextIOWrapper | None = None
        self._clock = clock
        #: When grades.csv may be rewritten next (a large gradebook), and how often it was.
        self._grades_due = 0.0
        self.grades_written = 0

    def previous(self) -> dict[str, Graded]:
        """The results an earlier run recorded, by entry (a torn last line, from a killed run, is ignored)."""
        found: dict[str, Graded] = {}
        try:
            lines = (self.out / RESULTS).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return found
        for line in lines:
            try:
                graded = Graded.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue
            found[graded.entry] = graded
        return found

    def open(self, fresh: bool) -> None:
        """Start results.jsonl anew (``fresh``) or append to it (``--resume``)."""
        (self.out / FEEDBACK).mkdir(parents=True, exist_ok=True)
        path = self.out / RESULTS
        torn = False
        if not fresh and path.exists() and path.stat().st_size:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read() != b"\n"
        self._results_file = open(path, "w" if fresh else "a", encoding="utf-8")
        if torn:  # a killed run's half-written line stays on a line of its own, skipped when read
            self._results_file.write("\n")

    def add(self, graded: Graded, results: list[Graded]) -> None:
        """Record one finished submission (durably), its feedback file, and the gradebook so far."""
        self.append(graded)
        if len(results) <= ALWAYS_REWRITE or self._clock() >= self._grades_due:
            self.write_grades(results)

    def append(self, graded: Graded) -> None:
        """Record one submission (durably) and its feedback files, without rewriting grades.csv."""
        if graded.feedback:
            (self.out / graded.feedback).parent.mkdir(parents=True, exist_ok=True)
            self._write_picture(graded)
            write_atomically(self.out / graded.feedback, feedback_markdown(graded))
        assert self._results_file is not None
        self._results_file.write(json.dumps(graded.to_json(), ensure_ascii=False) + "\n")
        self._results_file.flush()
        os.fsync(self._results_file.fileno())

    def _write_picture(self, graded: Graded) -> None:
        """feedback/ENTRY.png: the page the student's browser check drew (as the student may see it: not when
        that check is hidden); an older picture of this entry is removed when this grading drew none."""
        picture = Path(graded.feedback).with_suffix(".png")
        shot = graded.report.for_student().screenshot if graded.report else None
        if shot:
            tmp = self.out / picture.with_name(f".{picture.name}.{os.getpid()}.tmp")
            tmp.write_bytes(shot)
            os.replace(tmp, self.out / picture)
            graded.picture = picture.as_posix()
        else:
            (self.out / picture).unlink(missing_ok=True)
            graded.picture = ""

    def write_grades(self, results: list[Graded]) -> None:
        """grades.csv from ``results``; a submission with no report is given the batch's full marks."""
        started = self._clock()
        if any(g.report for g in results):
            marks = full_marks(results, 0.0)  # once: per row, a large gradebook would take minutes
            for graded in results:
                if graded.report is None:
                    graded.full_marks = marks
        write_atomically(self.out / GRADES, grades_csv(results, self.check_order))
        self.grades_written += 1
        took = self._clock() - started
        self._grades_due = started + took + 10 * took

    def close(self) -> None:
        if self._results_file is not None:
            self._results_file.close()
            self._results_file = None
