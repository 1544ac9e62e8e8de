"""The lesson's page in a real browser (Debian's Chromium, through Playwright): the browser.table check.

Real parts only: Flask servers as subprocesses on loopback, the page served
from its own loopback origin, headless Chromium.  One browser serves the
whole module; every test leaves no Chromium behind (checked with psutil).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, WEBGRADE, processes_of, run_webgrade

from grader.check.browser import Browser
from grader.check.chromium import ENV_VAR, find_chromium, in_ci, install_command
from grader.check.client import Client
from grader.check.cors import Answer, CorsRequest, judge, needs_preflight, preflight_headers, request_headers
from grader.find.submission import find_submission
from grader.lessons.web_server import LESSON
from grader.lessons.web_server import page as lesson_page
from grader.lessons.web_server.page import load_lesson_page
from grader.run.server import Server, free_port

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = find_chromium()
# Skipped only on a computer without Chromium; in CI (.ci/run installs it) a missing one fails these tests.
needs_chromium = pytest.mark.skipif(CHROMIUM is None and not in_ci(), reason=f"no Chromium: {install_command()}")


def chromium_of(pid: int) -> list[psutil.Process]:
    """Chromium processes started for the process ``pid`` (they carry its WEBGRADE_PARENT)."""
    return [p for p in processes_of(pid) if "chrom" in p.name().lower()]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every test here that loads a page in-process."""
    with Browser() as shared:
        yield shared
    assert not wait_gone_chromium(os.getpid()), "Chromium outlived Browser.close()"


