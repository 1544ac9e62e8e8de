"""`webgrade batch --scheduler` on a real Dask cluster: a scheduler and `webgrade worker` processes on 127.0.0.1.

Nothing is mocked: the scheduler is Dask's own `dask scheduler`, each worker
is the real CLI (a Dask nanny, its worker process, the worker's warm pool and
the students' servers, sandboxed when bubblewrap works here), and workers are
killed as machines die, with SIGKILL to their whole process group.

The cluster gets a temporary directory of its own (TMPDIR), and a thread
records every process of its trees while it runs; when the module's cluster
stops, no process it ever had may be alive, none may still run from its
temporary directory, and nothing may be left in that directory.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import ROOT, SERVERS, WEBGRADE, pool_task

distributed = pytest.importorskip("distributed")

from grader.batch import gradebook  # noqa: E402
from grader.batch.cluster import ATTEMPTS, sandbox_problem  # noqa: E402
from grader.batch.pool import Done, Pool, PoolClosed  # noqa: E402

HOSTILE = ROOT / "tests" / "hostile"
DASK = Path(sys.executable).with_name("dask")
#: The students' servers run sandboxed on the workers when bubblewrap works here (CI installs it).
SANDBOX = [] if sandbox_problem() is None else ["--sandbox", "none"]


#: Where this module's graders (clients and workers) run from: see :func:`frozen_grader`.
CWD = ROOT


@pytest.fixture(scope="module", autouse=True)
def frozen_grader(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every grader of this module runs one copy of the package, taken when the module starts.

    A grader's version is a hash of its files (grader.batch.entries.grader_version): files edited while the
    module runs would make workers and clients different graders, which a cluster rightly keeps apart.
    """
    global CWD
    CWD = tmp_path_factory.mktemp("frozen")
    shutil.copytree(ROOT / "grader", CWD / "grader", symlinks=True)
    yield CWD
    CWD = ROOT


