"""The browser check judges what the page drew against what the page itself received (issue 11).

A server whose list grows on every request (``tests/servers/growing_list``)
answers the page more records than it answered the grader a moment before;
the table is judged on the page's own answer, and a warning says why the
answers differ.  A table that differs from what the page received still fails.

The first tests need no browser: they feed the check's functions a Visit.
The rest load the lesson's page in Chromium, in-process and through the CLI.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from conftest import processes_of, run_webgrade

from grader.check import hints
from grader.check.browser import Browser
from grader.check.chromium import find_chromium, in_ci, install_command
from grader.check.client import Client
from grader.check.page_visit import Visit
from grader.find.source import read
from grader.find.submission import find_submission
from grader.lessons.web_server.checks.test_browser import _explain, _received_other
from grader.lessons.web_server.page import TABLE, load_lesson_page, render
from grader.run.server import Server, free_port

needs_chromium = pytest.mark.skipif(find_chromium() is None and not in_ci(), reason=f"no Chromium: {install_command()}")

ADA = {
    "FirstName": "Ada",
    "LastName": "Lovelace",
    "DOB": "December 10",
    "Residence": "London",
    "Email": "ada@example.com",
    "Owns_Cars": [],
}
ALAN = {**ADA, "FirstName": "Alan", "LastName": "Turing", "Residence": "Wilmslow"}
ROW_ADA, ROW_ALAN = ["Ada", "Lovelace", "London"], ["Alan", "Turing", "Wilmslow"]

GROWING = """
from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, supports_credentials=True, origins='*')

InfoDb = []


@app.route('/api/data')
def get_data():
    InfoDb.append({"FirstName": "Ada", "LastName": "Lovelace", "DOB": "December 10",
                   "Residence": "London", "Email": "ada@example.com", "Owns_Cars": []})
    return jsonify(InfoDb)
""".lstrip()

GROWS_WHY = (
    "InfoDb is made outside get_data (main.py, line 7), so every request adds its records (line 12) "
    "to the same list again; make the list inside the function: move `InfoDb = []` into get_data, "
    "so each request starts from an empty list"
)


def drawn(grader: list, page: list | None, rows: list[list[str]]) -> Visit:
    """A Visit as the browser reports it: the page received ``page`` (None: no JSON) and drew ``rows``."""
    received = page if page is not None else grader
    return Visit(
        "http://127.0.0.1:4100/",
        "http://127.0.0.1:5000/api/data",
        fetch="answered",
        status=200,
        rows=rows,
        expected=[[r["FirstName"], r["LastName"], r["Residence"]] for r in received],
        records=received,
        from_page=page is not None,
    )


# --- no browser: the verdict and the warning from a Visit ---


def test_the_table_is_judged_on_what_the_page_received():
    visit = drawn([ADA], [ADA, ADA], [ROW_ADA, ROW_ADA])
    assert visit.drew_table
    assert _explain(visit, "http://127.0.0.1:4100", "/api/data") is None


def test_the_growing_list_is_named_from_the_students_line():
    visit = drawn([ADA], [ADA, ADA, ADA], [ROW_ADA] * 3)
    warning = _received_other(visit, [ADA], "/api/data", read(GROWING, "main.py"))
    assert warning == (
        "the list grows on every request (1 record when the grader asked, 3 when the page asked): " + GROWS_WHY
    )


def test_a_growing_list_already_explained_is_named_in_short():
    visit = drawn([ADA], [ADA, ADA, ADA], [ROW_ADA] * 3)
    told = {hints.GROWING_LIST}
    warning = _received_other(visit, [ADA], "/api/data", read(GROWING, "main.py"), told)
    assert warning == (
        "the list grows on every request (1 record when the grader asked, 3 when the page asked), as api.schema "
        "explains; the table was checked against the records the page got"
    )


def test_the_growing_list_is_explained_without_the_students_line():
    visit = drawn([ADA, ALAN], [ADA, ALAN, ADA, ALAN], [ROW_ADA, ROW_ALAN] * 2)
    warning = _received_other(visit, [ADA, ALAN], "/api/data", read("", "main.py"))
    assert warning is not None
    assert warning.startswith("the list grows on every request (2 records when the grader asked, 4 when the page ")
    assert "make the list inside the function" in warning


def test_other_records_warn_without_quoting_them():
    """Values are the student's text: the warning gives counts, never the records themselves."""
    evil = {**ALAN, "FirstName": "\x1b]0;owned\x07Eve"}
    visit = drawn([ADA, ALAN], [ADA, evil], [ROW_ADA, ["\x1b]0;owned\x07Eve", "Turing", "Wilmslow"]])
    warning = _received_other(visit, [ADA, ALAN], "/api/data", read(GROWING, "main.py"))
    assert warning is not None and "\x1b" not in warning and "Eve" not in warning
    assert "(2 records when the grader asked, 2 when the page asked)" in warning
    assert "grows" not in warning
    not_a_list = drawn([ADA], [ADA], [ROW_ADA])
    not_a_list.records = {"people": [ADA]}
    said = _received_other(not_a_list, [ADA], "/api/data", read(GROWING, "main.py"))
    assert said is not None and "different answer" in said


def test_no_warning_when_the_page_got_what_the_grader_got_or_nothing_to_compare():
    code = read(GROWING, "main.py")
    assert _received_other(drawn([ADA], [ADA], [ROW_ADA]), [ADA], "/api/data", code) is None
    assert _received_other(drawn([ADA], None, [ROW_ADA]), [ADA], "/api/data", code) is None


