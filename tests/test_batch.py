"""`webgrade batch` end to end: a class of real submissions, graded by the real CLI in warm workers.

Every batch here runs through :func:`run_batch`, which watches the batch's
process tree while it runs and asserts afterwards that every process it saw
(workers, servers and their children) is gone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, SERVERS, WEBGRADE, pool_task, run_webgrade, wait_for_no_webgrade_files

from grader.batch import entries as batch_entries
from grader.batch import gradebook, html_report, roster
from grader.batch.gradebook import Graded
from grader.find import archive
from grader.results import CheckResult, Report

SLOW = ROOT / "tests" / "batch" / "slow_api"
ARTIFACTS = ROOT / "tests" / "artifacts"
RUBRIC = """\
[checks."api.schema"]
points = 3
hidden = true
"""


# --- running a batch and proving it left nothing behind ---


@dataclass
class BatchRun:
    code: int
    stdout: str
    stderr: str
    out: Path
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    #: The command line of each process seen, as last read while it ran.
    cmdlines: dict[int, list[str]] = field(default_factory=dict)

    def chromium_launches(self) -> set[str]:
        """The profiles of the Chromiums the batch launched, one per launch.

        Playwright gives each launch a fresh profile (``--user-data-dir``), and
        every process of that Chromium carries it on its command line: its
        helpers (whether caught before or after their exec), and its renderers
        (whatever their parent by then).  Counting processes by name or parent
        counted those too, on a loaded machine.
        """
        return {
            arg.split("=", 1)[1]
            for cmdline in self.cmdlines.values()
            for arg in cmdline
            if arg.startswith("--user-data-dir=")
        }

    def rows(self) -> dict[str, dict[str, str]]:
        text = (self.out / "grades.csv").read_text(encoding="utf-8")
        return {row["entry"]: row for row in csv.DictReader(io.StringIO(text))}

    def results(self) -> dict[str, dict]:
        lines = (self.out / "results.jsonl").read_text(encoding="utf-8").splitlines()
        return {r["entry"]: r for r in map(json.loads, lines)}


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def _started_by(pids: set[int]) -> list[psutil.Process]:
    """Live processes whose grader (WEBGRADE_PARENT: the worker, not the batch) is one of ``pids``."""
    found = []
    for proc in psutil.process_iter():
        try:
            if int(proc.environ().get("WEBGRADE_PARENT", 0)) in pids and _alive(proc):
                found.append(proc)
        except (psutil.Error, ValueError):
            continue
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def run_batch(
    subs: Path,
    out: Path,
    *args: str,
    stop_when=None,
    stop_signal: int = signal.SIGINT,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> BatchRun:
    """Run ``webgrade batch``; with ``stop_when(out, seen)``, send ``stop_signal`` once it returns True."""
    logs = out.parent / f"{out.name}-{uuid.uuid4().hex[:6]}"
    logs.mkdir(parents=True)
    with open(logs / "stdout", "w") as stdout, open(logs / "stderr", "w") as stderr:
        proc = subprocess.Popen(
            [*WEBGRADE, "batch", str(subs), "--out", str(out), *args],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
        )
        root = psutil.Process(proc.pid)
        seen: dict[int, psutil.Process] = {}
        cmdlines: dict[int, list[str]] = {}
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None:
                for child in _descendants(root):
                    seen.setdefault(child.pid, child)
                    try:
                        cmdlines[child.pid] = child.cmdline()  # again: a process may exec after it is first seen
                    except psutil.Error:
                        pass
                if stop_when is not None and stop_when(out, seen):
                    proc.send_signal(stop_signal)
                    stop_when = None
                assert time.monotonic() < deadline, "the batch did not finish"
                time.sleep(0.02)
        finally:
            proc.kill()
            proc.wait()
    end = time.monotonic() + 15
    while (left := [p for p in seen.values() if _alive(p)]) and time.monotonic() < end:
        time.sleep(0.05)
    assert not left, f"processes left behind: {left}"
    assert not _started_by(set(seen)), "a server of a worker is still running"
    return BatchRun(proc.returncode, (logs / "stdout").read_text(), (logs / "stderr").read_text(), out, seen, cmdlines)


def git_repo(folder: Path, source: Path) -> str:
    """``source`` copied into ``folder`` as a git repository with one commit; returns the commit."""
    shutil.copytree(source, folder)
    git = ["git", "-C", str(folder), "-c", "user.name=Student", "-c", "user.email=student@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "lesson"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def zip_folder(archive_path: Path, source: Path, inside: str) -> None:
    with zipfile.ZipFile(archive_path, "w") as zf:
        for file in sorted(source.rglob("*")):
            zf.write(file, f"{inside}/{file.relative_to(source).as_posix()}")


# --- one mixed class, graded once for the tests that read its outputs ---


@dataclass
class Class:
    subs: Path
    run: BatchRun
    commit: str
    rubric: Path
    escape: Path


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Class:
    tmp = tmp_path_factory.mktemp("class")
    subs = tmp / "subs"
    subs.mkdir()
    commit = git_repo(subs / "lesson-alice", ROOT / "reference_server")  # as `gh classroom clone` names it
    zip_folder(subs / "bob.zip", SERVERS / "missing_key", "bob")
    shutil.copyfile(SERVERS / "notebook" / "lesson.ipynb", subs / "carol.ipynb")
    shutil.copyfile(SERVERS / "crash_import" / "main.py", subs / "dave.py")  # broken
    shutil.copytree(SERVERS / "never_binds", subs / "erin")  # hangs: never listens
    escape = tmp.parent / f"webgrade-zipslip-{uuid.uuid4().hex}.txt"
    with zipfile.ZipFile(subs / "frank.zip", "w") as zf:  # hostile
        zf.write(ROOT / "reference_server" / "main.py", "main.py")
        zf.writestr(f"../../../../../../../../{escape.relative_to('/')}", "escaped")
    (subs / "README.md").write_text("# Lesson submissions\n")
    (subs / ".DS_Store").write_bytes(b"\0")
    (tmp / "roster.csv").write_text(
        "identifier,github_username,github_id,name,section\n"
        "s-001,alice,11,Alice Martin,A\n"
        "s-002,bob,12,Bob <b>Stone</b>,A\n"
        "s-003,carol,13,Carol Diaz,B\n"
        's-004,dave,14,=HYPERLINK("http://x"),B\n'
        "s-009,zoe,19,Zoe Absent,B\n"
    )
    rubric = tmp / "rubric.toml"
    rubric.write_text(RUBRIC)
    run = run_batch(
        subs,
        tmp / "out",
        "--roster",
        str(tmp / "roster.csv"),
        "--rubric",
        str(rubric),
        "--timeout",
        "3",
        "--no-browser",
        "-j",
        "2",
    )
    assert run.code == 0, run.stderr
    return Class(subs, run, commit, rubric, escape)


ENTRIES = ["bob.zip", "carol.ipynb", "dave.py", "erin", "frank.zip", "lesson-alice"]


def test_every_submission_gets_a_row_and_others_are_skipped_with_a_note(klass):
    rows = klass.run.rows()
    assert sorted(rows) == ENTRIES
    header = (klass.run.out / "grades.csv").read_text().splitlines()[0].split(",")
    assert header[:8] == list(gradebook.COLUMNS)
    assert header[8:11] == ["server.start", "home.status", "home.html"]  # the rubric's order
    assert "skipped README.md: not a submission" in klass.run.stderr
    assert "skipped .DS_Store: hidden" in klass.run.stderr
    assert "graded 6 submissions" in klass.run.stdout


@pytest.mark.parametrize("entry", ["lesson-alice", "bob.zip", "carol.ipynb", "dave.py", "erin"])
def test_rows_match_a_single_webgrade_check(klass, entry, tmp_path):
    path = klass.subs / entry
    if entry.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            zf.extractall(tmp_path / "unzipped")
        path = tmp_path / "unzipped"
    single = run_webgrade(
        str(path),
        "--format",
        "json",
        "--timeout",
        "3",
        "--no-browser",
        "--rubric",
        str(klass.rubric),
        watch=path if path.is_dir() else None,
    ).report
    row = klass.run.rows()[entry]
    assert (row["status"], float(row["score"]), float(row["max"])) == (
        single["status"],
        single["score"],
        single["max_score"],
    )
    for check in single["checks"]:
        assert float(row[check["id"]]) == check["score"], check["id"]
    recorded = klass.run.results()[entry]["report"]
    assert [(c["id"], c["status"], c["score"], c["message"]) for c in recorded["checks"]] == [
        (c["id"], c["status"], c["score"], c["message"]) for c in single["checks"]
    ]


def test_broken_hanging_and_hostile_submissions_are_not_graded_with_the_reason(klass):
    rows = klass.run.rows()
    assert rows["dave.py"]["status"] == "not_graded" and "flask_corss" in rows["dave.py"]["error"]
    assert rows["erin"]["status"] == "not_graded" and "without listening" in rows["erin"]["error"]
    assert rows["frank.zip"]["status"] == "not_graded" and "points outside" in rows["frank.zip"]["error"]
    assert not klass.escape.exists(), "the zip wrote outside its folder"
    assert rows["lesson-alice"]["status"] == "passed"
    assert rows["bob.zip"]["status"] == "failed" and rows["bob.zip"]["api.schema"] == "0"


def test_roster_names_students_and_unknown_entries_keep_a_blank_name(klass):
    rows = klass.run.rows()
    assert (rows["lesson-alice"]["student"], rows["lesson-alice"]["id"]) == ("Alice Martin", "s-001")
    assert rows["bob.zip"]["student"] == "Bob <b>Stone</b>"
    assert rows["dave.py"]["student"] == '\'=HYPERLINK("http://x")'  # a spreadsheet shows it, never runs it
    assert (rows["erin"]["student"], rows["erin"]["id"]) == ("", "")


def test_results_jsonl_holds_each_full_report_with_student_entry_and_hash(klass):
    results = klass.run.results()
    assert sorted(results) == ENTRIES
    alice = results["lesson-alice"]
    assert alice["commit"] == klass.commit
    assert alice["hash"] == batch_entries.content_hash(klass.subs / "lesson-alice")
    assert alice["student"] == "Alice Martin" and alice["report"]["status"] == "passed"
    assert results["bob.zip"]["report"]["submission"] == str(klass.subs / "bob.zip")
    assert results["bob.zip"]["report"]["entry"] == str(klass.subs / "bob.zip" / "bob" / "main.py")
    assert results["frank.zip"]["report"] is None


def test_feedback_is_the_students_scorecard_without_hidden_checks(klass):
    out = klass.run.out
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        "bob.zip.md",
        "carol.ipynb.md",
        "dave.py.md",
        "erin.md",
        "frank.zip.md",
        "lesson-alice.md",
    ]
    bob = (out / "feedback" / "bob.zip.md").read_text()
    assert "api.schema" not in bob and "Email" not in bob  # the hidden check's name and message
    assert "1 hidden check worth 3 points" in bob
    assert "Bob &lt;b&gt;Stone&lt;/b&gt;" in bob
    dave = (out / "feedback" / "dave.py.md").read_text()
    assert "flask\\_corss" in dave and "server.start" in dave
    frank = (out / "feedback" / "frank.zip.md").read_text()
    assert "could not be graded" in frank and "**Try:**" in frank


def test_report_html_opens_in_chromium_with_histogram_and_check_table(klass):
    from playwright.sync_api import sync_playwright

    from grader.check.chromium import FLAGS, find_chromium

    report = klass.run.out / "report.html"
    html = report.read_text()
    assert "<b>Stone</b>" not in html and "Bob &lt;b&gt;Stone&lt;/b&gt;" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "").split("<main>")[0]  # no external assets
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=list(FLAGS))
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.route(
                "**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_()
            )
            page.goto(report.as_uri())
            bars = page.locator("svg#histogram rect.bar")
            counts = [int(bars.nth(i).get_attribute("data-count")) for i in range(bars.count())]
            # A bar per point, or per tenth of full marks when the maxima differ (a skipped check is out of 0).
            assert bars.count() >= 10
            assert sum(counts) == 6 and counts[0] == 3 and counts[-1] == 2  # 0: dave, erin, frank; full: alice, carol
            assert bars.first.bounding_box()["height"] > 0
            rows = page.locator("table#checks tbody tr")
            columns = (klass.run.out / "grades.csv").read_text().splitlines()[0].split(",")[len(gradebook.COLUMNS) :]
            assert [rows.nth(i).get_attribute("data-check") for i in range(rows.count())] == columns
            schema = page.locator('table#checks tr[data-check="api.schema"]')
            assert schema.locator(".pass-rate").inner_text() == "40%"  # of 5 graded: alice and carol
            assert "(hidden)" in schema.inner_text()
            start = page.locator('table#checks tr[data-check="server.start"] .pass-rate').inner_text()
            assert start == "60%"
            browser_check = page.locator('table#checks tr[data-check="browser.table"] .pass-rate')
            assert browser_check.inner_text() == "skipped"  # --no-browser: it says nothing of the class
            assert page.locator("table#ungraded tbody tr").count() == 3
            assert page.locator("table#slowest tbody tr").count() == 6
            assert page.locator("#missing").inner_text() == "Zoe Absent"
            assert "README.md" in page.locator("#skipped").inner_text()
            link = page.locator("table#students a", has_text="Alice Martin")
            assert link.get_attribute("href") == "feedback/lesson-alice.md"
            page.screenshot(path=str(ARTIFACTS / "batch-report.png"), full_page=True)
            link.click()
            page.wait_for_load_state()
            assert page.url.endswith("/feedback/lesson-alice.md")
            assert "webgrade: Alice Martin" in page.content()
        finally:
            browser.close()


# --- interruption, resume and time limits ---


def _lines(out: Path) -> list[str]:
    try:
        return (out / "results.jsonl").read_text().splitlines()
    except OSError:
        return []


def _grading_server(seen: dict[int, psutil.Process]) -> bool:
    """A student's server of the batch is running: its launcher, forked into supervisor and server."""
    launchers = []
    for proc in seen.values():
        try:
            if _alive(proc) and any(arg.endswith("launcher.py") for arg in proc.cmdline()):
                launchers.append(proc)
        except psutil.Error:
            continue
    return len(launchers) >= 2


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"])
def test_interrupted_batch_keeps_its_work_and_resume_grades_only_the_rest(tmp_path, stop):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "a")
    shutil.copytree(SERVERS / "route_renamed", subs / "b")
    shutil.copytree(SERVERS / "never_binds", subs / "c")  # still starting when the batch is stopped
    shutil.copytree(ROOT / "reference_server", subs / "d")
    out = tmp_path / "out"

    def two_done_and_c_running(out: Path, seen) -> bool:
        return len(_lines(out)) == 2 and _grading_server(seen)

    # c would wait a minute for its server: longer than run_batch waits for the processes to go.
    args = ["-j", "1", "--no-browser", "--timeout", "60"]  # the same settings each time: they are in the hash
    first = run_batch(subs, out, *args, stop_when=two_done_and_c_running, stop_signal=stop)
    assert first.code == (-signal.SIGKILL if stop == signal.SIGKILL else 130), first.stderr
    if stop != signal.SIGKILL:
        assert "--resume" in first.stderr and "Traceback" not in first.stderr
    kept = _lines(out)
    assert [json.loads(line)["entry"] for line in kept] == ["a", "b"]
    assert sorted(first.rows()) == ["a", "b"]

    shutil.copyfile(ROOT / "reference_server" / "main.py", subs / "c" / "main.py")  # quick to grade, this time
    second = run_batch(subs, out, *args, "--resume")
    assert second.code == 0, second.stderr
    lines = _lines(out)
    assert lines[:2] == kept  # the earlier results, untouched
    assert sorted(json.loads(line)["entry"] for line in lines[2:]) == ["c", "d"]  # graded once each, now
    assert "graded 2 submissions" in second.stdout and "kept 2" in second.stdout
    rows = second.rows()
    assert sorted(rows) == ["a", "b", "c", "d"]
    assert rows["c"]["status"] == rows["d"]["status"] == "passed"