# --- a cluster of real processes, and proof that it leaves nothing behind ---


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class Worker:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    address: str = ""

    def kill_group(self) -> None:
        """As a machine dies: the nanny, its worker, the pool and everything else in the process group."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()


@dataclass
class Cluster:
    tmp: Path
    #: More of the environment of every process of the cluster (TLS settings).
    extra_env: dict[str, str] = field(default_factory=dict)
    scheduler: subprocess.Popen[bytes] | None = None
    address: str = ""
    workers: list[Worker] = field(default_factory=list)
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    started: int = 0

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "TMPDIR": str(self.tmp), "NO_COLOR": "1", **self.extra_env}

    def _record(self) -> None:
        """Every process of the cluster's trees, as they come and go (a server, a detached grandchild, ...)."""
        while not self.stopping.wait(0.05):
            roots = [p.pid for p in [self.scheduler, *(w.popen for w in self.workers)] if p is not None]
            for pid in roots:
                try:
                    root = psutil.Process(pid)
                    for proc in [root, *root.children(recursive=True)]:
                        self.seen.setdefault(proc.pid, proc)
                except psutil.Error:
                    continue

    def start(self, *args: str) -> None:
        threading.Thread(target=self._record, daemon=True).start()
        file = self.tmp / "scheduler.json"
        self.scheduler = subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", *args]
            + ["--scheduler-file", str(file)],
            stdin=subprocess.DEVNULL,
            stdout=open(self.tmp / "scheduler.log", "wb"),  # noqa: SIM115 (closed with the process)
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.env,
        )
        self.address = _poll(lambda: json.loads(file.read_text())["address"] if file.exists() else None, "scheduler")

    def start_worker(self, name: str, *args: str) -> Worker:
        self.started += 1
        log = self.tmp / f"{name}-{self.started}.log"  # a log of its own: a worker of that name may have died
        popen = subprocess.Popen(
            [*WEBGRADE, "worker", self.address, "-j", "1", "--no-browser", "--name", name, *SANDBOX, *args],
            cwd=CWD,
            stdin=subprocess.DEVNULL,
            stdout=open(log, "wb"),  # noqa: SIM115 (closed with the process)
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole as a machine dies
            env=self.env,
        )
        worker = Worker(name, popen, log)
        self.workers.append(worker)
        worker.address = _poll(lambda: _joined(worker), f"worker {name} to join")
        return worker

    def client(self) -> Any:
        return distributed.Client(self.address, set_as_default=False, timeout=30)  # the tests' own: no TLS

    def executing(self, client: Any) -> dict[str, list[str]]:
        """The Dask keys each worker is running now."""
        return client.run(
            lambda dask_worker: [str(t.key) for t in dask_worker.state.tasks.values() if t.state == "executing"]
        )

    def servers(self) -> list[psutil.Process]:
        """Live processes a grading on a worker started: they carry WEBGRADE_PARENT, or run in the cluster's TMPDIR."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                parent = int(proc.environ().get("WEBGRADE_PARENT") or 0)
                if parent in self.seen or proc.cwd().startswith(str(self.tmp)):
                    found.append(proc)
            except (psutil.Error, ValueError):
                continue
        return found

    def stop(self) -> None:
        """Stop the workers (SIGTERM: each grading unwinds), then the scheduler; fail if anything is left."""
        for worker in self.workers:
            if worker.popen.poll() is None:
                worker.popen.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.popen.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(worker.popen.pid, signal.SIGKILL)
                raise AssertionError(f"worker {worker.name} did not stop on SIGTERM") from None
        if self.scheduler is not None:
            self.scheduler.send_signal(signal.SIGTERM)
            self.scheduler.wait(timeout=60)
        deadline = time.monotonic() + 60
        while (left := [p for p in self.seen.values() if _alive(p)] + self.servers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.stopping.set()
        assert not left, f"processes of the cluster left running: {left}"


def _joined(worker: Worker) -> str | None:
    if worker.popen.poll() is not None:
        raise AssertionError(f"worker {worker.name} exited: {worker.log.read_text()[-3000:]}")
    for line in worker.log.read_text(errors="replace").splitlines():
        if line.startswith("webgrade worker ") and " joined " in line:
            return line.split()[2]
    return None


def _poll(probe: Callable[[], Any], what: str, within: float = 120) -> Any:
    """Poll until ``probe()`` is truthy; only a generous deadline, never a duration, is asserted."""
    deadline = time.monotonic() + within
    while not (value := probe()):
        assert time.monotonic() < deadline, f"waited {within:g} s for {what}"
        time.sleep(0.1)
    return value


def _leftovers(folder: Path) -> list[str]:
    """What is in the cluster's TMPDIR besides Dask's own empty workspace and our logs."""
    ignored = {"scheduler.json", "scheduler.log", "dask-scratch-space", "global.lock", "purge.lock"}
    found = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if rel.parts[0].endswith(".log") or rel.name in ignored:
            continue
        found.append(str(rel))
    return found


@contextlib.contextmanager
def running_cluster(*workers: str, env: dict[str, str] | None = None, scheduler: tuple[str, ...] = ()) -> Any:
    """A scheduler and one `webgrade worker` per name; on the way out, proof that nothing of them is left."""
    # Short and our own: sockets may live in TMPDIR, and a socket's path may not exceed 107 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="wgc-", dir="/tmp"))
    cluster = Cluster(tmp, env or {})
    try:
        cluster.start(*scheduler)
        for name in workers:
            cluster.start_worker(name)
        yield cluster
    finally:
        try:
            cluster.stop()
            left = _leftovers(tmp)
            logs = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}" for log in tmp.glob("*.log"))
            assert not left, f"left in the cluster's temporary directory: {left}\n{logs}"
        finally:
            for worker in cluster.workers:
                if worker.popen.poll() is None:
                    os.killpg(worker.popen.pid, signal.SIGKILL)
            if cluster.scheduler is not None and cluster.scheduler.poll() is None:
                os.killpg(cluster.scheduler.pid, signal.SIGKILL)
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(frozen_grader: Path) -> Any:
    with running_cluster("a", "b") as cluster:
        yield cluster


# --- running a batch ---


@dataclass
class BatchRun:
    code: int
    stdout: str
    stderr: str
    out: Path

    def rows(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO((self.out / "grades.csv").read_text(encoding="utf-8"))))

    def by_entry(self) -> dict[str, dict[str, str]]:
        return {row["entry"]: row for row in self.rows()}

    def results(self) -> dict[str, dict[str, Any]]:
        lines = (self.out / "results.jsonl").read_text(encoding="utf-8").splitlines()
        return {r["entry"]: r for r in map(json.loads, lines)}


def batch(
    subs: Path, out: Path, *args: str, env: dict[str, str] | None = None, during: Callable[[], bool] | None = None
) -> BatchRun:
    """``webgrade batch``; ``during()`` is called while it runs until it returns True (to kill, to interrupt)."""
    logs = out.with_name(out.name + ".log")
    with open(logs.with_suffix(".out"), "w") as stdout, open(logs.with_suffix(".err"), "w") as stderr:
        proc = subprocess.Popen(
            [*WEBGRADE, "batch", str(subs), "--out", str(out), *args],
            cwd=CWD,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
        )
        deadline = time.monotonic() + 300
        try:
            while proc.poll() is None:
                if during is not None and during():
                    during = None
                assert time.monotonic() < deadline, "the batch did not finish"
                time.sleep(0.1)
        finally:
            proc.kill()
            proc.wait()
    return BatchRun(proc.returncode, logs.with_suffix(".out").read_text(), logs.with_suffix(".err").read_text(), out)


def zip_folder(target: Path, source: Path, inside: str) -> None:
    with zipfile.ZipFile(target, "w") as zf:
        for file in sorted(source.rglob("*")):
            zf.write(file, f"{inside}/{file.relative_to(source).as_posix()}")


def _parent_of(pid: str) -> str:
    return "int(open(f'/proc/{" + pid + "}/stat').read().rsplit(')', 1)[1].split()[1])"


#: Kills the process that grades it (its pool worker): the client sends it again, up to --max-attempts.
POOL_KILLER = "import os, signal\nos.kill(int(os.environ['WEBGRADE_PARENT']), signal.SIGKILL)\n"
#: Kills its Dask worker process (the parent of its pool worker): Dask runs it again, on a worker its nanny restarts.
WORKER_KILLER = (
    f"import os, signal\npool = int(os.environ['WEBGRADE_PARENT'])\nos.kill({_parent_of('pool')}, signal.SIGKILL)\n"
)


# --- the class on the cluster, a worker dying mid-batch ---


def test_a_class_grades_on_the_cluster_as_locally_even_when_a_worker_dies(cluster, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "alice")  # correct
    zip_folder(subs / "bob.zip", SERVERS / "missing_key", "bob")  # broken
    shutil.copyfile(SERVERS / "notebook" / "lesson.ipynb", subs / "carol.ipynb")  # correct, a notebook
    shutil.copyfile(SERVERS / "crash_import" / "main.py", subs / "dave.py")  # broken
    shutil.copytree(SERVERS / "never_binds", subs / "erin")  # hangs until --timeout
    shutil.copytree(HOSTILE / "detached_grandchild", subs / "frank")  # hostile: leaves sleepers behind
    shutil.copytree(HOSTILE / "fork_happy", subs / "gina")  # hostile: forks thousands
    args = ["--no-browser", "--timeout", "8", *SANDBOX]

    local = batch(subs, tmp_path / "local", *args, "-j", "2")
    assert local.code == 0, local.stderr

    client = cluster.client()
    machines = list(cluster.workers)
    victim: list[Worker] = []
    starts: dict[str, int] = {}

    def kill_the_worker_grading_erin() -> bool:
        """Kill erin's machine once its grading counted its start there (Dask's "executing" comes a moment before)."""
        for address, keys in cluster.executing(client).items():
            key = next((k for k in keys if "-erin-" in k), None)
            run = key and key.removeprefix("webgrade-").split("-erin-")[0]
            if run and client.get_metadata([ATTEMPTS, run, "erin"], default=0) == 1:
                worker = next(w for w in cluster.workers if w.address == address and w.popen.poll() is None)
                worker.kill_group()
                victim.append(worker)
                return True
        return False

    def kill_then_count_starts() -> bool:
        """Kill, then keep reading how often each grading was started, as the scheduler counts them."""
        if not victim:
            kill_the_worker_grading_erin()
        elif (out / "results.jsonl").exists():
            run = json.loads((out / "results.jsonl").read_text().splitlines()[0])["run"]
            starts.update(client.get_metadata(["webgrade-attempts", run], default={}) or {})
        return False

    out = tmp_path / "cluster"
    try:
        run = batch(subs, out, *args, "--scheduler", cluster.address, during=kill_then_count_starts)
    finally:
        client.close()
        if victim:  # a machine comes back (whatever this test finds: the module's later tests need two)
            # The dead machine's servers (erin's, in its sandbox or not) ended with it: nothing of theirs runs.
            _poll(lambda: not cluster.servers(), "the dead worker's servers to end", within=60)
            # A new worker clears what the dead one left in its workspace (the fixture's teardown checks).
            cluster.workers.remove(victim[0])
            cluster.start_worker(victim[0].name)
    assert run.code == 0, run.stderr
    assert victim, "erin was never seen grading"

    rows = run.rows()
    assert sorted(r["entry"] for r in rows) == sorted(p.name for p in subs.iterdir())  # each exactly once
    local_rows = local.by_entry()
    for row in rows:
        expected = local_rows[row["entry"]]
        assert (row["status"], row["score"], row["max"]) == (expected["status"], expected["score"], expected["max"])
        checks = [c for c in row if c not in gradebook.COLUMNS]
        assert [row[c] for c in checks] == [expected[c] for c in checks], row["entry"]
    assert "without listening" in run.by_entry()["erin"]["error"]
    results = run.results()
    survivor = next(w for w in machines if w is not victim[0])
    # erin was running when its worker died: Dask ran it again, on the other worker, as a second start.
    assert (results["erin"]["attempt"], results["erin"]["worker"]) == (2, survivor.address)
    assert all(not r.get("internal") for r in results.values())
    # Each result was taken and released as it came: none that finished on the dead worker was graded again.
    assert starts and all(starts.get(entry, 0) <= result["attempt"] for entry, result in results.items()), starts
    # Reports name the client's files, not the worker's copies.
    assert results["bob.zip"]["report"]["entry"] == str(subs / "bob.zip" / "bob" / "main.py")
    assert results["alice"]["report"]["entry"] == str(subs / "alice" / "main.py")
    assert "on the Dask cluster at" in run.stdout and "graded 7 submissions" in run.stdout


# --- at least once: submissions that kill their grader ---


def test_a_submission_that_kills_its_worker_ends_as_the_graders_failure_after_the_attempts(cluster, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    (subs / "pool_killer.py").write_text(POOL_KILLER)
    (subs / "worker_killer.py").write_text(WORKER_KILLER)
    # Unsandboxed, a server can reach its grader's processes (in the sandbox it sees none of them).
    run = batch(subs, tmp_path / "out", "--no-browser", "--sandbox", "none", "--scheduler", cluster.address)
    assert run.code == 0, run.stderr
    rows = run.rows()
    assert sorted(r["entry"] for r in rows) == ["alice", "pool_killer.py", "worker_killer.py"]
    results = run.results()
    assert results["alice"]["status"] == "passed"
    for name in ("pool_killer.py", "worker_killer.py"):
        result = results[name]
        assert result["status"] == "not_graded" and result["internal"], result
        assert result["error"].startswith("the grader failed on this submission")
        assert "not your fault" in result["hint"]
        assert result["score"] == 0
    # Its grading process died twice: the client sent it once more, then gave up.
    assert "stopped unexpectedly" in results["pool_killer.py"]["error"] and results["pool_killer.py"]["attempt"] == 2
    # Its Dask worker died twice (each restarted by its nanny): the third start did not grade.
    assert "(2 attempts)" in results["worker_killer.py"]["error"] and results["worker_killer.py"]["attempt"] == 3
    with cluster.client() as client:  # both machines are back, and grade the next batch
        client.wait_for_workers(2, timeout=120)


# --- --scheduler local: a cluster started here, and gone with the batch ---


def test_scheduler_local_grades_on_a_cluster_it_starts_and_leaves_nothing(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    shutil.copyfile(SERVERS / "crash_import" / "main.py", subs / "dave.py")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    seen: dict[int, psutil.Process] = {}

    def record_the_batchs_processes() -> bool:
        """The batch's process and its descendants (not this test process's others: the module's cluster...)."""
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if str(subs) in child.cmdline():
                    for proc in [child, *child.children(recursive=True)]:
                        seen.setdefault(proc.pid, proc)
        return False

    args = ["--no-browser", *SANDBOX, "--scheduler", "local", "-j", "2"]
    run = batch(subs, tmp_path / "out", *args, env={"TMPDIR": str(tmp)}, during=record_the_batchs_processes)
    assert run.code == 0, run.stderr
    assert "on a Dask cluster started here" in run.stdout and "graded 2 submissions" in run.stdout
    results = run.results()
    assert (results["alice"]["status"], results["dave.py"]["status"]) == ("passed", "not_graded")
    assert "flask_corss" in run.by_entry()["dave.py"]["error"]
    # Graded by a Dask worker (a process of its own on 127.0.0.1), not by the local pool.
    assert all(r["worker"].startswith("tcp://127.0.0.1:") and r["attempt"] == 1 for r in results.values())
    assert len(seen) > 2  # the scheduler's side, the worker, its pool: more than the batch's own process
    _poll(lambda: not [p for p in seen.values() if _alive(p)], "the local cluster's processes to end", within=60)
    assert _leftovers(tmp) == []