def test_a_table_other_than_the_page_received_still_fails():
    visit = drawn([ADA], [ADA, ALAN], [ROW_ADA])  # the page got two records and drew one row
    assert not visit.drew_table
    failure = _explain(visit, "http://127.0.0.1:4100", "/api/data")
    assert failure is not None
    assert failure.message == (
        "expected the lesson's page on http://127.0.0.1:4100 to draw 2 rows from GET /api/data (one per record), saw 1"
    )
    assert "innerHTML" in failure.hint
    other = drawn([ADA, ALAN], [ADA, ALAN], [ROW_ADA, ["Alan", "Turing", "Paris"]])
    failure = _explain(other, "http://127.0.0.1:4100", "/api/data")
    assert failure is not None
    assert "saw the row of record 1 (Alan Turing) show 'Alan' | 'Turing' | 'Paris'" in failure.message


def test_the_growing_list_hint_picks_the_routes_own_list():
    advice = hints.growing_list(read(GROWING, "main.py"), "/api/data")
    assert advice is not None and (advice.file, advice.line) == ("main.py", 7)
    assert hints.growing_list(read(GROWING.replace("InfoDb.append", "[].append"), "main.py"), "/api/data") is None


# --- in a real browser ---


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the in-process tests; none of its processes outlives it."""
    before = set(chromium_of(os.getpid()))  # another module's browser, in the same worker
    with Browser() as shared:
        yield shared
    deadline = time.monotonic() + 10
    while (left := set(chromium_of(os.getpid())) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"Chromium outlived Browser.close(): {left}"


def chromium_of(pid: int) -> list[psutil.Process]:
    return [p for p in processes_of(pid) if "chrom" in p.name().lower()]


@pytest.fixture
def origin() -> str:
    return f"http://127.0.0.1:{free_port()}"


def started(folder: Path, source: str) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(textwrap.dedent(source).lstrip())
    server = Server(find_submission(folder))
    server.start()
    server.wait_ready(20)
    return server


@needs_chromium
def test_the_page_keeps_what_its_own_fetch_received(browser, tmp_path, origin):
    server = started(tmp_path / "growing", GROWING)
    try:
        grader = Client(server.host, server.port).get("/api/data").json()
        visit = load_lesson_page(browser, origin, server.base_url + "/api/data", grader)
    finally:
        server.stop()
    assert grader == [ADA]
    assert visit.from_page and visit.records == [ADA, ADA], visit.report()  # the grader asked first
    assert visit.rows == [ROW_ADA, ROW_ADA]
    assert visit.drew_table, visit.report()


@needs_chromium
def test_a_page_that_draws_other_rows_than_it_received_fails(browser, tmp_path, origin):
    """The lesson's page changed to draw its last record's residence wrong: judged on the page's own records."""
    server = started(tmp_path / "growing", GROWING)
    api = server.base_url + "/api/data"
    page = render(api).replace(
        "residence.innerHTML = row.Residence;",
        "residence.innerHTML = row === data[data.length - 1] ? 'Paris' : row.Residence;",
    )
    assert page != render(api)
    try:
        grader = Client(server.host, server.port).get("/api/data").json()
        visit = browser.visit(origin + "/", page, api, grader, TABLE, timeout=10)
    finally:
        server.stop()
    assert visit.from_page and visit.records == [ADA, ADA], visit.report()
    assert visit.rows == [ROW_ADA, ["Ada", "Lovelace", "Paris"]]  # the grader's one record is drawn right
    assert not visit.drew_table
    failure = _explain(visit, origin, "/api/data")
    assert failure is not None
    assert "saw the row of record 1 (Ada Lovelace) show 'Ada' | 'Lovelace' | 'Paris' instead of" in failure.message


NESTED = """
from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, supports_credentials=True, origins='*')


@app.route('/api/data')
def get_data():
    return jsonify([{"FirstName": "<table><tr><td>Ada</td></tr></table>", "LastName": "Lovelace",
                     "DOB": "December 10", "Residence": "London", "Email": "ada@example.com", "Owns_Cars": []}])
"""


@needs_chromium
def test_the_growing_list_passes_the_browser_check_with_a_warning(copy_server):
    folder = copy_server("growing_list")
    run = run_webgrade(str(folder), "--format", "json", "--browser", watch=folder)
    table = run.check("browser.table")
    assert table["status"] == "passed", table
    [warning] = table["warnings"]
    # One cause, one explanation: api.schema gives the student's lines, the browser check refers to it.
    assert warning.startswith("the list grows on every request (2 records when the grader asked, ")
    assert warning.endswith(
        "when the page asked), as api.schema explains; the table was checked against the records the page got"
    )
    [why] = run.check("api.schema")["warnings"]
    assert why.endswith(
        "InfoDb is made outside get_data (main.py, line 8), so every request adds its "
        "records (line 13) to the same list again; make the list inside the function: move `InfoDb = []` "
        "into get_data, so each request starts from an empty list"
    )
    assert run.report["score"] == run.report["max_score"]


@needs_chromium
def test_values_that_draw_more_rows_than_records_fail_end_to_end(tmp_path):
    """A record's value is HTML the page draws: a table in a cell adds a row the records do not give."""
    folder = tmp_path / "nested"
    folder.mkdir()
    (folder / "main.py").write_text(NESTED.lstrip())
    table = run_webgrade(str(folder), "--format", "json", "--browser", watch=folder).check("browser.table")
    assert table["status"] == "failed", table
    assert table["message"].endswith("to draw 1 row from GET /api/data (one per record), saw 2"), table
    assert "innerHTML" in table["hint"]
    assert "warnings" not in table  # the page got what the grader got
