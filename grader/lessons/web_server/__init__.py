"""The lesson "Internet - Web Server".

A Flask home page, a JSON API of people, and CORS for a page on another origin.
What the grader knows of the lesson is here (:data:`LESSON`) or beside it in
this folder: the API's schema (``people.schema.json``) and its wording
(``people.py``), the page the browser check loads (``page.py``) and the
built-in checks (``checks/``).
"""

from __future__ import annotations

from pathlib import Path

from grader.lessons import Lesson

_HERE = Path(__file__).parent

LESSON = Lesson(
    name="web_server",
    checks_dir=_HERE / "checks",
    points={
        "server.start": 1,
        "home.status": 1,
        "home.html": 1,
        "home.not_found": 1,
        "api.status": 2,
        "api.json": 1,
        "api.schema": 2,
        "cors.preflight": 2,
        "cors.response": 2,
        "browser.table": 2,
    },
    optional={
        "hacks.home_changed": 1,
        "hacks.own_record": 1,
    },
    api_path="/api/data",
    origin="http://127.0.0.1:4100",
    schema=_HERE / "people.schema.json",
    min_records=1,
    request_timeout=5.0,
    table_columns=("FirstName", "LastName", "Residence"),
    cors_setup="CORS(app, supports_credentials=True, origins='*')",
    # Copied from student_template/main.py, because the installed grader does not ship the
    # template; a test keeps the two equal.
    template_home="""
    <html>
    <head>
        <title>Hello</title>
    </head>
    <body>
        <h2>Hello, World!</h2>
    </body>
    </html>
    """,
    template_records=(
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
    ),
)
