"""The lesson's page in a real browser (Debian's Chromium, through Playwright): the browser.table check.

Real parts only: Flask servers as subprocesses on loopback, the page loaded
from its own loopback origin (answered by the browser itself: no port is
bound), headless Chromium.  One browser serves the whole module; every test
leaves no Chromium behind (checked with psutil), and the gradings run here
with a temporary directory of their own leave nothing in it (no profile).
"""

from __future__ import annotations

import json
import os
import re
import shutil
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
from conftest import ROOT, SERVERS, WEBGRADE, processes_of, run_webgrade, wait_gone

from grader.check.browser import Browser, BrowserUnavailable
from grader.check.chromium import (
    ENV_VAR,
    FLAGS,
    IDLE_WORK_FEATURES,
    LOCAL_NETWORK_ACCESS,
    PLAYWRIGHT_DISABLED_FEATURES,
    find_chromium,
    in_ci,
    install_command,
)
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


def wait_empty(folder: Path, within: float = 30.0) -> list[str]:
    """Poll until ``folder`` is empty (Playwright's driver removes Chromium's profile as it stops); what is left."""
    deadline = time.monotonic() + within
    while (left := sorted(p.name for p in folder.iterdir())) and time.monotonic() < deadline:
        if all(name.startswith("webgrade-") for name in left) and within > 5:  # Chromium's are gone: no need to wait
            within = 5
            deadline = min(deadline, time.monotonic() + within)
        time.sleep(0.05)
    return left


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
def own_tmp():
    """A temporary directory for one grader, removed after.  Short: Chromium puts a Unix socket in it,
    whose path may not exceed 107 bytes (under pytest's tmp_path, Chromium would not start)."""
    folder = Path(tempfile.mkdtemp(prefix="wgtmp-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def no_ci(monkeypatch):
    """A student's local run: not CI, whatever runs this suite."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def png_size(png: bytes) -> tuple[int, int]:
    """A PNG's width and height, from its header."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


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


def test_the_page_is_loaded_from_exactly_the_origin():
    assert lesson_page.page_url("http://127.0.0.1:4100") == "http://127.0.0.1:4100/"
    assert lesson_page.page_url("http://localhost:8080") == "http://localhost:8080/"
    assert lesson_page.page_url("http://[::1]:4100") == "http://[::1]:4100/"
    assert lesson_page.page_url("http://127.0.0.1") == "http://127.0.0.1/"  # port 80: nothing is bound, so any port


@pytest.mark.parametrize(
    ("origin", "said"),
    [
        ("https://me.github.io", "on this computer"),
        ("http://192.168.1.20:4100", "on this computer"),
        ("https://127.0.0.1:4100", "an http:// origin"),
    ],
)
def test_an_origin_the_browser_cannot_load_as_a_real_one_is_refused(origin, said):
    with pytest.raises(lesson_page.OriginUnavailable, match=said) as caught:
        lesson_page.page_url(origin)
    assert "--origin http://127.0.0.1:4100" in caught.value.hint


def test_no_port_and_no_lock_are_left_in_the_page_module():
    """The page is answered by the browser: the page module binds nothing and takes no turns."""
    source = Path(lesson_page.__file__).read_text()
    for gone in ("http.server", "socket", "fcntl", "flock", "LOCK_DIR", "_origin_lock", "bind("):
        assert gone not in source


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
            "because of cors.preflight",  # one cause, one explanation: the hint is cors.preflight's
        ),
        (
            "cors_no_credentials",
            ["the browser blocked the request because", "Access-Control-Allow-Credentials is missing"],
            "because of cors.preflight",
        ),
        (
            "preflight_rejected",
            ["the browser blocked the request because", "preflight", "answered 403"],
            "because of cors.preflight",
        ),
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
        ["saw the row of record 1 (Alan Turing) show 'undefined' for Residence: record 1 has no Residence"],
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
def test_a_program_holding_the_origins_port_changes_nothing(copy_server):
    """--origin a port another program listens on: the page is loaded from it all the same, and that
    program is asked nothing.  (Chromium may open a connection to the origin as the page's navigation
    starts, as it does for any navigation; the page itself is answered by the browser, so nothing is sent.)"""
    folder = copy_server("debug_true")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        run = run_webgrade(str(folder), "--format", "json", "--origin", f"http://127.0.0.1:{port}", watch=folder)
        squatter.setblocking(False)
        received = []
        while True:  # every connection made to it, by now closed: Chromium is gone (run_webgrade checked)
            try:
                connection, _ = squatter.accept()
            except BlockingIOError:
                break
            with connection:
                connection.settimeout(10)
                received.append(connection.recv(4096))
    assert received in ([], [b""]), received  # not one byte: no request reached it
    table = run.check("browser.table")
    assert table["status"] == "passed", table


def test_public_origin_warns_what_chrome_will_do(copy_server):
    folder = copy_server("debug_true")
    run = run_webgrade(str(folder), "--format", "json", "--origin", "https://student.github.io", watch=folder)
    table = run.check("browser.table")
    assert table["status"] == "skipped"
    assert any("Local Network Access" in w and "https://student.github.io" in w for w in table["warnings"])


@needs_chromium
def test_the_grader_killed_mid_page_leaves_no_chromium(tmp_path, own_tmp):
    """SIGKILL the grader while Chromium waits on the page's fetch: Chromium goes with it."""
    folder = write_server(
        tmp_path / "slow_for_browsers",
        f"""
        # Answers the grader at once, but keeps a browser (it sends Sec-Fetch-Mode) waiting, and says so.
        import time
        from flask import Flask, jsonify, request
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, supports_credentials=True, origins='*')

        @app.route('/api/data')
        def get_data():
            if 'Sec-Fetch-Mode' in request.headers:
                open({str(tmp_path / "mid-page")!r}, "w").close()
                time.sleep(60)
            return jsonify([{RECORD!r}])
    """,
    )
    port = free_port()
    command = [*WEBGRADE, "check", str(folder), "--origin", f"http://127.0.0.1:{port}", "--sandbox", "none"]
    grader = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(own_tmp)},
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "mid-page").exists():  # the page's fetch reached the server: Chromium waits on it
            assert time.monotonic() < deadline, "the page never fetched"
            assert grader.poll() is None
            time.sleep(0.05)
        driver = [p for p in psutil.Process(grader.pid).children() if Path(p.exe()).name == "node"]  # Playwright's
        assert driver
        grader.kill()
        grader.wait(timeout=30)
        assert not wait_gone_chromium(grader.pid, within=20), f"left behind: {chromium_of(grader.pid)}"
        _, alive = psutil.wait_procs(driver, timeout=20)
        assert not alive, f"Playwright's driver outlived the grader: {alive}"
        # Chromium's profile and files: the driver removes them as it stops (the server's run folder is
        # the supervisor's business, checked elsewhere).
        assert not [n for n in wait_empty(own_tmp) if not n.startswith("webgrade-")]
    finally:
        grader.kill()
        grader.wait()
        for proc in processes_of(grader.pid):  # the student's server, whatever stops it (not this test's subject)
            proc.kill()


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
    visit = load_lesson_page(browser, origin, reference.base_url + "/api/data", records)
    assert visit.drew_table, visit.report()
    assert visit.rows == [["Shaurya", "Singh", "San Diego"], ["John", "Doe", "Shanghai"]]
    assert visit.preflight is not None and visit.preflight.status == 200  # the JSON Content-Type forced one
    assert visit.response.headers["access-control-allow-origin"] == origin
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser_table.png"
    shot.write_bytes(visit.screenshot)  # every visit keeps one, unasked
    assert png_size(visit.screenshot) == (800, 600)  # the page's window, not the whole page
    assert 5_000 < len(visit.screenshot) < 100_000  # a few tens of KB


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


