"""``webgrade watch``: grade, then again on every save, in a real pseudo-terminal with real servers.

The end-to-end tests run ``webgrade watch`` in a pseudo-terminal (``os.openpty``; the student's terminal:
Ctrl+C is the terminal's, sent to the whole foreground process group), edit
the submission as an editor does and read the screens it draws.  The others
drive :class:`grader.watch.Watcher` in-process.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import shutil
import subprocess
import termios
import threading
import time
from pathlib import Path

import click
import psutil
import pytest

from grader.results import CheckResult, Report, Status
from grader.watch import CLEAR, Watcher, changes, snapshot
from tests.conftest import ROOT, WEBGRADE, processes_of, wait_gone
from tests.test_notebook_magic import hanging_request

REFERENCE = ROOT / "reference_server"
HANGS = ROOT / "tests" / "hostile" / "handler_hangs"
#: Generous: gradings with the browser on a machine shared with other test runs.
WITHIN = 180.0


class Terminal:
    """``webgrade watch ARGS`` in a pseudo-terminal of its own, its output read as it comes."""

    def __init__(self, *args: str, cwd: Path) -> None:
        master, slave = os.openpty()

        def controlling_terminal() -> None:  # after setsid: the pty becomes the session's terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            [*WEBGRADE, "watch", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env={**os.environ, "TERM": "xterm-256color"},
            start_new_session=True,
            preexec_fn=controlling_terminal,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.seen: set[psutil.Process] = set()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every process holding the terminal is gone
                return
            if not chunk:
                return
            self.output += chunk

    def text(self) -> str:
        return bytes(self.output).decode("utf-8", errors="replace")

    def screens(self) -> list[str]:
        """Each complete screen drawn (split where the screen is cleared), colours removed, CRLF as LF."""
        parts = self.text().split(CLEAR)[1:]
        return [click.unstyle(part).replace("\r\n", "\n") for part in parts if "Ctrl+C to stop" in part]

    def screen(self, number: int) -> str:
        """Wait for screen ``number`` (1-based) and return it; note the processes the watch runs meanwhile."""
        deadline = time.monotonic() + WITHIN
        while time.monotonic() < deadline:
            self._note_processes()
            screens = self.screens()
            if len(screens) >= number:
                return screens[number - 1]
            assert self.proc.poll() is None, f"webgrade watch exited ({self.proc.returncode}):\n{self.text()}"
            time.sleep(0.05)
        raise AssertionError(f"no screen {number} within {WITHIN} s:\n{self.text()}")

    def _note_processes(self) -> None:
        try:
            self.seen.update(psutil.Process(self.proc.pid).children(recursive=True))
        except psutil.Error:
            pass

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        os.close(self.master)


def left_running(terminal: Terminal) -> list[psutil.Process]:
    """Processes the watch started that are still alive (not zombies), after waiting a little for their end."""
    left = wait_gone(terminal.proc.pid)
    deadline = time.monotonic() + 10
    alive = [p for p in terminal.seen if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _alive(p)]
    return left + alive


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_watch_regrades_each_save_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    """Break the route, save: the failing API.  Fix it, save by rename: full marks.  Ctrl+C: nothing left."""
    folder = tmp_path / "server"
    shutil.copytree(REFERENCE, folder)
    main = folder / "main.py"
    good = main.read_text(encoding="utf-8")
    files = snapshot([folder])
    terminal = Terminal(str(folder), cwd=tmp_path)  # with the browser check, when Chromium is installed
    try:
        first = terminal.screen(1)
        assert "all checks passed" in first and "since the last run" not in first
        assert f"watching 3 files in {folder}: save one to grade again; Ctrl+C to stop" in first
        assert snapshot([folder]) == files  # grading wrote nothing the watch would see as a save

        main.write_text(good.replace("'/api/data'", "'/api/shaurya'"), encoding="utf-8")
        broken = terminal.screen(2)
        assert "✗   0/2  GET /api/data answers 200  api.status" in broken
        assert "try: your server answers /api/shaurya, but the page fetches /api/data" in broken
        assert re.search(r"since the last run: now failing: api\.status; \d checks that passed not graded", broken)

        # An editor's save by rename: a new file, renamed over the old one.
        fixed_copy = folder / ".main.py.saving"
        fixed_copy.write_text(good, encoding="utf-8")
        os.replace(fixed_copy, main)
        fixed = terminal.screen(3)
        assert "all checks passed" in fixed
        assert "since the last run: fixed: api.status" in fixed

        terminal.ctrl_c()
        assert terminal.proc.wait(timeout=WITHIN) == 130
        assert "webgrade: stopped watching; no server is left running" in terminal.text()
        assert terminal.seen, "the watch never ran a server"
        assert not left_running(terminal)
        assert len(terminal.screens()) == 3  # one grading per save, none for the grader's own files
    finally:
        terminal.close()


def test_ctrl_c_during_a_grading_stops_it_at_once(tmp_path: Path) -> None:
    """Ctrl+C while the grader waits on a handler that hangs (60 s per request here)."""
    folder = tmp_path / "hangs"
    shutil.copytree(HANGS, folder)
    (folder / "webgrade.toml").write_text("[assignment]\nrequest_timeout = 60\n", encoding="utf-8")
    terminal = Terminal(str(folder), "--no-browser", cwd=tmp_path)
    try:
        hanging_request(terminal.proc.pid)
        terminal._note_processes()
        pressed = time.monotonic()
        terminal.ctrl_c()
        assert terminal.proc.wait(timeout=WITHIN) == 130
        assert time.monotonic() - pressed < 30  # not the 60 s the request would have waited
        assert not left_running(terminal)
        assert not terminal.screens()  # interrupted before any scorecard
    finally:
        terminal.close()


# --- in-process ---


def test_the_watched_files_are_the_submissions(tmp_path: Path) -> None:
    """Editors' and the grader's own temporary files, virtualenvs and caches never count as a save."""
    (tmp_path / "main.py").write_text("print('hi')\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "index.html").write_text("<p>hi</p>")
    before = snapshot([tmp_path])
    assert sorted(Path(p).name for p in before) == ["index.html", "main.py"]

    for name in (".main.py.swp", "main.py~", "4913", ".#main.py", "notes.tmp", "webgrade-out", "webgrade-x1y2"):
        (tmp_path / name).write_text("x")
    for folder in ("__pycache__", ".git", "node_modules", "webgrade-abc123"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f.py").write_text("x")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "venv" / "site.py").write_text("x")
    assert snapshot([tmp_path]) == before

    # A save by rename with the same size and time still counts: the inode is new.
    stat = (tmp_path / "main.py").stat()
    (tmp_path / "new").write_text("print('ho')\n")
    os.utime(tmp_path / "new", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(tmp_path / "new", tmp_path / "main.py")
    assert snapshot([tmp_path]) != before


def test_the_temporary_directory_inside_the_folder_is_not_watched(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    (tmp_path / "main.py").write_text("x")
    inside = tmp_path / "scratch"
    inside.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(inside))
    before = snapshot([tmp_path])
    (inside / "anything").write_text("x")
    assert snapshot([tmp_path]) == before


def report_of(statuses: dict[str, Status], hidden: frozenset[str] = frozenset()) -> Report:
    checks = [
        CheckResult(id, id, status, status == "passed", 1, hidden=id in hidden) for id, status in statuses.items()
    ]
    return Report("s", "s/main.py", checks)


def test_what_changed_names_fixed_and_newly_failing_checks() -> None:
    before = report_of(
        {"api.status": "passed", "api.json": "passed", "cors.preflight": "failed", "home.html": "passed"}
    )
    after = report_of(
        {"api.status": "failed", "api.json": "not_graded", "cors.preflight": "passed", "home.html": "passed"}
    )
    assert changes(None, after) == ""
    assert changes(before, after) == (
        "fixed: cors.preflight; now failing: api.status; 1 check that passed not graded now (waiting on a failed one)"
    )
    assert changes(after, after) == "no check changed"
    secret = frozenset({"names.secret"})
    assert (
        changes(
            report_of({"api.status": "passed", "names.secret": "passed"}, secret),
            report_of({"api.status": "passed", "names.secret": "failed"}, secret),
        )
        == "no check changed"
    )


def test_a_burst_of_writes_is_graded_once_it_settles(tmp_path: Path) -> None:
    """The regrade waits for the save's last write: half a file is never graded."""
    folder = tmp_path / "server"
    shutil.copytree(REFERENCE, folder)
    good = (folder / "main.py").read_text(encoding="utf-8")
    out = io.StringIO()
    with Watcher(folder, {"browser_check": False, "sandbox": "auto"}, out, settle=1.0) as watcher:
        assert watcher.regrade().report.status == "passed"
        settled: list[float] = []
        waiting = threading.Thread(target=lambda: settled.append(watcher.wait_for_change()))
        waiting.start()
        (folder / "main.py").write_text(good[: len(good) // 2], encoding="utf-8")  # the first half of a save
        deadline = time.monotonic() + WITHIN
        while not watcher.seen_at and time.monotonic() < deadline:
            time.sleep(0.005)
        (folder / "main.py").write_text(good, encoding="utf-8")  # the rest, well within the settling time
        written = time.monotonic()
        waiting.join(timeout=WITHIN)
        assert settled and settled[0] > written
        run = watcher.regrade(settled[0])
        assert run.report is not None and run.report.status == "passed"
        assert "since the last run: no check changed" in run.screen


def test_a_problem_is_shown_and_the_watch_goes_on(tmp_path: Path) -> None:
    out = io.StringIO()
    with Watcher(tmp_path, {"browser_check": False}, out, poll=0.02) as watcher:
        run = watcher.regrade()
        assert run.report is None
        assert f"webgrade: no Flask app found in {tmp_path}" in run.screen
        assert "try: create main.py" in run.screen
        shutil.copy(REFERENCE / "main.py", tmp_path / "main.py")
        watcher.wait_for_change()
        run = watcher.regrade()
        assert run.report is not None and run.report.status == "passed"


def test_a_watch_freezes_what_its_first_grading_left_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the first grading, while waiting for a save: collect, then freeze what is alive; once per process."""
    import gc

    import grader.watch

    calls: list[str] = []
    monkeypatch.setattr(grader.watch, "_frozen", False)
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    (tmp_path / "main.py").write_text("x = 1\n", encoding="utf-8")
    # Never graded: its baseline is empty, so each wait sees main.py as a change and returns.
    watcher = Watcher(tmp_path, {"browser_check": False}, io.StringIO(), poll=0.01, settle=0.01)
    watcher.wait_for_change()
    assert calls == [], "nothing graded yet: nothing a grading loads is loaded"
    watcher.last = Report("s", "e", [])
    for _ in range(2):
        watcher.wait_for_change()
    assert calls == ["collect", "freeze"]
    Watcher(tmp_path, {"browser_check": False}, io.StringIO(), poll=0.01, settle=0.01).wait_for_change()
    assert calls == ["collect", "freeze"], "once per process, whatever the number of watchers"


def test_one_browser_serves_every_run(tmp_path: Path) -> None:
    from grader.check.browser import Browser

    if Browser().executable is None:
        pytest.skip("no Chromium installed")
    folder = tmp_path / "server"
    shutil.copytree(REFERENCE, folder)
    # Another test's browser in this same process (test_browser's shared one) may be running: not ours.
    before = {p.pid for p in processes_of(os.getpid())}
    with Watcher(folder, {"browser_check": True}, io.StringIO()) as watcher:
        for _ in range(2):
            run = watcher.regrade()
            assert run.report is not None
            assert {c.id: c.status for c in run.report.checks}["browser.table"] == "passed"
        assert watcher.browser is not None and watcher.browser.launches == 1
    deadline = time.monotonic() + 30  # closed when the watch ends; this only bounds a broken close
    while (ours := [p for p in processes_of(os.getpid()) if p.pid not in before]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not ours, "the watch's Chromium must be gone once the watch ends"