def test_resume_regrades_what_changed_and_everything_when_the_settings_change(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "a")
    shutil.copytree(SERVERS / "route_renamed", subs / "b")
    out = tmp_path / "out"
    assert "graded 2 submissions" in run_batch(subs, out, "--no-browser").stdout
    again = run_batch(subs, out, "--no-browser", "--resume")
    assert "graded 0 submissions" in again.stdout and "kept 2" in again.stdout and len(_lines(out)) == 2
    shutil.copyfile(ROOT / "reference_server" / "main.py", subs / "b" / "main.py")  # the student fixed it
    fixed = run_batch(subs, out, "--no-browser", "--resume")
    assert "graded 1 submission " in fixed.stdout and "kept 1" in fixed.stdout
    assert json.loads(_lines(out)[-1])["entry"] == "b" and fixed.rows()["b"]["status"] == "passed"
    slower = run_batch(subs, out, "--no-browser", "--resume", "--timeout", "9")
    assert "graded 2 submissions" in slower.stdout
    fresh = run_batch(subs, out, "--no-browser")
    assert "graded 2 submissions" in fresh.stdout and len(_lines(out)) == 2  # without --resume: a new record


def test_a_hanging_submission_is_stopped_at_its_time_limit_and_the_rest_are_graded(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(SLOW, subs / "hangs")
    for name in ("one", "two", "three"):
        shutil.copytree(ROOT / "reference_server", subs / name)
    # Its hanging GET /api/data outlasts any time limit (a request may wait 600 s here), so the limit is
    # what ends that grading however fast the machine is; 6 s is ample for the rest of every grading.
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[assignment]\nrequest_timeout = 600\n")
    run = run_batch(subs, tmp_path / "out", "-j", "2", "--no-browser", "--time-limit", "6", "--rubric", str(rubric))
    assert run.code == 0, run.stderr
    rows = run.rows()
    assert [rows[n]["status"] for n in ("one", "two", "three")] == ["passed"] * 3
    hangs = run.results()["hangs"]
    assert hangs["status"] == "failed" and rows["hangs"]["home.status"] == "1" and rows["hangs"]["api.status"] == "0"
    assert any("time limit of 6 s" in note for note in hangs["report"]["notes"])
    assert hangs["duration_s"] >= 6  # stopped by the limit, not by anything sooner
    assert "time limit" in (run.out / "feedback" / "hangs.md").read_text()


def test_a_worker_killed_mid_grading_leaves_nothing_in_the_temporary_directory(tmp_path):
    """Its server's supervisor removes the run's folder, the batch the worker's own temporary folder."""
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    source = (ROOT / "reference_server" / "main.py").read_text()
    # Without the sandbox a server can signal its grader, here the worker, which dies mid-grading.
    (subs / "killer.py").write_text(
        source.replace(
            "app = Flask(__name__)",
            "import os, signal\nos.kill(int(os.environ['WEBGRADE_PARENT']), signal.SIGKILL)\napp = Flask(__name__)",
        )
    )
    # The batch's own, so whatever is found there is this batch's; short, not under tmp_path: multiprocessing
    # puts its fork server's socket in it, and a socket's path may not be longer than 107 bytes.
    tmpdir = Path(tempfile.mkdtemp(prefix="batch-tmp-"))
    try:
        run = run_batch(
            subs, tmp_path / "out", "-j", "1", "--no-browser", "--sandbox", "none", env={"TMPDIR": str(tmpdir)}
        )
        assert run.code == 0, run.stderr
        results = run.results()
        assert results["alice"]["status"] == "passed"
        assert (
            results["killer.py"]["status"] == "not_graded" and "stopped unexpectedly" in results["killer.py"]["error"]
        )
        left = wait_for_no_webgrade_files(tmpdir, within=60)
        assert not left, f"left in the batch's temporary directory: {left}"
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def test_a_worker_shares_one_browser_among_its_gradings(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("a", "b", "c"):
        shutil.copytree(ROOT / "reference_server", subs / name)
    run = run_batch(subs, tmp_path / "out", "-j", "1", "--browser")
    assert [row["browser.table"] for row in run.rows().values()] == ["2", "2", "2"]
    assert len(run.chromium_launches()) == 1, run.chromium_launches()


def test_pool_stops_a_task_past_its_deadline_replaces_crashed_workers_and_leaves_none(tmp_path):
    """The backstop behind grade()'s own time limit: no task can hold a worker, or the batch, for ever.

    One worker, so the order of events is fixed whatever the machine's load: the tasks run one at a
    time, and each worker lost (stopped past its deadline, or crashed) is replaced exactly when tasks
    are still waiting.  How fast processes start or get scheduled changes nothing asserted here.
    """
    from grader.batch.pool import Pool

    tasks = [("hang", "hang"), ("a", "a"), ("crash-1", "crash"), ("b", "b"), ("crash-2", "crash")]
    with Pool(1, pool_task) as pool:
        finished = list(pool.run(tasks, time_limit=2.0))
    done = {d.key: d for d in finished}
    assert sorted(done) == sorted(key for key, _ in tasks) and len(finished) == len(tasks)  # each once
    hang = done["hang"]
    assert hang.overtime and "time limit of 2 s" in hang.error and hang.value is None
    assert hang.duration_s >= 2.0  # stopped at its deadline, not before
    for key in ("crash-1", "crash-2"):
        assert done[key].internal and "exit code 3" in done[key].error
    assert (done["a"].value, done["b"].value) == ("A", "B")
    # The first worker, one in place of the hung one and one in place of the first crashed one; none in
    # place of the second: no task was left for it.
    assert len(pool.pids) == 3
    # close() has joined every worker, the hung one included (killed if it had not exited within its grace).
    running = [
        pid for pid in pool.pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert not running, f"workers still running: {running}"


# --- progress ---


def _on_a_terminal(args: list[str], env: dict) -> str:
    """Run the CLI with a pseudo-terminal as its stderr; return what it drew there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*WEBGRADE, *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**os.environ, **env, "COLUMNS": "160"},
    )
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        drawn += chunk
    proc.wait(timeout=60)
    os.close(master)
    return drawn.decode(errors="replace")


def test_progress_is_a_live_bar_on_a_terminal_and_lines_in_ci(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "ok")
    shutil.copyfile(SERVERS / "crash_import" / "main.py", subs / "broken.py")
    args = ["batch", str(subs), "--out", str(tmp_path / "out"), "--no-browser", "-j", "2"]
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "GITHUB_ACTIONS")}
    bar = _on_a_terminal(args, {**env, "CI": "false"})
    assert "2/2" in bar and "1 passed" in bar and "0 failed" in bar and "1 not graded" in bar and "ETA" in bar
    assert "\x1b[" in bar  # drawn in place
    lines = _on_a_terminal(args, {**env, "CI": "true"})
    assert "ETA" not in lines and "\x1b[" not in lines
    assert "[2/2]" in lines and "broken.py 0/" in lines


def test_usage_errors_are_explained(tmp_path):
    (tmp_path / "roster.csv").write_text("name\nAnn\n")
    for args, expected in (
        [["--out", str(tmp_path)], "not SUBMISSIONS itself"],
        [["--roster", str(tmp_path / "roster.csv")], "no `entry`"],
    ):
        result = subprocess.run(
            [*WEBGRADE, "batch", str(tmp_path), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )
        assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr


# --- the parts, without servers ---


def test_entries_are_folders_zips_scripts_and_notebooks(tmp_path):
    for name in ("a", "c.zip", "d.py", "e.ipynb", "notes.txt", ".git"):
        (tmp_path / name).mkdir() if "." not in name or name == ".git" else (tmp_path / name).write_text("")
    (tmp_path / "out").mkdir()
    entries, skipped = batch_entries.find_entries(tmp_path, (tmp_path / "out").resolve())
    assert [(e.name, e.kind) for e in entries] == [
        ("a", "folder"),
        ("c.zip", "zip"),
        ("d.py", "py"),
        ("e.ipynb", "ipynb"),
    ]
    assert [name for name, _ in skipped] == [".git", "notes.txt", "out"]


def test_content_hash_follows_the_files_not_git(tmp_path):
    git_repo(tmp_path / "repo", ROOT / "reference_server")
    before = batch_entries.content_hash(tmp_path / "repo")
    (tmp_path / "repo" / ".git" / "description").write_text("changed by git gc, say")
    assert batch_entries.content_hash(tmp_path / "repo") == before
    (tmp_path / "repo" / "main.py").write_text("changed")
    assert batch_entries.content_hash(tmp_path / "repo") != before
    (tmp_path / "repo" / "main.py").rename(tmp_path / "repo" / "app.py")
    assert batch_entries.content_hash(tmp_path / "repo") != before


def _zip(path: Path, members: dict[str, str | bytes], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    "members,link,expected",
    [
        ({"../evil.py": "x"}, None, "points outside"),
        ({"a/../../evil.py": "x"}, None, "points outside"),
        ({"/etc/evil.py": "x"}, None, "points outside"),
        ({"C:/evil.py": "x"}, None, "points outside"),
        ({"..\\evil.py": "x"}, None, "points outside"),
        ({"main.py": "x"}, "passwd", "symbolic link"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "drive", "backslash", "symlink"],
)
def test_unsafe_zips_are_refused_and_leave_nothing(tmp_path, members, link, expected):
    source = _zip(tmp_path / "s.zip", {"main.py": "print()", **members}, link)
    with pytest.raises(archive.ArchiveError) as error:
        archive.extract(source, tmp_path / "into")
    assert expected in error.value.message and error.value.hint
    assert not (tmp_path / "into").exists() and not (tmp_path / "evil.py").exists()


def test_zip_bombs_are_capped_by_size_and_file_count(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"main.py": "", "data.bin": b"\0" * 5_000_000})
    assert bomb.stat().st_size < 50_000
    with pytest.raises(archive.ArchiveError, match="unpacks to more than"):
        archive.extract(bomb, tmp_path / "a", max_bytes=1_000_000)
    assert not (tmp_path / "a").exists()
    many = _zip(tmp_path / "many.zip", {f"f{n}.py": "" for n in range(30)})
    with pytest.raises(archive.ArchiveError, match="holds 31 files|holds 30 files"):
        archive.extract(many, tmp_path / "b", max_files=20)
    liar = tmp_path / "liar.zip"  # declares 10 bytes, holds 5 MB
    liar.write_bytes(bomb.read_bytes().replace((5_000_000).to_bytes(4, "little"), (10).to_bytes(4, "little")))
    with pytest.raises(archive.ArchiveError):
        archive.extract(liar, tmp_path / "c", max_bytes=1_000_000)
    assert not (tmp_path / "c").exists()
    good = _zip(tmp_path / "good.zip", {"proj/main.py": "x", "__MACOSX/proj/._main.py": "junk"})
    archive.extract(good, tmp_path / "d")
    assert [p.relative_to(tmp_path / "d").as_posix() for p in sorted((tmp_path / "d").rglob("*"))] == [
        "proj",
        "proj/main.py",
    ]


def test_a_broken_zip_is_explained(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"PK\3\4 not really")
    with pytest.raises(archive.ArchiveError, match="could not be unpacked"):
        archive.extract(tmp_path / "x.zip", tmp_path / "into")


def test_roster_columns_and_matching(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeffName,Entry,Student ID,Email\nAnn Lee,ann,1,a@x\nBo,ann-bo,2,b@x\n,,,\nCy,cy,3\n")
    students = roster.load(path)
    assert students.find("ann").name == "Ann Lee" and students.find("ann").id == "1"
    assert students.find("ann.zip").name == "Ann Lee" and students.find("ANN.ipynb").name == "Ann Lee"
    assert students.find("lesson-ann").name == "Ann Lee"
    assert students.find("lesson-ann-bo").name == "Bo"  # the longest key that matches
    assert students.find("cy.py").id == "3"
    assert students.find("nobody") is None and students.find("annex") is None
    path.write_text("name,login\nAnn,ann\n")
    with pytest.raises(roster.RosterError, match="no `entry`.*name, login"):
        roster.load(path)
    path.write_text("entry,name\nann,A\nANN,B\n")
    with pytest.raises(roster.RosterError, match="twice, on lines 2 and 3"):
        roster.load(path)


def _graded(entry: str, student: str = "", score: float = 1, hidden: bool = False, status="passed") -> Graded:
    checks = [CheckResult("server.start", "the server starts", status, score, 1, "seen <script>", hidden=hidden)]
    return Graded(entry, student, report=Report(entry, entry, checks, 0.5), feedback=f"feedback/{entry}.md")


def test_gradebook_text_cannot_become_formulas_or_markup():
    rows = gradebook.grades_csv(
        [_graded("=cmd", "+1"), _graded("x", "-2", status="not_graded", score=0)], ["server.start"]
    )
    parsed = list(csv.reader(io.StringIO(rows)))
    assert parsed[1][:3] == ["'+1", "", "'=cmd"] and parsed[2][7] == "seen <script>"
    page = html_report.render(
        [_graded("<img src=x onerror=alert(1)>", "<script>alert(1)</script>")],
        order=["server.start"],
        source="<s>",
        generated="now",
    )
    assert "<script>alert" not in page and "<img src=x" not in page and "<s>" not in page
    assert "&lt;script&gt;" in page


def test_results_read_back_as_the_same_report():
    graded = _graded("a", "Ann", hidden=True)
    graded.report.notes.append("a note")
    again = Graded.from_json(json.loads(json.dumps(graded.to_json())))
    assert again.report.to_dict() == graded.report.to_dict()
    assert Report.from_dict(graded.report.to_dict()).for_student().checks == []


def test_a_torn_last_line_from_a_killed_run_is_skipped(tmp_path):
    book = gradebook.Gradebook(tmp_path, ["server.start"])
    book.open(fresh=True)
    book.add(_graded("a"), [_graded("a")])
    book.close()
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"entry": "b", "sta')
    assert list(book.previous()) == ["a"]
    book.open(fresh=False)
    book.add(_graded("c"), [_graded("a"), _graded("c")])
    book.close()
    assert list(book.previous()) == ["a", "c"]


def test_check_columns_keep_the_rubric_order_then_others():
    extra = _graded("b")
    extra.report.checks.append(CheckResult("api.names", "names", "passed", 2, 2))
    assert gradebook.check_columns([extra, _graded("a")], ["server.start", "home.status"]) == [
        "server.start",
        "api.names",
    ]


def test_histogram_has_a_bar_per_point_or_per_tenth():
    same = [_graded("a", score=0), _graded("b", score=1), _graded("c", score=1)]
    assert [(b.label, b.count) for b in html_report.bins(same)] == [("0", 1), ("1", 2)]
    mixed = [*same, Graded("d", full_marks=4)]  # not graded at all: 0 out of 4
    bars = html_report.bins(mixed)
    assert len(bars) == 10 and bars[0].count == 2 and bars[-1].count == 2