RECORD = {
    "FirstName": "Ada",
    "LastName": "Lovelace",
    "DOB": "December 10",
    "Residence": "London",
    "Email": "ada@example.com",
    "Owns_Cars": [],
}


def started(folder: Path) -> Server:
    """The server in ``folder``, ready, outside the sandbox (it shares files with the test)."""
    server = Server(find_submission(folder), sandbox="none")
    server.start()
    server.wait_ready(60)
    return server


# --- the page's origin is the browser's own: no port, no lock, the same requests ---


@needs_chromium
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_server_sees_the_page_origin_byte_for_byte_and_a_real_preflight(browser, tmp_path, host):
    """Every header the page's two requests carry, as the server received them: a page the browser
    answers itself sends exactly what a page served from a real port sends (compared once, by hand,
    with the port-bound page this replaced: identical, header for header)."""
    seen = tmp_path / "seen.jsonl"
    folder = write_server(
        tmp_path / "recorder",
        f"""
        import json
        from flask import Flask, jsonify, request
        from flask_cors import CORS

        app = Flask(__name__)

        @app.before_request
        def record():  # before flask-cors answers the preflight: every request the browser sends
            with open({str(seen)!r}, "a") as f:
                f.write(json.dumps([request.method, list(request.headers.items())]) + "\\n")

        CORS(app, supports_credentials=True, origins='*')

        @app.route('/api/data')
        def get_data():
            return jsonify([{RECORD!r}])
    """,
    )
    origin = f"http://{host}:{free_port()}"
    server = started(folder)
    try:
        visit = load_lesson_page(browser, origin, server.base_url + "/api/data", [RECORD])
    finally:
        server.stop()
    assert visit.drew_table, visit.report()
    everything = [(method, dict(headers)) for method, headers in map(json.loads, seen.read_text().splitlines())]
    requests = [(method, headers) for method, headers in everything if "Origin" in headers]  # not the readiness probe
    (preflight_method, preflight), (get_method, get) = requests  # the preflight really went to the server
    assert (preflight_method, get_method) == ("OPTIONS", "GET")
    for headers in (preflight, get):
        assert headers["Origin"] == origin  # byte for byte
        assert headers["Referer"] == origin + "/"
        assert headers["Sec-Fetch-Site"] == ("same-site" if host == "127.0.0.1" else "cross-site")  # :port is no matter
        assert headers["Sec-Fetch-Mode"] == "cors"
        assert not any("private-network" in name.lower() for name in headers)  # no PNA/LNA preflight header
    assert preflight["Access-Control-Request-Method"] == "GET"
    assert preflight["Access-Control-Request-Headers"] == "content-type"


