"""``webgrade batch --scheduler``: the class graded on a Dask cluster, with every promise of the local batch.

Dask only hands work out.  Each grading machine runs ``webgrade worker``: a
Dask worker (under a Dask nanny, which restarts it if it dies) whose
:class:`GradingPlugin` owns one warm :class:`grader.batch.pool.Pool` of that
machine, and a Dask task (:func:`grade_task`) only submits its submission to
that pool and waits.  So what Dask cannot do, the pool still does: a time
limit per grading (Dask has none), a worker process replaced past it (Dask's
``cancel`` does not stop a running task), each grading in a main thread so
the parent-death signal holds, and the sandbox, supervisor and lifeline of
every server, which end with the worker even when Dask kills it.

The client (:class:`ClusterEngine`) sends each submission as bytes
(:mod:`grader.batch.packing`: no shared file system), a bounded number at a
time, and takes each result back as it completes and releases it at once, so
a worker that dies later costs nothing already finished (Dask would
otherwise recompute results held on it).  It alone writes the outputs,
through the same :class:`grader.batch.Batch` as the local batch.

Dask runs a task at least once, not exactly once:

* a worker that dies mid-grading costs a retry of its gradings in flight (the
  scheduler reschedules them, and a grading process that crashed is sent
  again by the client);
* each start of a grading is counted on the scheduler (``set_metadata``), and
  the start after ``--max-attempts`` does not grade: the submission ends as a
  row saying the grader failed, never as a zero for the student (a scheduler
  whose ``distributed.scheduler.allowed-failures`` is lower gives up first,
  with the same kind of row);
* a second result for an entry is ignored (:meth:`grader.batch.Batch.record`).

Which worker may grade what is said with Dask resources: a worker offers
``webgrade-<version>`` (its :func:`grader.batch.entries.grader_version`: other code
is never handed a grading), and ``webgrade-sandbox`` / ``webgrade-browser``
when it has verified it can sandbox and launch Chromium.  A batch asks for
the sandbox unless run with ``--sandbox none`` and for the browser unless run
with ``--no-browser``, so a half-equipped machine never grades differently.

Security: whoever reaches a Dask scheduler runs code on every worker
(CVE-2021-42343), so ``webgrade worker`` binds to 127.0.0.1 unless told
otherwise; see the README for TLS and SSH tunnels.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import distributed
from distributed import WorkerPlugin

from grader.batch import BACKSTOP_S, Batch
from grader.batch.entries import Entry, grader_version
from grader.batch.packing import PackedJob, PackError, Settings, grade_packed, pack_entry, pack_settings
from grader.batch.pool import Done, Pool, PoolClosed, PoolError
from grader.batch.worker import Outcome, warm_worker
from grader.errors import UsageError

if TYPE_CHECKING:
    from grader.grade import Options

#: Resources a webgrade worker offers, each as many as gradings it runs at once.
SANDBOX = "webgrade-sandbox"
BROWSER = "webgrade-browser"
#: Where the scheduler keeps how many times each grading was started (``Client.set_metadata``).
ATTEMPTS = "webgrade-attempts"
#: How long a worker's pool may take to start its processes.
POOL_READY_S = 120.0
#: Submissions sent ahead of the gradings running, per grading slot: enough to keep every slot busy,
#: few enough that a dying worker holds little and a large class is not all in memory.
AHEAD = 2


def version_resource(version: str | None = None) -> str:
    """The resource that says which grader a worker runs."""
    return f"webgrade-{version or grader_version()}"


def worker_resources(jobs: int, sandbox: bool, browser: bool) -> dict[str, float]:
    """What a worker of ``jobs`` grading slots offers."""
    resources = {version_resource(): float(jobs)}
    if sandbox:
        resources[SANDBOX] = float(jobs)
    if browser:
        resources[BROWSER] = float(jobs)
    return resources


def requirements(options: Options, local: bool = False) -> dict[str, float]:
    """What one grading asks of its worker; on this machine's own cluster (``local``) exactly the local batch's."""
    needs = {version_resource(): 1.0}
    if not local:
        if options.sandbox != "none":
            needs[SANDBOX] = 1.0
        if options.browser_check is not False:
            needs[BROWSER] = 1.0
    return needs


# --- a grading machine: the checks before it joins ---


def sandbox_problem() -> str | None:
    """Why bubblewrap cannot sandbox a server on this machine, or None: tried for real, as a grading would."""
    from grader.run import sandbox

    reason = sandbox.unusable_reason()
    if reason:
        return reason
    with tempfile.TemporaryDirectory(prefix="webgrade-probe-") as tmp:
        command = sandbox.bwrap_command(
            [sys.executable, "-c", "print('sandboxed')"],
            python=sys.executable,
            read_only=[],
            writable=[Path(tmp)],
            cwd=Path(tmp),
            hide=[],
        )
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap could not start a sandbox: {error}"
    if run.returncode != 0 or "sandboxed" not in run.stdout:
        said = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1]
        return f"bubblewrap is installed but cannot start a sandbox here ({said})"
    return None


def browser_problem() -> str | None:
    """Why Chromium cannot load a page on this machine, or None: launched for real, headless."""
    from grader.check.chromium import find_chromium, not_found_reason

    executable = find_chromium()
    if executable is None:
        return not_found_reason()
    command = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "about:blank"]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{executable} did not start: {error}"
    if run.returncode != 0 or "<html" not in run.stdout:
        said = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1]
        return f"{executable} did not load a page ({said})"
    return None


class WorkerRefused(Exception):
    """This machine would grade differently from the rest: it does not join, and says why."""


class JoinError(Exception):
    """The scheduler could not be reached, or refused this worker."""


def check_machine(sandbox: str, browser: bool) -> list[str]:
    """What stops this machine from grading as a fully equipped one, each with what to do instead."""
    problems = []
    if sandbox != "none" and (why := sandbox_problem()):
        problems.append(
            f"cannot sandbox the students' servers: {why}; install bubblewrap, or start the worker with "
            "--sandbox none (it is then sent only batches run with --sandbox none)"
        )
    if browser and (why := browser_problem()):
        problems.append(
            f"cannot run the browser check: {why}; install Chromium (sudo apt install chromium), or start "
            "the worker with --no-browser (it is then sent only batches run with --no-browser)"
        )
    return problems


# --- a grading machine: the pool, and the task Dask runs ---


class GradingPlugin(WorkerPlugin):
    """Owns the warm pool of one Dask worker process; the tasks only submit to it."""

    name = "webgrade"

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool: Pool | None = None
        self.scratch: Path | None = None
        self.address = ""

    async def setup(self, worker: distributed.Worker) -> None:
        """Start the pool, with every temporary file of this worker inside its Dask workspace.

        Dask removes the workspace when the worker closes, and a worker that
        starts removes those of dead ones: so even a worker killed with SIGKILL
        (its fork server's socket, a grading's copies) leaves nothing behind.
        """
        self.address = worker.address
        self.scratch = Path(worker.local_directory) / "t"  # short: a socket's path may not exceed 107 bytes
        self.scratch.mkdir(parents=True, exist_ok=True)
        os.environ["TMPDIR"] = tempfile.tempdir = str(self.scratch)  # the pool's processes, servers and sandboxes
        # Spawned, not forked from a fork server, whose socket folder would outlive a worker killed with SIGKILL.
        pool = Pool(self.jobs, grade_packed, warm=warm_worker, spawn=True)
        await asyncio.to_thread(pool.start, POOL_READY_S)  # its processes start outside the event loop
        self.pool = pool

    async def teardown(self, worker: distributed.Worker) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await asyncio.to_thread(pool.close)  # each grading unwinds: its server stops, its files go


@dataclass
class TaskResult:
    """What a grading machine sends back: the pool's :class:`Done`, and which attempt this was, where."""

    done: Done
    attempt: int
    worker: str
    #: The attempts were used up before this one: nothing was graded.
    exhausted: bool = False


