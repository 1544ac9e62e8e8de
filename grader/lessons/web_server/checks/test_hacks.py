"""The lesson's "hacks": the student made the template their own.

Optional checks: graded only when a rubric names them (see the lesson's
``optional`` points).  They compare with the template's page and records,
which the lesson keeps (``LESSON.template_home``, ``LESSON.template_records``).

PYTEST_DONT_REWRITE: these checks raise Failure instead of using assert, so
they need no assertion rewriting, which would cost every run a recompile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from grader import Failure
from grader.lessons.web_server import LESSON

if TYPE_CHECKING:
    from grader.check.client import Reply
    from grader.rubric import Rubric


def _words(html: str) -> str:
    return " ".join(html.split())


@pytest.mark.check("hacks.home_changed", depends=("home.status",))
def test_home_page_changed(home: Reply) -> None:
    """the home page is changed from the template's"""
    if _words(home.text) == _words(LESSON.template_home):
        raise Failure(
            'expected a home page of your own, saw the template\'s page unchanged (title "Hello", "Hello, World!")',
            "in say_hello() in main.py, change the <title> and add your own text to the <body>",
        )


@pytest.mark.check("hacks.own_record", depends=("api.json",))
def test_api_has_own_record(api: Reply, rubric: Rubric) -> None:
    """the API holds a record of your own, not only the template's"""
    data = api.json()
    if not isinstance(data, list):
        raise Failure(
            f"expected GET {rubric.api_path} to answer with a list of records, saw {type(data).__name__}",
            "return jsonify(InfoDb), the list of records",
        )
    if not any(isinstance(record, dict) and record not in LESSON.template_records for record in data):
        raise Failure(
            f"expected at least one record that is not one of the template's (Shaurya Singh, John Doe), "
            f"saw only {'those' if data else 'an empty list'}",
            'add a record about yourself: InfoDb.append({"FirstName": ..., "LastName": ..., ...}) with the same keys',
        )