@needs_chromium
@pytest.mark.parametrize("target", ["location.href", "'/other'"])
def test_only_the_page_itself_is_answered_by_the_browser(browser, origin, target):
    """The page's own URL is answered once; anything else it asks of its origin (even that URL again)
    goes to the network, where nothing listens: the browser answers nothing but the page."""
    html = f"<script>fetch({target})</script>"
    visit = browser.visit(origin + "/", html, "http://127.0.0.1:9/unused", None, lesson_page.TABLE, timeout=10)
    assert visit.page_error is None
    assert visit.fetch == "failed", visit.report()


@needs_chromium
def test_two_gradings_load_the_same_origin_at_once(browser, tmp_path, origin):
    """Two browsers load one origin's page together: each page's fetch reaches the server while the other
    is still waiting for its answer, so neither took turns; meanwhile the origin's port is free and no
    lock file exists."""
    gate = tmp_path / "gate"
    gate.mkdir()
    folder = write_server(
        tmp_path / "both",
        f"""
        import os, time, uuid
        from flask import Flask, jsonify, request
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, supports_credentials=True, origins='*')

        @app.route('/api/data')
        def get_data():
            if 'Sec-Fetch-Mode' in request.headers:  # a page's fetch: held until the test lets it through
                open(os.path.join({str(gate)!r}, 'arrived-' + uuid.uuid4().hex), 'w').close()
                deadline = time.time() + 120
                while not os.path.exists(os.path.join({str(gate)!r}, 'release')) and time.time() < deadline:
                    time.sleep(0.01)
            return jsonify([{RECORD!r}])
    """,
    )
    server = started(folder)
    second = Browser()
    visits: dict[str, object] = {}

    def grading(name: str, one: Browser) -> None:
        visits[name] = load_lesson_page(one, origin, server.base_url + "/api/data", [RECORD], timeout=120)

    threads = [threading.Thread(target=grading, args=pair) for pair in (("first", browser), ("second", second))]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while len(list(gate.glob("arrived-*"))) < 2:
            assert time.monotonic() < deadline, "one page never fetched while the other waited: they took turns"
            time.sleep(0.02)
        port = int(origin.rsplit(":", 1)[1])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # nobody holds the origin's port, even with two pages loaded from it
        for folder_ in {Path("/tmp"), Path(tempfile.gettempdir())}:
            assert not list(folder_.glob(f"webgrade-origin-*{port}*")), "a lock file"
    finally:
        (gate / "release").touch()
        for thread in threads:
            thread.join(120)
        second.close()
        server.stop()
    assert all(visit.drew_table for visit in visits.values()) and len(visits) == 2


