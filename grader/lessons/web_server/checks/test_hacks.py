"""The lesson's "hacks": the student made the template their own.

Optional checks: graded only when a rubric names them (see grader.rubric.OPTIONAL).
The template's page and records are copied here from student_template/main.py,
because the installed grader does not ship the template; a test keeps the two equal.

PYTEST_DONT_REWRITE: these checks raise Failure instead of using assert, so
they need no assertion rewriting, which would cost every run a recompile.
"""

import pytest

from grader import Failure

#: The home page student_template/main.py returns.
TEMPLATE_HOME = """
    <html>
    <head>
        <title>Hello</title>
    </head>
    <body>
        <h2>Hello, World!</h2>
    </body>
    </html>
    """

#: The records student_template/main.py's API returns.
TEMPLATE_RECORDS = [
    {
        "FirstName": "Shaurya",
        "LastName": "Singh",
        "DOB": "November 18",
        "Residence": "San Diego",
        "Email": "shauryasinghus@gmail.com",
        "Owns_Cars": ["2015-Fusion", "2011-Ranger", "2003-Excursion", "1997-F350", "1969-Cadillac"],
    },
    {
        "FirstName": "John",
        "LastName": "Doe",
        "DOB": "January 1",
        "Residence": "Shanghai",
        "Email": "jdoe1@gmail.com",
        "Owns_Cars": ["2024-Accord"],
    },
]


def _words(html: str) -> str:
    return " ".join(html.split())


@pytest.mark.check("hacks.home_changed", depends=("home.status",))
def test_home_page_changed(home):
    """the home page is changed from the template's"""
    if _words(home.text) == _words(TEMPLATE_HOME):
        raise Failure(
            'expected a home page of your own, saw the template\'s page unchanged (title "Hello", "Hello, World!")',
            "in say_hello() in main.py, change the <title> and add your own text to the <body>",
        )


@pytest.mark.check("hacks.own_record", depends=("api.json",))
def test_api_has_own_record(api, rubric):
    """the API holds a record of your own, not only the template's"""
    data = api.json()
    if not isinstance(data, list):
        raise Failure(
            f"expected GET {rubric.api_path} to answer with a list of records, saw {type(data).__name__}",
            "return jsonify(InfoDb), the list of records",
        )
    if not any(isinstance(record, dict) and record not in TEMPLATE_RECORDS for record in data):
        raise Failure(
            f"expected at least one record that is not one of the template's (Shaurya Singh, John Doe), "
            f"saw only {'those' if data else 'an empty list'}",
            'add a record about yourself: InfoDb.append({"FirstName": ..., "LastName": ..., ...}) with the same keys',
        )
