"""``%load_ext grader`` and ``%webgrade``: grading from inside the notebook, in a real Jupyter kernel.

The kernels are real (ipykernel, driven by nbclient or jupyter_client) and so
are the student's servers: the lesson's server cell runs with ``%%python --bg``
as the lesson runs it (on a free port instead of 5001, where other people's
servers may be).  The HTML scorecard is also checked on hand-built reports:
the terminal's lines exactly, everything escaped.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import click
import nbformat
import psutil
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from grader.check.browser import Browser
from grader.reports import html_card
from grader.results import CheckResult, Report
from grader.run.server import free_port, port_is_free
from tests.conftest import ROOT, SERVERS, processes_of, wait_gone

LESSON = SERVERS / "notebook" / "lesson.ipynb"
HANGS = ROOT / "tests" / "hostile" / "handler_hangs"
#: Generous: a kernel's start, and gradings with the browser, on a shared machine.
KERNEL_TIMEOUT = 240


def lesson_cell(port: int) -> str:
    """The lesson's server cell (``%%python --bg`` ...), listening on ``port`` instead of 5001."""
    cells = json.loads(LESSON.read_text(encoding="utf-8"))["cells"]
    source = next("".join(c["source"]) for c in cells if "".join(c["source"]).startswith("%%python --bg"))
    assert "app.run(port=5001)" in source
    return source.replace("port=5001", f"port={port}")


def renamed_route_cell(port: int) -> str:
    """tests/servers/route_renamed (the API at /api/shaurya) as a ``%%python --bg`` cell on ``port``."""
    source = (SERVERS / "route_renamed" / "main.py").read_text(encoding="utf-8")
    assert "app.run(port=5001)" in source
    return "%%python --bg\n" + source.replace("port=5001", f"port={port}")


#: A cell that is expected to end in an error (nbclient's own tag for it).
RAISES = "raises-exception"


