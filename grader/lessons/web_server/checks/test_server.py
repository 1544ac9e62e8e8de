"""The server starts: the check every other one needs, which says why a server did not start.

PYTEST_DONT_REWRITE: raises Failure instead of using assert.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from grader import Failure

if TYPE_CHECKING:
    from grader.grade import Grading


@pytest.mark.check("server.start")
def test_server_starts(grading: Grading, warn: Callable[[str], None]) -> None:
    """the server starts and answers HTTP"""
    problem = grading.problem()
    if problem is not None:
        raise Failure(problem.message, problem.hint, log=problem.log_tail, file=problem.file, line=problem.line)
    note = _served_app_note(grading)
    if note:
        warn(note)


def _served_app_note(grading: Grading) -> str:
    """Said when the file has no ``__main__`` block and the grader served its app as ``flask --app`` would."""
    try:
        served = json.loads((grading.server.workspace.out / "served_app.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    name = served.get("app") if isinstance(served, dict) else None
    app = name if isinstance(name, str) and name.isidentifier() else "app"
    file = grading.submission.display_name.split(",")[0]
    module = file.rsplit("/", 1)[-1].removesuffix(".py")
    return (
        f"{file} has no `if __name__ == '__main__':` block that calls {app}.run(), so `python {file}` "
        f"starts no server; webgrade served its Flask app (`{app}`) as `flask --app {module} run` would. "
        f"To start it with python, end the file with `if __name__ == '__main__': {app}.run(port=5001)`"
    )
