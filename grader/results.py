"""The result model every renderer reads: one Report of CheckResults.

Checks never know how they are shown; renderers (terminal, JSON, and the
later JUnit, Gradescope and GitHub ones) only read these objects.  Field
names of :meth:`Report.to_dict` are a stable interface for CI scripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

Status = Literal["passed", "failed", "not_graded", "skipped"]


def points(value: float) -> str:
    """Points as every output writes them: 2, 0.5, 13 (never 2.0), so the scorecard, files and gradebook agree."""
    return f"{value:g}"


@dataclass
class CheckResult:
    id: str
    name: str
    status: Status
    score: float
    max_score: float
    message: str = ""
    hint: str = ""
    #: The full value seen (a body, a header list), shown with -v.
    detail: str | None = None
    #: The last lines of the server's output that explain this result.
    log: str = ""
    warnings: list[str] = field(default_factory=list)
    #: Where in the student's file this result points, when known.
    file: str | None = None
    line: int | None = None
    #: Counts toward the score, but the student never sees its name or message.
    hidden: bool = False
    #: A PNG of what a browser drew for this check (the browser check's page), for the outputs that
    #: show pictures (``webgrade check --screenshot``, a batch's feedback/ENTRY.png); never in JSON.
    screenshot: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def category(self) -> str:
        return self.id.split(".", 1)[0]

    def to_dict(self, verbose: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "category": self.category,
            "name": self.name,
            "status": self.status,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
            "hint": self.hint,
        }
        if self.warnings:
            data["warnings"] = self.warnings
        if self.log:
            data["log"] = self.log
        if self.file:
            data["file"], data["line"] = self.file, self.line
        if verbose and self.detail is not None:
            data["detail"] = self.detail
        if self.hidden:
            data["hidden"] = True
        return data


@dataclass
class Report:
    submission: str
    entry: str
    checks: list[CheckResult]
    duration_s: float = 0.0
    #: Plain notes for the student (which notebook cell was graded, sandbox used, ...).
    notes: list[str] = field(default_factory=list)
    #: Everything the server printed (tail), shown with -v.
    server_log: str = ""
    #: The sandbox the server ran in: "bwrap" or "none" ("" when unknown).
    sandbox: str = ""
    #: The process backend that ran it (grader.run.backend): "linux", "portable" or "windows" ("" when unknown).
    process: str = ""

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 4)

    @property
    def screenshot(self) -> bytes | None:
        """The first picture a check kept of what a browser drew (PNG), or None."""
        return next((c.screenshot for c in self.checks if c.screenshot), None)

    @property
    def status(self) -> Status:
        graded = [c for c in self.checks if c.status != "skipped"]
        if any(c.id == "server.start" and c.status != "passed" for c in graded):
            return "not_graded"
        if all(c.status == "passed" for c in graded):
            return "passed"
        return "failed"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """A Report read back from :meth:`to_dict` (a batch's results.jsonl), the fields a batch keeps."""
        names = {f.name for f in fields(CheckResult)}
        checks = [CheckResult(**{k: v for k, v in check.items() if k in names}) for check in data["checks"]]
        return cls(data["submission"], data["entry"], checks, data.get("duration_s", 0.0), list(data.get("notes", [])))

    def for_student(self) -> Report:
        """The report a student may see: hidden checks removed, and a note saying so.

        Every renderer that a student reads (terminal, Markdown feedback, GitHub)
        renders this view; instructor outputs (gradebook, Gradescope with its own
        visibility field) render the full report.
        """
        hidden = [c for c in self.checks if c.hidden]
        if not hidden:
            return self
        points = sum(c.max_score for c in hidden)
        view = Report(
            self.submission,
            self.entry,
            [c for c in self.checks if not c.hidden],
            self.duration_s,
            [*self.notes],
            self.server_log,
            self.sandbox,
            self.process,
        )
        view.notes.append(
            f"{len(hidden)} hidden check{'s' if len(hidden) != 1 else ''} worth {points:g} point"
            f"{'s' if points != 1 else ''} will also be graded: the score shown here is not final"
        )
        return view

    def to_dict(self, verbose: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "submission": self.submission,
            "entry": self.entry,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "checks": [c.to_dict(verbose) for c in self.checks],
        }
        if self.notes:
            data["notes"] = self.notes
        if self.sandbox:
            data["sandbox"] = self.sandbox
        if self.process:
            data["process"] = self.process
        if verbose:
            data["server_log"] = self.server_log
        return data