@needs_chromium
def test_chromium_keeps_playwrights_features_off_and_local_network_access_checks_off(reference, origin):
    """Chromium reads only the last --disable-features: ours must repeat every feature Playwright turns off
    (a newer Playwright that turns off another one fails here, naming it), and turn off Local Network
    Access, without which a page the browser answers itself could not fetch 127.0.0.1."""
    records = Client(reference.host, reference.port).get("/api/data").json()
    before = {p.pid for p in chromium_of(os.getpid())}
    own = Browser()
    try:
        assert load_lesson_page(own, origin, reference.base_url + "/api/data", records).drew_table
        main = [  # Chromium's browser process: its children (renderers, crashpad) have a --type or no features
            p
            for p in chromium_of(os.getpid())
            if p.pid not in before
            and not any(a.startswith("--type=") for a in p.cmdline())
            and any(a.startswith("--disable-features=") for a in p.cmdline())
        ]
        assert len(main) == 1, main
        lists = [a.split("=", 1)[1].split(",") for a in main[0].cmdline() if a.startswith("--disable-features=")]
    finally:
        own.close()
    assert len(lists) >= 2  # Playwright's, then ours
    effective = set(lists[-1])
    assert lists[-1] == next(a for a in FLAGS if a.startswith("--disable-features=")).split("=", 1)[1].split(",")
    missing = set().union(*lists[:-1]) - effective
    assert not missing, f"add to PLAYWRIGHT_DISABLED_FEATURES in grader/check/chromium.py: {sorted(missing)}"
    assert LOCAL_NETWORK_ACCESS in effective and set(PLAYWRIGHT_DISABLED_FEATURES) <= effective
    assert set(IDLE_WORK_FEATURES) <= effective