def run_notebook(cells: list[str], folder: Path) -> list[list[dict]]:
    """Run ``cells`` in a fresh kernel whose working directory is ``folder``; each cell's outputs.

    A cell whose source ends with ``# raises`` may end in an error.
    """
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(source, metadata={"tags": [RAISES] if source.endswith("# raises") else []})
            for source in cells
        ]
    )
    NotebookClient(
        notebook,
        timeout=KERNEL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    return [cell["outputs"] for cell in notebook.cells]


def scorecards(outputs: list[dict]) -> list[dict]:
    """The display bundles a cell showed."""
    return [output["data"] for output in outputs if output["output_type"] == "display_data"]


def stream(outputs: list[dict], name: str = "stdout") -> str:
    return "".join(output["text"] for output in outputs if output["output_type"] == "stream" and output["name"] == name)


@pytest.fixture(autouse=True)
def own_ipython_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels keep their history and profile in the test's folder, not in the user's home."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))


class Markup(HTMLParser):
    """The tags, attributes and text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


def parse(fragment: str) -> Markup:
    markup = Markup()
    markup.feed(fragment)
    markup.close()
    return markup


def page_pictures(fragment: str) -> list[bytes]:
    """The pictures an HTML card shows, decoded from their ``data:image/png;base64,`` addresses."""
    prefix = "data:image/png;base64,"
    sources = [attrs.get("src") or "" for tag, attrs in parse(fragment).tags if tag == "img"]
    assert all(src.startswith(prefix) for src in sources), sources
    return [base64.b64decode(src.removeprefix(prefix), validate=True) for src in sources]


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height, read from its header (the signature, then the IHDR chunk)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    assert data[12:16] == b"IHDR", data[12:16]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# --- in a real kernel ---


def test_webgrade_grades_the_last_server_cell_run_in_the_kernel(tmp_path: Path) -> None:
    """The renamed route's hint, then full marks for the lesson's cell run after it, then a saved notebook."""
    renamed_port, lesson_port = free_port(), free_port()
    saved = tmp_path / "lesson.ipynb"
    shutil.copyfile(LESSON, saved)
    outputs = run_notebook(
        [
            "import os; print(os.getpid())",
            "%load_ext grader",
            renamed_route_cell(renamed_port),
            "%webgrade --no-browser",
            lesson_cell(lesson_port),
            "%webgrade",  # with the browser check, when Chromium is installed
            "%webgrade lesson.ipynb --no-browser",
            f"%webgrade --stop {renamed_port}",
            f"%webgrade --stop {lesson_port}",
            "%webgrade nowhere  # raises",
        ],
        tmp_path,
    )
    kernel = int(stream(outputs[0]))
    # IPython shows a magic's usage error as one message, without a traceback.
    assert stream(outputs[9], "stderr") == (
        "UsageError: no such file or folder: nowhere\n  try: check the path; run webgrade from your project folder\n"
    )

    [renamed] = scorecards(outputs[3])
    assert set(renamed) == {"text/plain", "text/html"}
    text = renamed["text/plain"]
    assert text.startswith("webgrade: In[3] (this kernel)\n  graded In[3]: the last cell run in this kernel")
    assert "✗   0/2  GET /api/data answers 200  api.status" in text
    hint = (
        "try: your server answers /api/shaurya, but the page fetches /api/data: "
        "change the route to @app.route('/api/data')"
    )
    assert hint in text
    assert f"your own server on port {renamed_port} was left running and was not graded" in text
    assert "\x1b" not in text  # no colour codes outside a terminal
    html = renamed["text/html"]
    assert parse(html).text == text  # the same lines as the terminal
    assert html_escape_of(hint) in html
    assert "color: #d1242f; font-weight: bold" in html  # the red, bold cross
    assert page_pictures(html) == []  # --no-browser: no page was drawn

    [lesson] = scorecards(outputs[5])
    plain = lesson["text/plain"]
    assert plain.startswith("webgrade: In[5] (this kernel)")
    if Browser().executable is not None:  # the browser check ran, in the kernel, for every point
        assert "✓   2/2  the lesson's page, in a real browser, draws one row per record  browser.table" in plain
        assert "score 15/15 — all checks passed" in plain
        # ... and the card shows the page as Chromium drew it: one PNG of the browser's 800x600 window.
        [picture] = page_pictures(lesson["text/html"])
        assert png_size(picture) == (800, 600)
    else:
        assert "score 13/13 — all checks passed" in plain
        assert page_pictures(lesson["text/html"]) == []
    assert parse(lesson["text/html"]).text == plain

    [notebook] = scorecards(outputs[6])
    assert page_pictures(notebook["text/html"]) == []
    assert "graded cell 3 of lesson.ipynb, the last one that creates a Flask app" in notebook["text/plain"]
    assert "all checks passed" in notebook["text/plain"]

    for cell, port in ((7, renamed_port), (8, lesson_port)):
        said = stream(outputs[cell])
        assert said.startswith("webgrade: stopped python") and f"listening on port {port}" in said, outputs[cell]
        assert port_is_free(port)
    assert not wait_gone(kernel), f"processes left behind: {processes_of(kernel)}"


EVIL_CELL = r"""%%python --bg
from flask import Flask

app = Flask(__name__)
print("<script>alert('owned')</script> & \x1b[2J\x1b]0;pwned\x07 done", flush=True)
raise RuntimeError("<img src=x onerror=alert(1)> \x1b[31mred")
"""


def test_the_scorecard_escapes_everything_the_students_server_said(tmp_path: Path) -> None:
    outputs = run_notebook(["%load_ext grader", "%webgrade  # raises", EVIL_CELL, "%webgrade --no-browser"], tmp_path)

    said = stream(outputs[1], "stderr")  # nothing to grade yet
    assert said.startswith("UsageError: no cell run in this kernel creates a Flask app\n  try: run your server cell")
    [card] = scorecards(outputs[3])
    html, text = card["text/html"], card["text/plain"]
    assert "the server did not start" in text
    for raw in ("\x1b", "\x07"):
        assert raw not in html and raw not in text
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt; &amp; \\x1b[2J\\x1b]0;pwned\\x07 done" in html
    assert "&lt;img src=x onerror=alert(1)&gt; \\x1b[31mred" in html
    assert {tag for tag, _ in parse(html).tags} <= {"div", "span"}
    assert parse(html).text == text


#: tests/hostile/handler_hangs, and also deaf to SIGTERM: stopping its server takes the launcher's grace (1 s).
DEAF_TO_TERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"


@pytest.mark.parametrize("interrupts", [1, 2])
def test_interrupting_the_kernel_stops_the_grading_and_its_server(tmp_path: Path, interrupts: int) -> None:
    """A handler that hangs (60 s per request here), interrupted while the grader waits on it.

    Twice: the second interrupt comes while the server is being stopped (it takes a second: the server
    ignores SIGTERM), and must not cut that short.  Whatever the timing, nothing may be left: no
    process under the kernel (the sandbox's janitor included) and no temporary file.
    """
    shutil.copytree(HANGS, tmp_path / "hangs")
    (tmp_path / "hangs" / "webgrade.toml").write_text("[assignment]\nrequest_timeout = 60\n", encoding="utf-8")
    if interrupts == 2:
        main = tmp_path / "hangs" / "main.py"
        main.write_text(DEAF_TO_TERM + main.read_text(encoding="utf-8"), encoding="utf-8")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    manager, client = start_new_kernel(
        kernel_name="python3",
        startup_timeout=KERNEL_TIMEOUT,
        cwd=str(tmp_path),
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    try:
        kernel = int(run(client, "import os; print(os.getpid(), end='')")["stdout"])
        run(client, "%load_ext grader")
        helped = run(client, "%webgrade?")
        assert "--no-browser" in helped["page"] and "--stop [PORT]" in helped["page"]

        grading = client.execute("%webgrade hangs --no-browser")
        port = hanging_request(kernel)
        interrupted = time.monotonic()
        manager.interrupt_kernel()
        if interrupts == 2:
            time.sleep(0.3)  # within the second the server takes to stop
            manager.interrupt_kernel()
        reply = reply_to(client, grading)

        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - interrupted < 30  # not the 60 s the request would have waited
        assert not wait_gone(kernel), f"processes left behind: {processes_of(kernel)}"
        assert not [p for p in psutil.Process(kernel).children(recursive=True) if p.status() != "zombie"]
        assert not list(temporary.iterdir())
        assert port_is_free(port)
        assert run(client, "print(40 + 2)")["stdout"] == "42\n"  # the kernel still answers
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run(client, code: str) -> dict[str, str]:
    """Execute ``code``; its stdout, stderr and pager text (``?``)."""
    said = {"stdout": "", "stderr": ""}

    def output(message: dict) -> None:
        if message["msg_type"] == "stream":
            said[message["content"]["name"]] += message["content"]["text"]

    reply = client.execute_interactive(code, timeout=KERNEL_TIMEOUT, output_hook=output)
    assert reply["content"]["status"] == "ok", reply["content"]
    pages = [p["data"]["text/plain"] for p in reply["content"].get("payload", []) if p.get("source") == "page"]
    return {**said, "page": "".join(pages)}


def reply_to(client, msg_id: str) -> dict:
    deadline = time.monotonic() + KERNEL_TIMEOUT
    while time.monotonic() < deadline:
        reply = client.get_shell_msg(timeout=KERNEL_TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply
    raise AssertionError("no reply from the kernel")


def hanging_request(kernel: int) -> int:
    """Wait until the kernel's grading has a request open to its server for over a second; the server's port."""
    deadline = time.monotonic() + KERNEL_TIMEOUT
    port, seen = None, None
    while time.monotonic() < deadline:
        if port is None:
            for proc in processes_of(kernel):
                try:
                    port = int(proc.environ()["WEBGRADE_PORT"])
                    break
                except (psutil.Error, KeyError):
                    continue
        else:
            open_now = {
                c.laddr
                for c in psutil.Process(kernel).net_connections(kind="tcp")
                if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
            }
            if seen is not None and open_now & seen:
                return port  # the same request open a second later: the handler hangs
            seen = open_now or None
            time.sleep(1.0 if seen else 0.05)
            continue
        time.sleep(0.05)
    raise AssertionError("the grading never waited on the hanging handler")


def test_a_terminal_ipython_shows_the_scorecard_as_text(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "reference_server", tmp_path / "server")
    script = tmp_path / "grade.ipy"
    script.write_text("%load_ext grader\n%webgrade server --no-browser\n", encoding="utf-8")
    shown = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--HistoryManager.hist_file=:memory:", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=KERNEL_TIMEOUT,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"webgrade: {tmp_path / 'server' / 'main.py'}")
    assert "score 13/13 — all checks passed" in shown.stdout
    assert "<div" not in shown.stdout and "\x1b" not in shown.stdout


# --- the HTML card, on hand-built reports ---


def html_escape_of(text: str) -> str:
    import html

    return html.escape(text)


def sample_report(text: str = "") -> Report:
    """Every kind of line the scorecard has, each holding ``text``."""
    return Report(
        submission="/work/s",
        entry=f"/work/s/main.py{text}",
        notes=[f"a note{text}"],
        server_log=f"the server's log{text}\nsecond line",
        duration_s=0.25,
        checks=[
            CheckResult("server.start", f"starts{text}", "passed", 1, 1),
            CheckResult(
                "api.status",
                f"answers{text}",
                "failed",
                0,
                2,
                message=f"expected 200, saw 404{text}",
                hint=f"change the route{text}",
                warnings=[f"a warning{text}"],
                log=f"Traceback{text}\nError: boom",
                detail=f"the body{text}",
            ),
            CheckResult("api.json", "json", "not_graded", 0, 1, message="not graded: it needs api.status"),
            CheckResult("api.schema", "schema", "not_graded", 0, 2, message="not graded: it needs api.status"),
            CheckResult("browser.table", "table", "skipped", 0, 0, message=f"not run{text}"),
            CheckResult("names.secret", f"secret name{text}", "failed", 0, 3, message="secret message", hidden=True),
        ],
    )


@pytest.mark.parametrize("verbose", [False, True])
def test_the_card_has_the_terminals_lines(verbose: bool) -> None:
    from grader.reports import terminal

    report = sample_report()
    card = html_card.render(report, verbose)
    expected = click.unstyle(terminal.render(report.for_student(), verbose))
    assert parse(card).text == expected
    text = parse(card).text
    assert ("the body" in text) is verbose and ("the server's output:" in text) is verbose
    # Hidden checks are counted, never named.
    assert "1 hidden check worth 3 points will also be graded" in card
    assert "names.secret" not in text and "secret" not in text


def test_the_card_colours_as_the_terminal_does() -> None:
    card = html_card.render(sample_report())
    marks = {
        mark: re.search(rf'<span style="([^"]*)">{mark}</span>', card)
        for mark in ("✓", "✗", "–", "○")  # passed, failed, not graded, skipped
    }
    assert marks["✓"] and "#1f883d" in marks["✓"][1]
    assert marks["✗"] and "#d1242f" in marks["✗"][1]
    assert marks["–"] and "#b7791f" in marks["–"][1]
    assert marks["○"] and "#3b82f6" in marks["○"][1]
    assert re.search(r'<span style="color: #0e8a9c">\s*try: change the route</span>', card)


def test_the_card_escapes_markup_and_shows_control_characters() -> None:
    evil = '<script>alert("x")</script>&<img src=x onerror=alert(1)>\x1b[31m\x1b]52;c;b3duZWQ=\x07\r\x9b\x00'
    card = html_card.render(sample_report(evil), verbose=True)
    markup = parse(card)
    assert {tag for tag, _ in markup.tags} <= {"div", "span"}
    assert all(set(attrs) <= {"style", "class"} for _, attrs in markup.tags)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", card)  # nothing a terminal or browser would obey
    shown = '<script>alert("x")</script>&<img src=x onerror=alert(1)>\\x1b[31m\\x1b]52;c;b3duZWQ=\\x07\\r\\x9b\\x00'
    # Whole in the entry, the note, the names, message, hint, warning and detail; the logs are split into
    # lines at its \r (str.splitlines), as the terminal splits them.
    assert markup.text.count(shown) >= 7


def test_the_card_shows_the_page_picture_it_is_given() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    card = html_card.render(sample_report(), page_png=png)
    [img] = [attrs for tag, attrs in parse(card).tags if tag == "img"]
    assert img["src"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert "browser drew" in (img["alt"] or "")
    assert "<img" not in html_card.render(sample_report())


@pytest.mark.parametrize("hidden", [False, True])
def test_the_notebook_shows_the_browser_checks_picture_unless_hidden(
    hidden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``show`` gives the card the student's view's picture: none in the text, and a hidden check's stays hidden."""
    import IPython.display

    from grader.jupyter import show

    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x03\x20\x00\x00\x02\x58"
    report = sample_report()
    report.checks[4] = CheckResult("browser.table", "table", "passed", 2, 2, hidden=hidden, screenshot=png)
    shown: list[dict[str, str]] = []
    monkeypatch.setattr(IPython.display, "display", lambda bundle, raw: shown.append(bundle))
    show(report)
    [bundle] = shown
    assert page_pictures(bundle["text/html"]) == ([] if hidden else [png])
    assert "PNG" not in bundle["text/plain"]


def test_the_students_own_port_is_read_from_their_code() -> None:
    from grader.jupyter import own_port

    assert own_port("app.run(port=5077)") == 5077
    assert own_port("if __name__ == '__main__':\n    app.run(debug=True, port=8080)") == 8080
    assert own_port("app.run()") == 5001  # the lesson's
    assert own_port("def broken(:") == 5001


def test_magic_options_are_the_check_commands(tmp_path: Path) -> None:
    """``%webgrade`` parses with ``webgrade check``'s own parameters, plus --stop."""
    from grader.cli import cli
    from grader.jupyter import command

    check = cli.get_command(click.Context(cli), "check")
    assert check is not None
    names = {param.name for param in command().params}
    assert names == ({param.name for param in check.params} - {"fmt", "junit", "gradescope_dir", "classroom"}) | {
        "stop"
    }
    ctx = command().make_context("%webgrade", ["--stop"])
    assert ctx.params["stop"] == 5001
    ctx = command().make_context("%webgrade", ["--stop", "8123", "--no-browser"])
    assert ctx.params["stop"] == 8123 and ctx.params["browser_check"] is False
    with pytest.raises(click.BadParameter):
        command().make_context("%webgrade", ["--origin", "http://127.0.0.1:4100/"])
    assert os.fspath(command().make_context("%webgrade", []).params["path"]) == "."