def _count_attempt(run: str, entry: str) -> int:
    """This grading's start, counted on the scheduler: it survives the worker that died the last time."""
    client = distributed.get_client()
    keys = [ATTEMPTS, run, entry]
    attempt = int(client.get_metadata(keys, default=0)) + 1  # type: ignore[no-untyped-call]
    client.set_metadata(keys, attempt)  # type: ignore[no-untyped-call]
    return attempt


def _cancelled(worker: distributed.Worker, key: str) -> bool:
    """The client gave this task up (Ctrl-C): Dask lets it run on, so the pool must stop it."""
    task = worker.state.tasks.get(key)
    return task is None or task.state in ("cancelled", "released", "forgotten")


def grade_task(job: PackedJob, run: str, max_attempts: int, key: str) -> TaskResult:
    """The Dask task ``key``: hand the submission to this machine's pool and wait for it (in a Dask worker thread)."""
    worker = distributed.get_worker()
    plugin = worker.plugins.get(GradingPlugin.name)
    pool = getattr(plugin, "pool", None)
    if not isinstance(plugin, GradingPlugin) or pool is None or plugin.scratch is None:
        raise distributed.Reschedule()  # not ready, or closing: another worker takes it
    attempt = _count_attempt(run, job.entry.name)
    if attempt > max_attempts:
        done = Done(
            job.entry.name,
            error=f"the grader's worker died each time it graded this submission ({max_attempts} attempts)",
            internal=True,
        )
        return TaskResult(done, attempt, worker.address, exhausted=True)
    job = dataclasses.replace(job, scratch=str(plugin.scratch))
    future = pool.submit(key, job, job.options.time_limit + BACKSTOP_S)
    while True:
        try:
            done = future.result(timeout=0.5)
            break
        except FutureTimeout:
            if _cancelled(worker, key):
                pool.cancel(key)
        except PoolClosed:
            raise distributed.Reschedule() from None  # this worker is closing: the grading runs elsewhere
        except PoolError as error:
            done = Done(job.entry.name, error=f"{error} on {worker.address}", internal=True)
            break
    return TaskResult(done, attempt, worker.address)