@needs_chromium
def test_a_page_costs_one_renderer_and_no_browser_ui():
    """Each page is in a fresh context: with FLAGS, Chromium starts one renderer for it, and neither the
    address bar's WebUI popup (a renderer of about half a second of CPU per context) nor a spare renderer
    that the next page, in another context, could never use.  Asked of Chromium itself, through DevTools."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=list(FLAGS), chromium_sandbox=False)
        try:
            chromium.new_context().new_page()
            devtools = chromium.new_browser_cdp_session()
            processes = [p["type"] for p in devtools.send("SystemInfo.getProcessInfo")["processInfo"]]
            targets = devtools.send("Target.getTargets", {"filter": [{}]})["targetInfos"]
        finally:
            chromium.close()
    assert processes.count("renderer") == 1, processes
    assert not [t["url"] for t in targets if t["type"] == "browser_ui"]


@needs_chromium
def test_a_batch_browser_reports_its_memory(reference, origin):
    records = Client(reference.host, reference.port).get("/api/data").json()
    with Browser(track_memory=True) as own:
        assert own.memory is None
        assert load_lesson_page(own, origin, reference.base_url + "/api/data", records).drew_table
        own.close()  # the figure is taken once the visit is handed over: closing waits for it
        memory = own.memory
    assert memory is not None and memory.processes >= 3  # the browser, its renderer, and more
    assert memory.pss is not None and 10 * 2**20 < memory.pss <= memory.rss
    with Browser() as untracked:  # only a batch asks: a single check pays nothing for it
        assert load_lesson_page(untracked, origin, reference.base_url + "/api/data", records).drew_table
    assert untracked.memory is None


# --- the browser starts beside the server, and is not waited for when it is not needed ---


@needs_chromium
def test_the_browser_is_launched_while_the_server_is_still_starting(tmp_path):
    """`webgrade check` launches Chromium at its start: here the server waits until the test has seen Chromium."""
    gate = tmp_path / "gate"
    folder = write_server(
        tmp_path / "slow_start",
        f"""
        import os, time
        deadline = time.time() + 120
        while not os.path.exists({str(gate)!r}) and time.time() < deadline:  # opened once Chromium is seen
            time.sleep(0.01)
        from flask import Flask, jsonify
        from flask_cors import CORS

        app = Flask(__name__)
        CORS(app, supports_credentials=True, origins='*')

        @app.route('/api/data')
        def get_data():
            return jsonify([{RECORD!r}])

        if __name__ == '__main__':
            app.run(port=5001)
    """,
    )
    command = [*WEBGRADE, "check", str(folder), "--format", "json", "--sandbox", "none", "--timeout", "150"]
    grader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not chromium_of(grader.pid):
            assert time.monotonic() < deadline, "Chromium was not launched while the server started"
            assert grader.poll() is None, grader.communicate()
            time.sleep(0.02)
        gate.touch()
        stdout, _ = grader.communicate(timeout=150)
    finally:
        gate.touch()
        grader.kill()
        grader.wait()
    table = next(c for c in json.loads(stdout)["checks"] if c["id"] == "browser.table")
    assert table["status"] == "passed", table
    assert not wait_gone_chromium(grader.pid)


@needs_chromium
def test_grade_starts_its_browser_beside_the_server_and_does_not_wait_to_close_it(copy_server, monkeypatch):
    """In-process, with the browser's calls recorded: a server that crashes at import gets no visit,
    and its browser is closed without waiting."""
    import grader.check.browser
    from grader.grade import Options, grade
    from grader.rubric import Rubric

    calls = []

    class Recorded(Browser):
        def start(self) -> Browser:
            calls.append("start")
            return self

        def visit(self, *args, **kwargs):
            calls.append("visit")
            raise AssertionError("no page for a server that never started")

        def close(self, wait: bool = True) -> None:
            calls.append(f"close(wait={wait})")

    monkeypatch.setattr(grader.check.browser, "Browser", Recorded)
    crashes = find_submission(copy_server("crash_import"))
    report = grade(crashes, Rubric(), Options(sandbox="none"))
    assert report.status == "not_graded"
    assert calls == ["start", "close(wait=False)"]
    calls.clear()
    grade(crashes, Rubric(), Options(sandbox="none", browser_check=False))
    assert calls == []  # --no-browser: no browser at all


@needs_chromium
def test_a_launch_not_begun_is_never_begun_and_closing_does_not_wait(monkeypatch):
    """close(wait=False) while the browser's thread is still starting Playwright's driver returns at once,
    and no Chromium is launched after it."""
    import playwright.sync_api

    entered, go_on = threading.Event(), threading.Event()
    real = playwright.sync_api.sync_playwright

    def held():  # the browser's thread, about to start Playwright's driver, waits here for the test
        entered.set()
        go_on.wait(60)
        return real()

    monkeypatch.setattr(playwright.sync_api, "sync_playwright", held)
    before = {p.pid for p in chromium_of(os.getpid())}
    own = Browser().start()
    try:
        assert entered.wait(60)
        closing = threading.Thread(target=own.close, kwargs={"wait": False})
        closing.start()
        closing.join(30)
        assert not closing.is_alive(), "close(wait=False) waited although nothing was being launched"
    finally:
        go_on.set()
        own.close()  # waits for the thread: it stops the driver it started
    assert own.launches == 0
    assert not [p for p in chromium_of(os.getpid()) if p.pid not in before]


def test_a_browser_closed_before_its_thread_began_starts_no_driver(monkeypatch):
    """The common case of a server that crashes at once: closed before the browser's thread got going,
    it does not even start Playwright's driver."""
    import playwright.sync_api

    entered, go_on, drivers = threading.Event(), threading.Event(), []
    running = Browser._running

    def held(self, starting):  # the browser's thread, about to launch, waits here for the test
        entered.set()
        go_on.wait(60)
        return running(self, starting)

    monkeypatch.setattr(Browser, "_running", held)
    monkeypatch.setattr(playwright.sync_api, "sync_playwright", lambda: drivers.append(1))
    own = Browser(CHROMIUM or "/usr/bin/chromium").start()
    try:
        assert entered.wait(60)
        own.close(wait=False)  # nothing is being launched: returns at once
    finally:
        go_on.set()
        own.close()
    assert drivers == [] and own.launches == 0


