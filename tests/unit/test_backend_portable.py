"""portable: the bookkeeping of a tree stopped without a subreaper, the stop sequence (Windows' too), and
the pieces that touch real processes (the sweep for strays, the kill, the lifeline's stop byte)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from grader.run import portable
from grader.run.portable import STOP, PortableRunning, Seen, stop_tree

posix = pytest.mark.skipif(os.name != "posix", reason="process groups and signals are POSIX's")


@dataclass
class Fake:
    """A process as the bookkeeping sees one."""

    pid: int
    started: float = 1.0
    running: bool = True
    parent: int = 1
    signals: list[int] = field(default_factory=list)

    def create_time(self) -> float:
        if not self.running:
            raise psutil.NoSuchProcess(self.pid)
        return self.started

    def is_running(self) -> bool:
        return self.running

    def ppid(self) -> int:
        return self.parent

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)


# --- Seen ---


def test_seen_knows_a_process_by_pid_and_start_time():
    seen = Seen()
    first, again, reused = Fake(10, 1.0), Fake(10, 1.0), Fake(10, 2.0)
    seen.add([first, again])
    assert len(seen) == 1 and seen.alive() == [first]
    first.running = False  # it exited, and the system gave its pid to another of ours
    seen.add([reused])
    assert len(seen) == 2 and seen.alive() == [reused]
    assert seen.pids == {10}


def test_seen_skips_what_is_gone_already():
    seen = Seen()
    seen.add([Fake(11, running=False)])
    assert len(seen) == 0 and seen.alive() == []


def test_seen_keeps_the_groups_its_processes_lead_but_the_spared():
    groups = {7: 7, 20: 20, 21: 20, 22: 7, 23: None, 24: 1234}  # 24 joined a group of the terminal's (1234)
    seen = Seen(groups.get, spare={7})
    seen.add([Fake(pid) for pid in groups])
    assert seen.groups == {20}


# --- the stop sequence ---


class Launcher:
    """A stoppable launcher that records what was done to it, in order, with a tree that changes as scripted."""

    def __init__(self, trees: list[list[Fake]], exits_within_grace: bool, stops: tuple[Fake, ...] = ()) -> None:
        self.trees = trees
        self.exits = exits_within_grace
        self.stops = stops  # what the supervisor stops when asked
        self.calls: list[str] = []
        self.forced: list[Fake] = []

    def snapshot(self):
        self.calls.append("snapshot")
        return self.trees.pop(0)

    def ask(self, seen):
        self.calls.append(f"ask({len(seen)})")
        for process in self.stops:
            process.running = False

    def wait(self, timeout):
        self.calls.append(f"wait({timeout:g})")
        return self.exits

    def force(self, seen, left):
        self.calls.append("force")
        self.forced = left

    def reap(self):
        self.calls.append("reap")


def test_a_launcher_that_stops_in_time_is_seen_once_then_reaped():
    tree = [Fake(1), Fake(2), Fake(3)]
    launcher = Launcher([tree], exits_within_grace=True, stops=(tree[0], tree[1]))  # 3 had left its groups
    left = stop_tree(launcher, 3.0, Seen())
    assert launcher.calls == ["snapshot", "ask(3)", "wait(3)", "force", "reap"]
    assert left == launcher.forced == [tree[2]]


def test_a_launcher_still_there_after_the_grace_is_seen_again_and_forced():
    before, meanwhile = [Fake(1), Fake(2)], Fake(4)
    launcher = Launcher([before, [before[0], meanwhile]], exits_within_grace=False)
    left = stop_tree(launcher, 0.5, Seen())
    assert launcher.calls == ["snapshot", "ask(2)", "wait(0.5)", "snapshot", "force", "reap"]
    assert left == [*before, meanwhile]


def test_force_is_called_even_when_nothing_is_left_to_see():
    """Windows ends its Job Object there, which holds processes no snapshot shows."""
    launcher = Launcher([[]], exits_within_grace=True)
    assert stop_tree(launcher, 1.0, Seen()) == []
    assert "force" in launcher.calls


# --- ports ---


def test_the_socket_handed_over_is_not_another_port(monkeypatch):
    monkeypatch.setattr(portable.procfs, "listening_ports_psutil", lambda root: {5000, 6000})
    assert portable.listening_ports(1, 5000, handed_over="123") == {6000}
    assert portable.listening_ports(1, 5000, handed_over=None) == {5000, 6000}


# --- with real processes ---


def sleeper(tmp_path: Path, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], env=env, stdin=subprocess.DEVNULL, **kwargs
    )


@posix
def test_strays_are_found_by_their_mark(tmp_path):
    run_dir = tmp_path / "webgrade-run"
    (run_dir / "work").mkdir(parents=True)
    since = psutil.Process().create_time()  # this test process started before any of them
    marked = sleeper(tmp_path, env={**os.environ, "WEBGRADE_OUT": str(run_dir / "out")})
    inside = sleeper(tmp_path, env={}, cwd=run_dir / "work")  # no environment at all, but in the run's folder
    other = sleeper(tmp_path, env={**os.environ, "WEBGRADE_OUT": "/elsewhere/out"})
    try:
        found = {p.pid for p in portable.strays(("WEBGRADE_OUT", str(run_dir / "out")), run_dir, since)}
        assert marked.pid in found and inside.pid in found and other.pid not in found
        spared = portable.strays(("WEBGRADE_OUT", str(run_dir / "out")), run_dir, since, spare={marked.pid})
        assert marked.pid not in {p.pid for p in spared}
        later = psutil.Process(other.pid).create_time() + 60  # nothing of ours started a minute from now
        assert portable.strays(("WEBGRADE_OUT", str(run_dir / "out")), run_dir, later) == []
    finally:
        for child in (marked, inside, other):
            child.kill()
            child.wait()


@posix
def test_kill_takes_the_processes_and_their_groups_whole():
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
            " print(flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        process_group=0,
    )
    try:
        assert leader.stdout is not None
        leader.stdout.readline()  # its child is started
        [member] = psutil.Process(leader.pid).children()
        portable.kill([psutil.Process(leader.pid)], groups=[leader.pid])  # the member is killed by its group
        assert leader.wait(timeout=60) == -signal.SIGKILL
        psutil.wait_procs([member], timeout=60)
        assert not member.is_running() or member.status() == psutil.STATUS_ZOMBIE
    finally:
        leader.kill()
        leader.wait()


def test_the_stop_is_asked_on_the_lifeline_and_never_after_it_is_closed(tmp_path):
    theirs, ours = os.pipe()
    child = sleeper(tmp_path)
    run = PortableRunning(
        child,
        None,
        lifeline=ours,
        port=5000,
        out=tmp_path / "out",
        handed_over=None,
        started=0.0,  # type: ignore[arg-type]
    )
    try:
        run.terminate()
        assert os.read(theirs, 10) == STOP
        assert run.supervisor() == child.pid
        child.kill()
        run.retire()  # reaps it, closes our end
        assert run.lifeline == -1 and run.supervisor() is None
        run.terminate()  # no error, nothing written anywhere
        assert os.read(theirs, 10) == b""  # end-of-file: our end is closed
    finally:
        os.close(theirs)
        child.kill()
        child.wait()