def serve(
    scheduler: str,
    *,
    jobs: int,
    sandbox: str,
    browser: bool,
    host: str = "127.0.0.1",
    worker_port: int | None = None,
    nanny_port: int | None = None,
    name: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """``webgrade worker``: join the cluster at ``scheduler`` until stopped (Ctrl-C, SIGTERM)."""
    problems = check_machine(sandbox, browser)
    if problems:
        raise WorkerRefused("; and ".join(problems))
    # The worker process starts the pool's processes: Dask's default (daemonic) forbids children.
    dask.config.set({"distributed.worker.daemon": False})
    resources = worker_resources(jobs, sandbox != "none", browser)

    async def main() -> None:
        nanny = distributed.Nanny(
            scheduler,
            nthreads=jobs,
            resources=resources,
            plugins={GradingPlugin(jobs)},
            host=host,
            protocol=scheduler.split("://")[0] if "://" in scheduler else None,  # tls:// listens with TLS too
            worker_port=worker_port or 0,
            port=nanny_port or 0,
            name=name,
            dashboard=False,
            silence_logs=False,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(nanny.close(timeout=60)))
        async with nanny:
            say(
                f"webgrade worker {nanny.worker_address} joined {scheduler}: {jobs} grading"
                f"{'s' if jobs != 1 else ''} at once, sandbox {'bwrap' if sandbox != 'none' else 'none'}, "
                f"browser {'yes' if browser else 'no'}, webgrade {grader_version()}"
            )
            await nanny.finished()  # type: ignore[no-untyped-call]

    try:
        asyncio.run(main())
    except (OSError, RuntimeError, TimeoutError) as error:  # Dask wraps why: "Nanny failed to start."
        cause = error.__cause__ or error
        raise JoinError(f"could not join the scheduler at {scheduler}: {type(cause).__name__}: {cause}") from None


def local_cluster(jobs: int, max_attempts: int = 2) -> Any:
    """``--scheduler local``: a Dask cluster on this machine, on 127.0.0.1 only, of one worker with ``jobs`` slots.

    It offers the sandbox and the browser without checking them: a batch on
    its own machine grades exactly as the local batch does (``requirements``
    with ``local``), "auto" and all.
    """
    dask.config.set(
        {
            "distributed.worker.daemon": False,  # the worker process starts the pool's processes
            "distributed.scheduler.allowed-failures": max(3, max_attempts),
        }
    )
    return distributed.LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=1,
        threads_per_worker=jobs,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # Its HTTP server (health, metrics) on a free port of 127.0.0.1, not Dask's 8787, which may be taken.
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        resources=worker_resources(jobs, True, True),
        plugins={GradingPlugin(jobs)},
        silence_logs=40,
    )