# --- Ctrl-C, and --resume across cluster runs ---


def test_ctrl_c_stops_the_gradings_on_the_workers_and_resume_finishes_the_batch(cluster, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    shutil.copytree(SERVERS / "never_binds", subs / "erin")  # waits 600 s for its server, unless stopped
    out = tmp_path / "out"
    args = ["--no-browser", "--timeout", "600", "--time-limit", "600", *SANDBOX, "--scheduler", cluster.address]
    client = cluster.client()

    def alice_done_and_erin_grading() -> bool:
        lines = (out / "results.jsonl").read_text().splitlines() if (out / "results.jsonl").exists() else []
        executing = [k for keys in cluster.executing(client).values() for k in keys]
        return len(lines) == 1 and any("-erin-" in k for k in executing) and bool(cluster.servers())

    try:
        first = _interrupted_batch(subs, out, args, alice_done_and_erin_grading, "alice graded and erin grading")
    finally:
        client.close()
    assert first.code == 130, first.stderr
    assert "--resume" in first.stderr and "Traceback" not in first.stderr
    assert [r["entry"] for r in first.rows()] == ["alice"]
    # The client gave erin up, and its worker stopped the grading (its server with it): long before 600 s.
    _poll(lambda: not cluster.servers(), "erin's server to be stopped", within=90)

    shutil.copyfile(ROOT / "reference_server" / "main.py", subs / "erin" / "main.py")  # quick, this time
    second = batch(subs, out, *args, "--resume")
    assert second.code == 0, second.stderr
    assert "graded 1 submission " in second.stdout and "kept 1" in second.stdout
    assert [(r["entry"], r["status"]) for r in second.rows()] == [("alice", "passed"), ("erin", "passed")]


def _interrupted_batch(subs: Path, out: Path, args: list[str], when: Callable[[], bool], what: str) -> BatchRun:
    """A batch sent SIGINT (Ctrl-C) once ``when()`` is True."""
    logs = out.with_name(out.name + ".log")
    with open(logs.with_suffix(".out"), "w") as stdout, open(logs.with_suffix(".err"), "w") as stderr:
        proc = subprocess.Popen(
            [*WEBGRADE, "batch", str(subs), "--out", str(out), *args],
            cwd=CWD,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "NO_COLOR": "1"},
        )
        try:
            _poll(lambda: proc.poll() is not None or when(), what, within=180)
            assert proc.poll() is None, "the batch ended before it could be interrupted"
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
        finally:
            proc.kill()
            proc.wait()
    return BatchRun(proc.returncode, logs.with_suffix(".out").read_text(), logs.with_suffix(".err").read_text(), out)