def test_closing_waits_for_a_launch_under_way(tmp_path):
    """A launch cut short (the process exits mid-launch) can leave Chromium's files behind, so
    close(wait=False) waits for a launch under way, and only for that."""
    started_, gate = tmp_path / "started", tmp_path / "gate"
    fake = tmp_path / "fake-chromium"
    fake.write_text(f"#!/bin/sh\ntouch {started_}\nwhile [ ! -e {gate} ]; do sleep 0.01; done\nexit 1\n")
    fake.chmod(0o755)
    own = Browser(str(fake)).start()
    closing = threading.Thread(target=own.close, kwargs={"wait": False})
    try:
        deadline = time.monotonic() + 60
        while not started_.exists():
            assert time.monotonic() < deadline, "the launch never began"
            time.sleep(0.01)
        closing.start()
        closing.join(0.5)
        assert closing.is_alive(), "close(wait=False) returned during a launch"
    finally:
        gate.touch()
        if closing.ident is not None:
            closing.join(60)
        own.close()
    assert not closing.is_alive() and own.launches == 1


def test_a_failed_launch_that_start_began_is_reported_by_the_next_visit(tmp_path):
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 1\n")
    fake.chmod(0o755)
    with Browser(str(fake)).start() as own:
        with pytest.raises(BrowserUnavailable, match="expected the browser .* to start"):
            own.visit("http://127.0.0.1:4100/", "<p>x</p>", "http://127.0.0.1:1/api/data", [], lesson_page.TABLE)
    assert own.launches == 1  # reported, not launched a second time for it


