"""What is graded and for how many points: the built-in default is the lesson.

The points of every built-in check live in :data:`POINTS`, here and nowhere
else.  A rubric file (a later issue) overrides these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Points per built-in check, in the order the report lists them.
POINTS: dict[str, float] = {
    "server.start": 1,
    "home.status": 1,
    "home.html": 1,
    "home.not_found": 1,
    "api.status": 2,
    "api.json": 1,
    "api.schema": 2,
    "cors.preflight": 2,
    "cors.response": 2,
}


@dataclass
class Rubric:
    api_path: str = "/api/data"
    #: The origin the lesson's page is served from (its fetch is cross-origin).
    origin: str = "http://127.0.0.1:4100"
    #: A JSON Schema file for the API's answer; None is the shipped one.
    schema: Path | None = None
    min_records: int = 1
    points: dict[str, float] = field(default_factory=lambda: dict(POINTS))
    #: Seconds one HTTP request may take before the check says the handler hangs.
    request_timeout: float = 5.0

    def points_for(self, check_id: str, declared: float | None = None) -> float:
        if check_id in self.points:
            return self.points[check_id]
        return 1 if declared is None else declared
