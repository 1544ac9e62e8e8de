"""PYTEST_DONT_REWRITE: raises Failure instead of using assert."""

import pytest

from grader import Failure


@pytest.mark.check("server.start")
def test_server_starts(grading):
    """the server starts and answers HTTP"""
    problem = grading.problem()
    if problem is not None:
        raise Failure(problem.message, problem.hint, log=problem.log_tail, file=problem.file, line=problem.line)