def run_in_own_tmp(own_tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`webgrade check ARGS` with a temporary directory of its own; what is left in it once its processes are gone."""
    proc = subprocess.Popen(
        [*WEBGRADE, "check", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(own_tmp)},
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert not wait_gone(proc.pid, within=30), "processes left behind"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), wait_empty(own_tmp)


@needs_chromium
@pytest.mark.parametrize("server", ["reference_server", "crash_import"])
def test_a_check_leaves_no_chromium_and_no_profile(own_tmp, server):
    """Whether the page was loaded or the server crashed while Chromium was starting: nothing is left."""
    folder = ROOT / "reference_server" if server == "reference_server" else SERVERS / server
    run, left = run_in_own_tmp(own_tmp, str(folder), "--format", "json")
    table = next(c for c in json.loads(run.stdout)["checks"] if c["id"] == "browser.table")
    assert table["status"] == ("passed" if server == "reference_server" else "not_graded")
    assert not left, f"left in the temporary directory: {left}"


# --- the picture of the page: --screenshot, and a batch's feedback ---


HIDDEN_BROWSER = '[checks."browser.table"]\nhidden = true\n'


@needs_chromium
@pytest.mark.parametrize("case", ["drawn", "crashed", "hidden"])
def test_screenshot_writes_what_the_browser_drew_or_says_why_not(tmp_path, own_tmp, case):
    picture = tmp_path / "page.png"
    args = [str(ROOT / "reference_server" if case != "crashed" else SERVERS / "crash_import")]
    if case == "hidden":
        (tmp_path / "rubric.toml").write_text(HIDDEN_BROWSER)
        args += ["--rubric", str(tmp_path / "rubric.toml")]
    run, _ = run_in_own_tmp(own_tmp, *args, "--format", "json", "--screenshot", str(picture))
    assert json.loads(run.stdout)["checks"]  # stdout stays one JSON object
    if case == "drawn":
        assert run.returncode == 0 and png_size(picture.read_bytes()) == (800, 600)
        return
    assert not picture.exists()
    assert f"--screenshot: nothing written to {picture}" in run.stderr
    if case == "crashed":
        assert "the browser check (browser.table) did not load the page: not graded" in run.stderr
    else:  # a hidden check's picture is not the student's to see
        assert "there is no browser check in this grading" in run.stderr


def test_screenshot_with_no_browser_is_a_usage_error(tmp_path):
    run = subprocess.run(
        [*WEBGRADE, "check", str(ROOT / "reference_server"), "--no-browser", "--screenshot", str(tmp_path / "p.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 2 and "--no-browser turns it off" in run.stderr
    run = subprocess.run(
        [*WEBGRADE, "check", str(ROOT / "reference_server"), "--screenshot", str(tmp_path / "no" / "p.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 2 and "an existing folder" in run.stderr


def _graded(name: str, screenshot: bytes | None, hidden: bool = False):
    from grader.batch.gradebook import Graded
    from grader.results import CheckResult, Report

    table = CheckResult("browser.table", "the page", "passed", 2, 2, hidden=hidden, screenshot=screenshot)
    report = Report(f"/class/{name}", f"/class/{name}/main.py", [table])
    return Graded(name, report=report, feedback=f"feedback/{name}.md")


def test_feedback_gets_the_picture_beside_it_linked_unless_the_check_is_hidden(tmp_path):
    from grader.batch.gradebook import Gradebook, Graded

    png = b"\x89PNG\r\n\x1a\n" + b"picture"
    book = Gradebook(tmp_path, ["browser.table"])
    book.open(fresh=True)
    try:
        shown, hidden = _graded("ann", png), _graded("bo", png, hidden=True)
        book.append(shown)
        book.append(hidden)
        (tmp_path / "feedback" / "cy.png").write_bytes(png)  # an earlier grading's picture of a submission
        book.append(_graded("cy", None))  # ... regraded without one: the old picture goes
    finally:
        book.close()
    assert (tmp_path / "feedback" / "ann.png").read_bytes() == png
    assert "](ann.png)" in (tmp_path / "feedback" / "ann.md").read_text()
    assert (
        not (tmp_path / "feedback" / "bo.png").exists() and ".png" not in (tmp_path / "feedback" / "bo.md").read_text()
    )
    assert not (tmp_path / "feedback" / "cy.png").exists()
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [line.get("picture", "") for line in lines] == ["feedback/ann.png", "", ""]
    assert Graded.from_json(lines[0]).picture == "feedback/ann.png"  # kept by --resume


def test_report_html_shows_the_pictures_and_each_workers_browser_memory():
    from grader.batch import html_report
    from grader.check.browser import Memory

    ann, bo = _graded("ann", b"png"), _graded("bo <b>", None)
    ann.picture = "feedback/ann.png"
    page = html_report.render(
        [ann, bo],
        order=["browser.table"],
        source="/class",
        generated="now",
        browser_memory={"host pid 12": Memory(rss=900 * 2**20, pss=270 * 2**20, processes=9)},
    )
    assert page.count('src="feedback/ann.png"') == 1 and page.count('href="feedback/ann.png"') == 2
    assert 'id="pages"' in page and "bo &lt;b&gt;" in page
    assert "host pid 12" in page and "270 MB" in page and "900 MB" in page
    plain = html_report.render([bo], order=["browser.table"], source="/class", generated="now")
    assert 'id="pages"' not in plain and "browser-memory" not in plain


@needs_chromium
def test_a_batch_keeps_each_pages_picture_and_reports_the_browsers_memory(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    for name in ("reference_server", "no_cors"):
        source = ROOT / name if name == "reference_server" else SERVERS / name
        shutil.copytree(source, subs / name)
    run = subprocess.run(
        [*WEBGRADE, "batch", str(subs), "--out", str(out), "-j", "1", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    for name in ("reference_server", "no_cors"):  # a drawn table and an empty one: both are pictures
        assert png_size((out / "feedback" / f"{name}.png").read_bytes()) == (800, 600)
        assert f"]({name}.png)" in (out / "feedback" / f"{name}.md").read_text()
    report = (out / "report.html").read_text()
    assert 'src="feedback/no_cors.png"' in report and 'src="feedback/reference_server.png"' in report
    assert 'id="browser-memory"' in report and " MB</td>" in report


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