def wait_gone_chromium(pid: int, within: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + within
    while (left := chromium_of(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture
def origin() -> str:
    """A loopback origin of this test's own, so tests never wait for each other's page."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def no_ci(monkeypatch):
    """A student's local run: not CI, whatever runs this suite."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def write_server(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(textwrap.dedent(source).lstrip())
    return folder


# --- the lesson's page and its origin ---


def test_page_is_the_lessons_cell_fetching_the_graded_server():
    page = lesson_page.render("http://127.0.0.1:5123/api/data")
    assert 'url = "http://127.0.0.1:5123/api/data";' in page
    for line in (
        "mode: 'cors'",
        "cache: 'default'",
        "credentials: 'include'",
        "'Content-Type': 'application/json'",
        "firstname.innerHTML = row.FirstName;",
        "residence.innerHTML = row.Residence;",
        '<tbody id="result">',
    ):
        assert line in page
    assert "</script>" not in lesson_page.render("http://x/</script><script>alert(1)")[-400:-300]
    assert lesson_page.render("http://x/</script>").count("</script>") == 1


def test_the_page_draws_the_lessons_columns():
    """The table check expects LESSON.table_columns: the page's code must draw exactly those, in that order."""
    drawn = re.findall(r"^ *(\w+)\.innerHTML = row\.(\w+);$", lesson_page.PAGE, re.M)
    appended = re.findall(r"^ *tr\.appendChild\((\w+)\);$", lesson_page.PAGE, re.M)
    keys = dict(drawn)
    assert tuple(keys[cell] for cell in appended) == LESSON.table_columns == ("FirstName", "LastName", "Residence")
    headers = re.findall(r"<th>(.*?)</th>", lesson_page.PAGE)
    assert [h.replace(" ", "") for h in headers] == list(LESSON.table_columns)


@pytest.mark.parametrize(
    ("host", "space"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.1", "loopback"),
        ("localhost", "loopback"),
        ("app.localhost", "loopback"),
        ("[::1]", "loopback"),
        ("192.168.1.20", "local"),
        ("10.0.0.5", "local"),
        ("172.16.4.4", "local"),
        ("169.254.1.1", "local"),
        ("nighthawkcoders.github.io", "public"),
        ("8.8.8.8", "public"),
    ],
)
def test_address_spaces_are_chromes(host, space):
    assert lesson_page.address_space(host) == space


def test_public_page_and_local_server_get_the_local_network_access_warning():
    warning = lesson_page.local_network_warning("https://me.github.io")
    assert "Local Network Access" in warning and "Allow" in warning and "https://" in warning
    for origin in ("http://127.0.0.1:4100", "http://localhost:8080", "http://192.168.1.20:4100"):
        assert lesson_page.local_network_warning(origin) is None
    assert lesson_page.local_network_warning("https://me.github.io", server_host="8.8.8.8") is None


def test_page_is_served_from_exactly_the_origin(origin):
    import urllib.request

    with lesson_page.serve(origin, "<p>the page</p>") as url:
        assert url == origin + "/"
        assert urllib.request.urlopen(url, timeout=5).read() == b"<p>the page</p>"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(origin + "/favicon.ico", timeout=5)
    with pytest.raises(OSError):  # stopped with the block
        urllib.request.urlopen(url, timeout=5)


def test_a_port_held_by_another_program_is_named(origin):
    port = int(origin.rsplit(":", 1)[1])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(lesson_page.OriginUnavailable) as caught:
            with lesson_page.serve(origin, "<p>x</p>"):
                pass
    assert f"port {port} already in use by " in caught.value.message
    assert "--origin" in caught.value.hint


def test_graders_sharing_an_origin_take_turns(origin):
    """Two gradings on one machine want the same origin: the second waits for the first, then serves."""
    order = []
    first_in = threading.Event()

    def first():
        with lesson_page.serve(origin, "a"):
            first_in.set()
            order.append("first serving")
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with lesson_page.serve(origin, "b"):
        order.append("second serving")
    thread.join(10)
    assert order == ["first serving", "first done", "second serving"]


def test_many_graders_take_turns_and_leave_no_lock_file(origin):
    """Holders remove the lock file as they go; a waiter that locked a removed one tries again."""
    inside, most, errors = [], [0], []

    def grading():
        try:
            with lesson_page.serve(origin, "x"):
                inside.append(1)
                most[0] = max(most[0], len(inside))
                time.sleep(0.03)
                inside.pop()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=grading) for _ in range(8)]
    for thread in threads:  # staggered, so some open the lock file before it is removed and some after
        thread.start()
        time.sleep(0.012)
    for thread in threads:
        thread.join(30)
    assert not errors and most == [1]
    port = origin.rsplit(":", 1)[1]
    assert not list(Path(tempfile.gettempdir()).glob(f"webgrade-origin-127.0.0.1-{port}.lock"))


def test_a_non_loopback_origin_is_not_served():
    with pytest.raises(lesson_page.OriginUnavailable, match="on this computer"):
        with lesson_page.serve("https://me.github.io", "x"):
            pass


# --- finding a browser ---


def test_the_environment_variable_names_the_browser(tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium({ENV_VAR: str(fake)}) == str(fake)
    assert find_chromium({ENV_VAR: str(tmp_path / "missing")}) is None  # no silent fallback
    assert find_chromium({}, paths=(str(tmp_path / "nope"), str(fake))) == str(fake)


def test_ci_is_recognised(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert not in_ci()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert in_ci()


def test_no_browser_locally_skips_with_the_install_command(no_ci, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-chromium"))
    run = run_webgrade("reference_server", "--format", "json", watch=ROOT / "reference_server")
    table = run.check("browser.table")
    assert table["status"] == "skipped"
    assert "sudo apt install chromium" in table["message"]
    assert run.code == 0 and run.report["status"] == "passed"


def test_no_browser_in_ci_fails_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-chromium"))
    monkeypatch.setenv("CI", "true")
    run = run_webgrade("reference_server", "--format", "json")
    table = run.check("browser.table")
    assert table["status"] == "failed"
    assert ENV_VAR in table["message"] and "sudo apt install chromium" in table["hint"]


def test_no_browser_flag_skips_it():
    run = run_webgrade("reference_server", "--format", "json", "--no-browser")
    table = run.check("browser.table")
    assert table["status"] == "skipped" and "--no-browser" in table["message"]


# --- the check, end to end through the CLI ---


@needs_chromium
def test_reference_server_draws_its_rows_in_the_browser():
    run = run_webgrade("reference_server", "--format", "json", "-v", watch=ROOT / "reference_server")
    table = run.check("browser.table")
    assert table["status"] == "passed", table
    assert table["score"] == table["max_score"] == 2


PREFLIGHT_REJECTED = """
    # The preflight is rejected: a hand-written OPTIONS answer of 403 (CORS headers are all there).
    from flask import Flask, jsonify, request
    from flask_cors import CORS

    app = Flask(__name__)
    CORS(app, supports_credentials=True, origins='*')

    @app.route('/api/data', methods=['GET', 'OPTIONS'], provide_automatic_options=False)
    def get_data():
        if request.method == 'OPTIONS':
            return 'no preflights here', 403
        return jsonify([{"FirstName": "Ada", "LastName": "Lovelace", "DOB": "December 10",
                         "Residence": "London", "Email": "ada@example.com", "Owns_Cars": []}])
"""


@needs_chromium
@pytest.mark.parametrize(
    ("server", "fragments", "hint"),
    [
        (
            "no_cors",
            ["the browser blocked the request because", "no Access-Control-Allow-Origin header"],
            "from flask_cors import CORS",
        ),
        (
            "cors_no_credentials",
            ["the browser blocked the request because", "Access-Control-Allow-Credentials is missing"],
            "supports_credentials=True",
        ),
        ("preflight_rejected", ["the browser blocked the request because", "preflight", "answered 403"], "OPTIONS"),
    ],
)
def test_broken_cors_fails_in_the_browser_naming_the_cause(copy_server, tmp_path, server, fragments, hint):
    if server == "preflight_rejected":
        folder = write_server(tmp_path / server, PREFLIGHT_REJECTED)
    else:
        folder = copy_server(server)
    run = run_webgrade(str(folder), "--format", "json", "-v", watch=folder)
    table = run.check("browser.table")
    assert table["status"] == "failed"
    assert table["message"].startswith("expected the lesson's page on http://127.0.0.1:4100 to draw ")
    for fragment in fragments:
        assert fragment in table["message"], table["message"]
    assert hint in table["hint"], table["hint"]
    assert "blocked by CORS policy" in table["detail"]  # the browser's own words, shown with -v


DATA_PROBLEMS = {
    "no_residence": (
        [
            {
                "FirstName": "Ada",
                "LastName": "Lovelace",
                "DOB": "December 10",
                "Residence": "London",
                "Email": "ada@example.com",
                "Owns_Cars": [],
            },
            {"FirstName": "Alan", "LastName": "Turing", "DOB": "June 23", "Email": "alan@example.com", "Owns_Cars": []},
        ],
        ["saw row 2 show 'undefined' for Residence: record 2 has no Residence"],
        "give every record a Residence",
    ),
    "not_a_list": (
        {"FirstName": "Ada", "LastName": "Lovelace"},
        ["saw the page's script fail: TypeError", "iterable"],
        "a list",
    ),
}


@needs_chromium
@pytest.mark.parametrize("name", sorted(DATA_PROBLEMS))
def test_data_the_page_cannot_draw_is_named(tmp_path, name):
    data, fragments, hint = DATA_PROBLEMS[name]
    folder = write_server(
        tmp_path / name,
        f"""
        from flask import Flask, jsonify
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, supports_credentials=True, origins='*')

        @app.route('/api/data')
        def get_data():
            return jsonify({data!r})
    """,
    )
    table = run_webgrade(str(folder), "--format", "json", watch=folder).check("browser.table")
    assert table["status"] == "failed", table
    for fragment in fragments:
        assert fragment in table["message"], table["message"]
    assert hint in table["hint"]


@needs_chromium
def test_a_taken_origin_port_fails_clearly(copy_server):
    folder = copy_server("debug_true")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        run = run_webgrade(str(folder), "--format", "json", "--origin", f"http://127.0.0.1:{port}", watch=folder)
    table = run.check("browser.table")
    assert table["status"] == "failed"
    assert (
        f"expected to serve the lesson's page at http://127.0.0.1:{port}, saw port {port} already in use"
        in table["message"]
    )
    assert "--origin" in table["hint"]


def test_public_origin_warns_what_chrome_will_do(copy_server):
    folder = copy_server("debug_true")
    run = run_webgrade(str(folder), "--format", "json", "--origin", "https://student.github.io", watch=folder)
    table = run.check("browser.table")
    assert table["status"] == "skipped"
    assert any("Local Network Access" in w and "https://student.github.io" in w for w in table["warnings"])


@needs_chromium
def test_the_grader_killed_mid_page_leaves_no_chromium(tmp_path):
    """SIGKILL the grader while Chromium waits on the page's fetch: Chromium goes with it."""
    folder = write_server(
        tmp_path / "slow_for_browsers",
        """
        # Answers the grader at once, but keeps a browser (it sends Sec-Fetch-Mode) waiting.
        import time
        from flask import Flask, jsonify, request
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, supports_credentials=True, origins='*')

        @app.route('/api/data')
        def get_data():
            if 'Sec-Fetch-Mode' in request.headers:
                time.sleep(60)
            return jsonify([{"FirstName": "Ada", "LastName": "Lovelace", "DOB": "December 10",
                             "Residence": "London", "Email": "ada@example.com", "Owns_Cars": []}])
    """,
    )
    port = free_port()
    command = [*WEBGRADE, "check", str(folder), "--origin", f"http://127.0.0.1:{port}"]
    grader = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not chromium_of(grader.pid):
            assert time.monotonic() < deadline, "Chromium never started"
            assert grader.poll() is None
            time.sleep(0.05)
        driver = [p for p in psutil.Process(grader.pid).children() if Path(p.exe()).name == "node"]  # Playwright's
        assert driver
        grader.kill()
        grader.wait(timeout=30)
        assert not wait_gone_chromium(grader.pid, within=20), f"left behind: {chromium_of(grader.pid)}"
        _, alive = psutil.wait_procs(driver, timeout=20)
        assert not alive, f"Playwright's driver outlived the grader: {alive}"
    finally:
        grader.kill()
        grader.wait()
        for proc in processes_of(grader.pid):  # the student's server, whatever stops it (not this test's subject)
            proc.kill()
        Path(tempfile.gettempdir(), f"webgrade-origin-127.0.0.1-{port}.lock").unlink(missing_ok=True)  # it was killed


# --- in-process: the reference server's table, and one browser for many gradings ---


@pytest.fixture(scope="module")
def reference():
    server = Server(find_submission(ROOT / "reference_server"))
    try:
        server.start()
        server.wait_ready(20)
        yield server
    finally:
        server.stop()


@needs_chromium
def test_reference_table_is_drawn_and_kept_as_a_screenshot(browser, reference, origin):
    records = Client(reference.host, reference.port).get("/api/data").json()
    visit = load_lesson_page(browser, origin, reference.base_url + "/api/data", records, screenshot=True)
    assert visit.drew_table, visit.report()
    assert visit.rows == [["Shaurya", "Singh", "San Diego"], ["John", "Doe", "Shanghai"]]
    assert visit.preflight is not None and visit.preflight.status == 200  # the JSON Content-Type forced one
    assert visit.response.headers["access-control-allow-origin"] == origin
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser_table.png"
    shot.write_bytes(visit.screenshot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


@needs_chromium
def test_browser_processes_are_marked_and_stopped(reference, origin):
    """Chromium carries WEBGRADE_PARENT, so run_webgrade's leftover check covers it; close() stops it."""
    records = Client(reference.host, reference.port).get("/api/data").json()
    before = set(chromium_of(os.getpid()))  # the module's shared browser may be running
    browser = Browser()
    try:
        assert load_lesson_page(browser, origin, reference.base_url + "/api/data", records).drew_table
        ours = set(chromium_of(os.getpid())) - before
        assert any(p.name() == "chromium" for p in ours)
    finally:
        browser.close()
    _, alive = psutil.wait_procs(ours, timeout=10)
    assert not alive, f"Chromium outlived Browser.close(): {alive}"
    browser.close()  # twice is fine


@needs_chromium
@pytest.mark.parametrize(("setup", "drawn"), [("CORS(app, supports_credentials=True, origins='*')", True), ("", False)])
def test_an_empty_table_counts_only_when_the_empty_list_arrived(browser, tmp_path, origin, setup, drawn):
    folder = write_server(
        tmp_path / "empty",
        f"""
        from flask import Flask, jsonify
        from flask_cors import CORS

        app = Flask(__name__)
        {setup}

        @app.route('/api/data')
        def get_data():
            return jsonify([])
    """,
    )
    server = Server(find_submission(folder))
    try:
        server.start()
        server.wait_ready(20)
        visit = load_lesson_page(browser, origin, server.base_url + "/api/data", [])
    finally:
        server.stop()
    assert visit.rows == []
    assert visit.drew_table is drawn, visit.report()


@needs_chromium
def test_one_browser_serves_a_batch(tmp_path):
    """A batch creates one Browser and passes it to every grading: Chromium is launched once."""
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from grader.check.browser import Browser
        from grader.grade import Options, grade
        from grader.rubric import Rubric
        from grader.find.submission import find_submission

        folders = [{str(ROOT / "reference_server")!r}, {str(ROOT / "tests/servers/no_cors")!r},
                   {str(ROOT / "tests/servers/missing_key")!r}]
        with Browser() as browser:
            results = [grade(find_submission(Path(f)), Rubric(), Options(browser=browser)) for f in folders]
            tables = [next(c.status for c in r.checks if c.id == "browser.table") for r in results]
            print(json.dumps({{"launches": browser.launches, "table": tables}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"launches": 1, "table": ["passed", "failed", "passed"]}


# --- agreement: the cors.* verdict and the browser's verdict, over many CORS configurations ---

RECORDS = """
@app.route('/api/data')
def get_data():
    return jsonify([{"FirstName": "Ada", "LastName": "Lovelace", "DOB": "December 10", "Residence": "London",
                     "Email": "ada@example.com", "Owns_Cars": []},
                    {"FirstName": "Alan", "LastName": "Turing", "DOB": "June 23", "Residence": "Wilmslow",
                     "Email": "alan@example.com", "Owns_Cars": ["1950-Bicycle"]}])
"""


def by_hand(**headers: str) -> str:
    """An after_request hook that sets these headers on every answer ({origin} is the request's Origin)."""
    lines = "".join(f"    response.headers[{k.replace('_', '-')!r}] = {v}\n" for k, v in headers.items())
    return f"@app.after_request\ndef cors_by_hand(response):\n{lines}    return response\n"


ECHO = "request.headers.get('Origin', '')"
HAND = {
    "Access_Control_Allow_Origin": ECHO,
    "Access_Control_Allow_Credentials": "'true'",
    "Access_Control_Allow_Headers": "'Content-Type'",
    "Vary": "'Origin'",
}


def hand(**changes: str | None) -> str:
    headers = {**HAND, **changes}
    return by_hand(**{k: v for k, v in headers.items() if v is not None})


@dataclass(frozen=True)
class Config:
    works: bool  # what Chromium does with the lesson's fetch
    setup: str  # code after `app = Flask(__name__)`; {origin} is the page's origin
    routes: str = RECORDS


CONFIGS = {
    "lesson": Config(True, "CORS(app, supports_credentials=True, origins='*')"),
    "no_cors": Config(False, ""),
    "cors_without_credentials": Config(False, "CORS(app)"),
    "wildcard_without_credentials": Config(False, "CORS(app, send_wildcard=True)"),
    "origin_list_matching": Config(True, "CORS(app, supports_credentials=True, origins=['{origin}'])"),
    "origin_list_not_matching": Config(False, "CORS(app, supports_credentials=True, origins=['http://127.0.0.1:1'])"),
    # flask-cors matches origins case-insensitively and echoes the request's own spelling.
    "origin_list_upper_case": Config(True, "CORS(app, supports_credentials=True, origins=['{origin}'.upper()])"),
    "origin_list_trailing_slash": Config(False, "CORS(app, supports_credentials=True, origins=['{origin}/'])"),
    "resources_elsewhere": Config(False, "CORS(app, supports_credentials=True, resources={{r'/other/*': {{}}}})"),
    "allow_headers_without_content_type": Config(
        False, "CORS(app, supports_credentials=True, allow_headers=['Authorization'])"
    ),
    # flask-cors answers a preflight for a method it does not allow with no Access-Control-Allow-Headers.
    "methods_post_only": Config(False, "CORS(app, supports_credentials=True, methods=['POST'])"),
    "expose_headers": Config(True, "CORS(app, supports_credentials=True, expose_headers=['X-Total'])"),
    "preflight_404": Config(
        False,
        "CORS(app, supports_credentials=True, origins='*')",
        RECORDS.replace(
            "@app.route('/api/data')\ndef get_data():\n",
            "@app.route('/api/data', methods=['GET', 'OPTIONS'], provide_automatic_options=False)\ndef get_data():\n"
            "    if request.method == 'OPTIONS':\n        abort(404)\n",
        ),
    ),
    "preflight_500": Config(
        False,
        "CORS(app, supports_credentials=True, origins='*')",
        RECORDS.replace(
            "@app.route('/api/data')\ndef get_data():\n",
            "@app.route('/api/data', methods=['GET', 'OPTIONS'], provide_automatic_options=False)\ndef get_data():\n"
            "    if request.method == 'OPTIONS':\n        raise RuntimeError('no preflights here')\n",
        ),
    ),
    "preflight_redirected": Config(
        False, "CORS(app, supports_credentials=True, origins='*')", RECORDS.replace("'/api/data'", "'/api/data/'")
    ),
    "hand_written": Config(True, hand()),
    "hand_written_without_vary": Config(True, hand(Vary=None)),
    "hand_wildcard_with_credentials": Config(False, hand(Access_Control_Allow_Origin="'*'")),
    "hand_origin_wrong_case": Config(False, hand(Access_Control_Allow_Origin=f"{ECHO}.upper()")),
    "hand_origin_trailing_slash": Config(False, hand(Access_Control_Allow_Origin=f"{ECHO} + '/'")),
    "hand_credentials_True": Config(False, hand(Access_Control_Allow_Credentials="str(True)")),
    "hand_without_credentials": Config(False, hand(Access_Control_Allow_Credentials=None)),
    "hand_allow_headers_star": Config(False, hand(Access_Control_Allow_Headers="'*'")),
    "hand_allow_headers_python_list": Config(False, hand(Access_Control_Allow_Headers="str(['Content-Type'])")),
    "hand_allow_methods_star": Config(True, hand(Access_Control_Allow_Methods="'*'")),
    "hand_without_allow_headers": Config(False, hand(Access_Control_Allow_Headers=None)),
    "hand_allow_origin_padded": Config(True, hand(Access_Control_Allow_Origin=f"' ' + {ECHO} + ' '")),
    "hand_credentials_upper_case": Config(False, hand(Access_Control_Allow_Credentials="'TRUE'")),
    "hand_allow_headers_list": Config(True, hand(Access_Control_Allow_Headers="'accept, X-Other,content-type'")),
    "preflight_204": Config(
        True,
        "CORS(app, supports_credentials=True, origins='*')",
        RECORDS.replace(
            "@app.route('/api/data')\ndef get_data():\n",
            "@app.route('/api/data', methods=['GET', 'OPTIONS'], provide_automatic_options=False)\ndef get_data():\n"
            "    if request.method == 'OPTIONS':\n        return '', 204\n",
        ),
    ),
    "duplicate_allow_origin": Config(
        False,
        "CORS(app, supports_credentials=True, origins='*')\n"
        "@app.after_request\ndef again(response):\n"
        f"    response.headers.add('Access-Control-Allow-Origin', {ECHO})\n"
        "    return response\n",
    ),
    "duplicate_allow_credentials": Config(
        False,
        "CORS(app, supports_credentials=True, origins='*')\n"
        "@app.after_request\ndef again(response):\n"
        "    response.headers.add('Access-Control-Allow-Credentials', 'true')\n"
        "    return response\n",
    ),
    "preflight_only": Config(
        False,
        "@app.after_request\ndef cors_by_hand(response):\n"
        "    if request.method == 'OPTIONS':\n"
        f"        response.headers['Access-Control-Allow-Origin'] = {ECHO}\n"
        "        response.headers['Access-Control-Allow-Credentials'] = 'true'\n"
        "        response.headers['Access-Control-Allow-Headers'] = 'Content-Type'\n"
        "    return response\n",
    ),
    "get_only": Config(
        False,
        "@app.after_request\ndef cors_by_hand(response):\n"
        "    if request.method == 'GET':\n"
        f"        response.headers['Access-Control-Allow-Origin'] = {ECHO}\n"
        "        response.headers['Access-Control-Allow-Credentials'] = 'true'\n"
        "    return response\n",
    ),
}

PREAMBLE = "from flask import Flask, abort, jsonify, request\nfrom flask_cors import CORS\n\napp = Flask(__name__)\n"


@pytest.fixture(scope="module")
def page_origin() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def config_servers(tmp_path_factory, page_origin):
    """Every configuration's server, started at once (they boot in parallel), stopped at the end."""
    servers = {}
    try:
        for name, config in CONFIGS.items():
            folder = tmp_path_factory.mktemp(name)
            (folder / "main.py").write_text(PREAMBLE + config.setup.format(origin=page_origin) + "\n" + config.routes)
            servers[name] = Server(find_submission(folder))
            servers[name].start()
        for server in servers.values():
            server.wait_ready(60)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def header_verdict(server: Server, origin: str):
    """grader.check.cors.judge fed with what the grader's client sees, as the cors.* checks' fixture does."""
    client = Client(server.host, server.port)
    request = CorsRequest(origin=origin)
    preflight = None
    if needs_preflight(request):
        answer = client.options("/api/data", headers=preflight_headers(request))
        preflight = Answer(answer.status, answer.header_map())
    answer = client.get("/api/data", headers=request_headers(request))
    return judge(request, preflight, Answer(answer.status, answer.header_map()))


def test_there_are_enough_configurations():
    assert len(CONFIGS) >= 15
    assert {True, False} == {c.works for c in CONFIGS.values()}


@needs_chromium
@pytest.mark.parametrize("name", list(CONFIGS))
def test_header_verdict_agrees_with_the_browser(name, config_servers, browser, page_origin):
    server = config_servers[name]
    verdict = header_verdict(server, page_origin)
    try:
        records = Client(server.host, server.port).get("/api/data").json()
    except ValueError:  # a redirect: no JSON for the grader either
        records = None
    visit = load_lesson_page(browser, page_origin, server.base_url + "/api/data", records)
    problems = [p.message for p in verdict.problems]
    assert verdict.ok == visit.drew_table, f"cors.* says {problems or 'ok'}; the browser reported:\n{visit.report()}"
    assert visit.drew_table == CONFIGS[name].works, visit.report()
    if not visit.drew_table and records is not None:
        assert visit.cors_failure() is not None, visit.report()  # the browser said why, in its own terms
