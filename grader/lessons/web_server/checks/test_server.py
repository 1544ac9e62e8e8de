"""The server starts: the check every other one needs, which says why a server did not start.

PYTEST_DONT_REWRITE: raises Failure instead of using assert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from grader import Failure

if TYPE_CHECKING:
    from grader.grade import Grading


@pytest.mark.check("server.start")
def test_server_starts(grading: Grading) -> None:
    """the server starts and answers HTTP"""
    problem = grading.problem()
    if problem is not None:
        raise Failure(problem.message, problem.hint, log=problem.log_tail, file=problem.file, line=problem.line)