# --- a machine that would grade differently ---


def test_a_batch_is_never_sent_to_a_worker_that_lacks_what_it_asks(cluster, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    # The browser check is on: every worker here was started with --no-browser, so none may grade it.
    said = tmp_path / "out.err"
    run = _interrupted_batch(
        subs,
        tmp_path / "out",
        ["--browser", *SANDBOX, "--scheduler", cluster.address],
        lambda: said.exists() and "waiting for a webgrade worker" in said.read_text(),
        "the batch to wait for a worker",
    )
    assert run.code == 130
    assert "has no browser (--no-browser)" in run.stderr and "webgrade worker" in run.stderr
    assert run.rows() == []


def test_a_worker_refuses_to_start_where_it_cannot_sandbox_or_launch_a_browser(tmp_path):
    env = {
        **os.environ,
        "PATH": str(tmp_path),  # no bwrap on it
        "WEBGRADE_CHROMIUM": str(tmp_path / "no-chromium"),
        "TMPDIR": str(tmp_path),
    }
    refused = subprocess.run(
        [*WEBGRADE, "worker", "tcp://127.0.0.1:9"], capture_output=True, text=True, env=env, timeout=120, cwd=CWD
    )
    assert refused.returncode == 1, refused.stderr
    assert "does not join" in refused.stderr and "Traceback" not in refused.stderr
    assert "cannot sandbox" in refused.stderr and "--sandbox none" in refused.stderr
    assert "cannot run the browser check" in refused.stderr and "--no-browser" in refused.stderr


def test_an_unreachable_scheduler_is_said_plainly_by_the_batch_and_the_worker(tmp_path):
    from grader.run.server import free_port

    nowhere = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s", "TMPDIR": str(tmp_path)}
    subs = tmp_path / "subs"
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    run = subprocess.run(
        [*WEBGRADE, "batch", str(subs), "--out", str(tmp_path / "out"), "--scheduler", nowhere],
        capture_output=True, text=True, env=env, timeout=120, cwd=CWD,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert f"could not reach the Dask scheduler at {nowhere}" in run.stderr and "Traceback" not in run.stderr
    joined = subprocess.run(
        [*WEBGRADE, "worker", nowhere, "--sandbox", "none", "--no-browser"],
        capture_output=True, text=True, env=env, timeout=120, cwd=CWD,
    )  # fmt: skip
    assert joined.returncode == 1, joined.stderr
    assert f"could not join the scheduler at {nowhere}" in joined.stderr
    assert "Traceback" not in joined.stderr.split("could not join")[1]  # Dask's own log may hold one before


# --- past 127.0.0.1: TLS, as the README says to set it up ---


def _certificates(folder: Path) -> dict[str, str]:
    """A certificate authority and one certificate it signed for 127.0.0.1, as Dask's TLS settings name them."""
    folder.mkdir()
    (folder / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for args in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=ca"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=grading"],
        ["x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"]
        + ["-extfile", "ext", "-out", "node.pem"],
    ):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=120)
    env = {"DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}
    env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"] = f"{folder}/ca.pem"
    for who in ("SCHEDULER", "WORKER", "CLIENT"):
        env[f"DASK_DISTRIBUTED__COMM__TLS__{who}__CERT"] = f"{folder}/node.pem"
        env[f"DASK_DISTRIBUTED__COMM__TLS__{who}__KEY"] = f"{folder}/node.key"
    return env


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test's certificates")
def test_over_tls_only_the_holders_of_a_certificate_reach_the_cluster(frozen_grader, tmp_path):
    tls = _certificates(tmp_path / "tls")
    subs = tmp_path / "subs"
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    with running_cluster("a", env=tls, scheduler=("--protocol", "tls")) as cluster:
        assert cluster.address.startswith("tls://") and cluster.workers[0].address.startswith("tls://")
        run = batch(subs, tmp_path / "out", "--no-browser", *SANDBOX, "--scheduler", cluster.address, env=tls)
        assert run.code == 0, run.stderr
        assert [(r["entry"], r["status"]) for r in run.rows()] == [("alice", "passed")]
        # Without a certificate, or without TLS: not one step further than the handshake.
        quick = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
        for env, address in (
            ({k: v for k, v in tls.items() if "CLIENT" not in k}, cluster.address),
            ({}, cluster.address.replace("tls://", "tcp://")),
        ):
            refused = batch(subs, tmp_path / "refused", "--scheduler", address, env={**env, **quick})
            assert refused.code == 2 and "could not reach the Dask scheduler" in refused.stderr, refused.stderr


# --- the pool a worker owns: tasks submitted one by one, from any thread ---


def test_a_served_pool_keeps_the_time_limit_replaces_crashed_workers_and_stops_what_is_cancelled():
    pool = Pool(2, pool_task).start(ready_within=120)
    try:
        futures = {
            key: pool.submit(key, payload, 600 if key == "cancelled" else 2.0)
            for key, payload in [("hang", "hang"), ("crash", "crash"), ("cancelled", "hang"), ("a", "a")]
        }
        answers: dict[str, Any] = {}
        threads = [
            threading.Thread(target=lambda k=k: answers.update({k: pool.submit(k, k, 5).result(120)}))
            for k in ("b", "c")
        ]
        for thread in threads:
            thread.start()
        hang = futures["hang"].result(timeout=120)
        assert hang.overtime and "time limit of 2 s" in hang.error and hang.duration_s >= 2.0
        crash = futures["crash"].result(timeout=120)
        assert crash.internal and "exit code 3" in crash.error
        assert futures["a"].result(timeout=120).value == "A"
        for thread in threads:
            thread.join(120)
        assert {k: d.value for k, d in answers.items()} == {"b": "B", "c": "C"}
        _poll(lambda: pool_busy_with(pool, "cancelled"), "cancelled to run")
        pool.cancel("cancelled")
        with pytest.raises(PoolClosed):
            futures["cancelled"].result(timeout=120)  # stopped, not left to its 600 s
        waiting = pool.submit("late", "hang", 600)
    finally:
        pool.close()
    with pytest.raises(PoolClosed):
        waiting.result(timeout=0)
    running = [pid for pid in pool.pids if psutil.pid_exists(pid) and _alive(psutil.Process(pid))]
    assert not running, f"workers still running: {running}"


def pool_busy_with(pool: Pool, key: str) -> bool:
    """A task is on a worker (read from another thread: a glance, not a synchronisation)."""
    return any(w.key == key for w in list(pool._workers))


# --- the client's gradebook at scale ---


def test_a_large_gradebook_rewrites_grades_csv_at_a_bounded_rate_and_always_at_the_end(tmp_path, monkeypatch):
    """Past ALWAYS_REWRITE rows, grades.csv waits ten times what its last rewrite took; results.jsonl never waits."""
    now = [0.0]
    slow_csv = gradebook.grades_csv

    def one_second_rewrite(results: list[gradebook.Graded], order: list[str]) -> str:
        now[0] += 1.0  # as a gradebook of tens of thousands of rows takes
        return slow_csv(results, order)

    monkeypatch.setattr(gradebook, "ALWAYS_REWRITE", 3)
    monkeypatch.setattr(gradebook, "grades_csv", one_second_rewrite)
    book = gradebook.Gradebook(tmp_path, ["server.start"], clock=lambda: now[0])
    book.open(fresh=True)
    results: list[gradebook.Graded] = []
    for n in range(50):
        results.append(gradebook.Graded(f"s{n:02d}", feedback=f"feedback/s{n:02d}.md", full_marks=1))
        book.add(results[-1], results)
    assert book.grades_written == 3  # the first three; then the next is due 10 s after the last took 1 s
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 50  # every result, at once
    now[0] += 10
    results.append(gradebook.Graded("t", feedback="feedback/t.md"))
    book.add(results[-1], results)
    assert book.grades_written == 4
    book.write_grades(results)  # the batch's end
    book.close()
    assert len((tmp_path / "grades.csv").read_text().splitlines()) == 52


# --- what travels to a grading machine, and what comes back ---


def test_a_folder_travels_as_the_grader_would_copy_it(tmp_path):
    from grader.batch.entries import Entry
    from grader.batch.packing import _unpack, pack_entry

    folder = tmp_path / "alice"
    shutil.copytree(ROOT / "reference_server", folder)
    (folder / ".env").write_text("HIDDEN=file")  # a hidden file is the student's: it travels
    for skipped in (".git", "venv", "node_modules", "__pycache__", "tests", "myenv"):
        (folder / skipped).mkdir()
        (folder / skipped / "big.py").write_text("x = 1\n")
    (folder / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")  # a virtualenv by any name
    (folder / "data.json").symlink_to("/etc/hostname")  # a link stays a link, wherever it points
    data = pack_entry(Entry("alice", folder, "folder"))
    _unpack(data, tmp_path / "received")
    got = sorted(p.relative_to(tmp_path / "received").as_posix() for p in (tmp_path / "received").rglob("*"))
    files = {".env", "data.json", *(p.name for p in (ROOT / "reference_server").iterdir())}
    assert got == ["submission", *sorted(f"submission/{name}" for name in files)]
    assert os.readlink(tmp_path / "received" / "submission" / "data.json") == "/etc/hostname"
    assert (tmp_path / "received" / "submission" / "main.py").read_bytes() == (folder / "main.py").read_bytes()


def test_a_submission_too_large_to_send_is_refused_before_it_travels(tmp_path, monkeypatch):
    from grader.batch import packing
    from grader.batch.entries import Entry

    monkeypatch.setattr(packing, "PACK_MAX_BYTES", 1000)
    (tmp_path / "big.py").write_bytes(b"#" * 2000)
    with pytest.raises(packing.PackError, match="more than the 0 MB"):
        packing.pack_entry(Entry("big.py", tmp_path / "big.py", "py"))
    folder = tmp_path / "big"  # a folder travels cut short: the server's own copy stops there too, and says so
    folder.mkdir()
    for n in range(5):
        (folder / f"data{n}.bin").write_bytes(b"x" * 600)
    packing._unpack(packing.pack_entry(Entry("big", folder, "folder")), tmp_path / "got")
    assert len(list((tmp_path / "got" / "submission").iterdir())) == 2  # 600, then 1200 > 1000: the rest stays


def test_the_rubrics_files_travel_and_every_path_is_moved_to_the_grading_machine(tmp_path):
    from grader.batch.packing import localize, map_paths, pack_settings
    from grader.rubric import load

    course = tmp_path / "course"
    shutil.copytree(ROOT / "examples", course)
    rubric = load(course / "webgrade.toml")
    options_ = _options(extra_checks=[course / "instructor_checks"])
    settings = pack_settings(rubric, options_)
    shutil.rmtree(course)  # the grading machine has none of it
    here = tmp_path / "worker"
    here.mkdir()
    moved_rubric, moved_options = localize(rubric, options_, settings, here)
    paths: list[Path] = []
    map_paths((moved_rubric, moved_options), lambda p: paths.append(p) or p)
    assert paths and all(p.exists() for p in paths), paths  # each one is there, on this machine
    assert not [p for p in paths if p.is_relative_to(tmp_path / "course")]
    checks = [p for p in moved_rubric.checks_dirs]
    assert [sorted(f.name for f in c.iterdir()) for c in checks] == [["test_names.py"]]
    assert moved_rubric.lesson.checks_dir.is_relative_to(ROOT / "grader")  # the lesson's own: this grader's
    assert moved_options.python == sys.executable
    assert moved_rubric.points == rubric.points and moved_rubric.required == rubric.required


def _options(**changes: Any) -> Any:
    from grader.grade import Options

    return Options(**changes)


def test_a_result_that_comes_back_twice_is_recorded_once(tmp_path):
    from grader.batch import Batch
    from grader.batch.worker import Outcome
    from grader.rubric import Rubric

    subs = tmp_path / "subs"
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    run = Batch(subs, tmp_path / "out", rubric=Rubric(), options=_options())
    (entry,) = run.plan(resume=False)
    first = run.record(entry, Done("alice", Outcome(error="not a Flask app"), worker="tcp://a", attempt=1))
    assert first is not None and first.worker == "tcp://a"
    assert run.record(entry, Done("alice", Outcome(error="again"), worker="tcp://b", attempt=2)) is None
    assert run.results["alice"] is first


def test_a_grading_asks_its_worker_for_what_the_batch_needs():
    from grader.batch.cluster import BROWSER, SANDBOX, requirements, version_resource, worker_resources

    assert set(requirements(_options())) == {version_resource(), SANDBOX, BROWSER}
    assert set(requirements(_options(sandbox="none", browser_check=False))) == {version_resource()}
    assert set(requirements(_options(), local=True)) == {version_resource()}  # this machine: as the local batch
    assert worker_resources(3, sandbox=False, browser=True) == {version_resource(): 3.0, BROWSER: 3.0}
    assert version_resource().startswith("webgrade-0.") and version_resource("x") == "webgrade-x"