# --- the client: the batch's engine ---


class ClusterEngine:
    """Grades a batch's entries on the Dask cluster at ``scheduler`` ("local": one started here)."""

    def __init__(
        self,
        scheduler: str,
        *,
        jobs: int | None = None,
        max_attempts: int = 2,
        say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
    ) -> None:
        self.scheduler = scheduler
        self.local = scheduler == "local"
        self._local_jobs = jobs
        self.max_attempts = max(1, max_attempts)
        self.say = say
        self.jobs = 0
        self.where = "on a Dask cluster started here" if self.local else f"on the Dask cluster at {scheduler}"
        self._cluster: Any = None
        self._client: distributed.Client | None = None
        self._running: dict[distributed.Future[Any], tuple[Entry, int]] = {}
        self._run = ""
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    # connecting

    def _connect(self) -> distributed.Client:
        from grader.batch import default_jobs

        if self.local:
            self._cluster = local_cluster(max(1, self._local_jobs or default_jobs()), self.max_attempts)
            return distributed.Client(self._cluster, set_as_default=False)  # type: ignore[no-untyped-call]
        return distributed.Client(  # type: ignore[no-untyped-call]
            self.scheduler,
            set_as_default=False,
            direct_to_workers=False,  # only the scheduler need be reachable from here (an SSH tunnel)
            timeout=dask.config.get("distributed.comm.timeouts.connect"),
        )

    def _suitable(self, needs: dict[str, float]) -> tuple[int, list[str]]:
        """Grading slots of the workers that can take this batch, and why each other worker cannot."""
        assert self._client is not None
        workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
        slots, others = 0, []
        for address, info in workers.items():
            offers = info.get("resources") or {}
            lacking = [need for need in needs if offers.get(need, 0) < 1]
            if not lacking:
                slots += int(offers[version_resource()])
                continue
            versions = [r.removeprefix("webgrade-") for r in offers if r.startswith("webgrade-") and "+" in r]
            if not versions:
                others.append(f"{address} is not a webgrade worker")
            elif version_resource() in lacking:
                others.append(f"{address} runs webgrade {versions[0]}, this batch {grader_version()}")
            else:
                what = {SANDBOX: "no sandbox (started with --sandbox none)", BROWSER: "no browser (--no-browser)"}
                others.append(f"{address} has " + " and ".join(what[n] for n in lacking if n in what))
        return slots, others

    def _wait_for_workers(self, needs: dict[str, float]) -> None:
        said = False
        while True:
            slots, others = self._suitable(needs)
            if slots:
                self.jobs = slots
                return
            if not said:
                why = f" ({'; '.join(others)})" if others else ""
                self.say(
                    f"webgrade: waiting for a webgrade worker that can grade this batch to join {self.scheduler}"
                    f"{why}; start one with `webgrade worker {self.scheduler}`"
                )
                said = True
            time.sleep(0.5)

    # grading

    def connect(self) -> None:
        """Reach the scheduler (or start the cluster here) before the batch starts: a wrong address is said at once."""
        if self._client is not None:
            return
        try:
            self._client = self._connect()
        except Exception as error:  # refused, timed out, or Dask's word on a TLS setting missing here
            raise UsageError(
                f"could not reach the Dask scheduler at {self.scheduler}: {type(error).__name__}: {error}",
                "start one there (`dask scheduler --host 127.0.0.1`, see the README), or check the address",
            ) from None

    def grade(self, batch: Batch, todo: list[Entry]) -> Iterator[tuple[Entry, Done]]:
        self.connect()
        client = self._client
        assert client is not None
        self._run = batch.run_id  # results.jsonl's "run": the starts of its gradings are counted under it
        needs = requirements(batch.options, local=self.local)
        self._wait_for_workers(needs)
        try:
            settings = pack_settings(batch.rubric, batch.options)
        except PackError as error:
            for entry in todo:
                yield entry, Done(entry.name, error=error.message, internal=True)
            return
        version = grader_version()
        pending = deque((entry, 1) for entry in todo)
        completed = distributed.as_completed(loop=client.loop)  # type: ignore[no-untyped-call]
        self._watch = threading.Thread(target=self._watch_workers, args=(needs,), daemon=True, name="webgrade-watch")
        self._watch.start()
        yield from self._send(client, batch, pending, settings, needs, version, completed)
        for future in completed:  # futures added meanwhile are waited for too
            entry, attempt = self._running.pop(future)
            done = self._outcome(future, entry)
            future.release()  # a worker that dies later must not make Dask compute it again
            if done is None:  # a grading process crashed: sent again, up to --max-attempts
                pending.appendleft((entry, attempt + 1))
            else:
                yield entry, done
            yield from self._send(client, batch, pending, settings, needs, version, completed)

    def _watch_workers(self, needs: dict[str, float]) -> None:
        """While the batch runs: follow the grading slots there are, and say so when none are left."""
        said = False
        while not self._stop.wait(2.0):
            try:
                slots, others = self._suitable(needs)
            except Exception:  # disconnected: the batch itself will say so
                return
            if slots:
                self.jobs, said = slots, False
            elif not said:
                said = True
                why = f" ({'; '.join(others)})" if others else ""
                self.say(f"webgrade: no worker that can grade this batch is left{why}; waiting for one to join")

    def _send(
        self,
        client: distributed.Client,
        batch: Batch,
        pending: deque[tuple[Entry, int]],
        settings: Settings,
        needs: dict[str, float],
        version: str,
        completed: distributed.as_completed,
    ) -> list[tuple[Entry, Done]]:
        """Send submissions until :data:`AHEAD` per slot are out; those that cannot be sent come back as done."""
        failed = []
        while pending and len(self._running) < max(4, AHEAD * self.jobs):
            entry, attempt = pending.popleft()
            try:
                data = pack_entry(entry)
            except PackError as error:  # the submission's own size: said to the student, as a bad zip is
                hint = "leave out what the server does not need (data sets, videos, virtualenvs) and submit again"
                failed.append((entry, Done(entry.name, Outcome(error=error.message, hint=hint))))
                continue
            except OSError as error:  # the grader's side: --resume tries again
                failed.append((entry, Done(entry.name, error=f"cannot read it: {error}", internal=True)))
                continue
            job = PackedJob(entry, data, batch.rubric, batch.options, settings, version)
            key = f"webgrade-{self._run}-{entry.name}-{attempt}"
            future = client.submit(
                grade_task,
                job,
                self._run,
                self.max_attempts,
                key,
                key=key,
                resources=needs,
                pure=False,
                retries=0,
            )
            self._running[future] = (entry, attempt)
            completed.add(future)  # type: ignore[no-untyped-call]
        return failed

    def _outcome(self, future: distributed.Future[Any], entry: Entry) -> Done | None:
        """The result of one task as the batch records it; None when the grading should be sent again."""
        try:
            result: TaskResult = future.result()
        except distributed.KilledWorker as error:
            return Done(
                entry.name,
                error=f"the grader's workers died {error.allowed_failures + 1} times while this submission "
                "was graded or waiting (the scheduler's distributed.scheduler.allowed-failures)",
                internal=True,
            )
        except Exception as error:  # the task itself failed on the worker: a fault of the grader
            return Done(entry.name, error=f"{type(error).__name__}: {error}", internal=True)
        done = dataclasses.replace(result.done, worker=result.worker, attempt=result.attempt)
        crashed = done.internal and not done.overtime and done.value is None and not result.exhausted
        if crashed and result.attempt < self.max_attempts:
            return None
        return done

    def close(self) -> None:
        """Give up what is still out (its gradings are stopped on the workers), and disconnect."""
        self._stop.set()
        if self._watch is not None:
            self._watch.join()
        client, self._client = self._client, None
        if client is not None:
            try:
                if self._running:
                    client.cancel(list(self._running), force=True)  # type: ignore[no-untyped-call]
                self._running.clear()
                if self._run:
                    client.set_metadata([ATTEMPTS, self._run], {})  # type: ignore[no-untyped-call]
            except Exception:  # the scheduler is gone: nothing left to give up
                pass
            client.close()  # type: ignore[no-untyped-call]
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.close()
