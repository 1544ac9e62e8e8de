"""Warm worker processes: each imports the grader once, then grades many submissions.

Not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one task that
runs past its time limit without breaking the whole pool (killing a worker
fails every pending future), and a batch must outlive a hanging submission.
Here each worker has its own pipe; a worker past its deadline is stopped and
replaced while the others carry on.

Processes come from ``forkserver`` (``spawn`` where there is none), never
from a plain fork of the batch, which runs threads (rich's live display).
Each task runs in the worker's main thread: the launcher asks the kernel for
a signal when the *thread* that started it ends (``PR_SET_PDEATHSIG``), and
the main thread lives as long as the worker.

Stopping, whatever happens to the batch:

* a worker told to stop (SIGTERM) unwinds the grading in progress, so its
  server is stopped and its temporary files removed, then exits;
* a worker whose batch died (even by SIGKILL) notices at once, through the
  pipe :func:`multiprocessing.parent_process` gives it, and stops the same way;
* if unwinding takes too long, it exits anyway, and the kernel signals its
  servers' supervisors (``PR_SET_PDEATHSIG``), which stop their trees.

Two ways to drive it: :meth:`Pool.run` grades a list known in advance (the
local batch); :meth:`Pool.start` then :meth:`Pool.submit` serves tasks as
they come, from any thread, with ``size`` workers kept warm (a Dask worker's
pool: ``grader.batch.cluster``, where Dask only hands work to this pool, since
Dask itself can neither time a task out nor stop a running one).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext, SpawnContext
from types import FrameType
from typing import Any

#: How long a worker may take to unwind a grading after SIGTERM before it is killed.
GRACE_S = 5.0


@dataclass
class Done:
    """One finished task: its value, or why there is none."""

    key: str
    value: Any = None
    error: str = ""
    #: The grader failed (a worker crashed), not the submission: worth grading again.
    internal: bool = False
    overtime: bool = False
    duration_s: float = 0.0
    #: Where it ran and which start of it this was, when a cluster says (``grader.batch.cluster``).
    worker: str = ""
    attempt: int = 0


class PoolError(Exception):
    """The workers themselves cannot run (a worker died before it was ready): a fault of the grader."""


class PoolClosed(Exception):
    """The pool was closed before this task finished: it never ran, or was stopped; run it elsewhere."""


@dataclass
class _Task:
    key: str
    payload: Any
    time_limit: float
    #: Served tasks only (:meth:`Pool.submit`): where the caller waits for its :class:`Done`.
    future: concurrent.futures.Future[Done] | None = None


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    #: It has warmed up and said so: tasks go only to ready workers.
    ready: bool = False
    task: _Task | None = None
    started: float = 0.0
    deadline: float = float("inf")
    #: When a retiring worker is killed if it has not exited yet.
    kill_at: float = field(default=float("inf"))

    @property
    def key(self) -> str | None:
        return self.task.key if self.task is not None else None


class _Retiring:
    """Workers on their way out: each told to stop, joined once it has exited, killed if not by its ``kill_at``."""

    def __init__(self) -> None:
        self.workers: list[_Worker] = []

    def stop(self, worker: _Worker) -> None:
        """Tell a worker to stop its grading and exit; it is killed if it has not within :data:`GRACE_S`."""
        try:
            os.kill(worker.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self._add(worker)

    def dismiss(self, worker: _Worker) -> None:
        """Tell an idle worker to exit; it is killed if it has not within :data:`GRACE_S`."""
        try:
            worker.conn.send(None)
        except OSError:
            pass
        self._add(worker)

    def _add(self, worker: _Worker) -> None:
        worker.conn.close()
        worker.kill_at = time.monotonic() + GRACE_S
        self.workers.append(worker)

    def reap(self) -> None:
        for worker in list(self.workers):
            if not worker.process.is_alive():
                worker.process.join()
                self.workers.remove(worker)
            elif time.monotonic() >= worker.kill_at:
                worker.process.kill()
                worker.process.join()
                self.workers.remove(worker)

    def wait(self) -> None:
        """Until every worker has exited or been killed."""
        # Ends by itself: reap kills each worker still there at its kill_at.  No deadline of our
        # own, which a loaded machine could pass before that, leaving a worker neither killed nor joined.
        while self.workers:
            self.reap()
            if self.workers:
                time.sleep(0.01)


class Pool:
    """``size`` worker processes that run ``work(payload)``, after ``warm()`` once each.

    ``work`` and ``warm`` must be module-level functions (they are pickled);
    ``preload`` names modules the fork server imports once for all workers;
    ``spawn`` starts each worker afresh instead (no fork server).
    """

    def __init__(
        self,
        size: int,
        work: Callable[[Any], Any],
        *,
        warm: Callable[[], None] | None = None,
        preload: tuple[str, ...] = (),
        spawn: bool = False,
    ) -> None:
        self._ctx: ForkServerContext | SpawnContext
        if "forkserver" in multiprocessing.get_all_start_methods() and not spawn:
            self._ctx = multiprocessing.get_context("forkserver")
        else:  # spawn needs no socket in a temporary folder, so a process killed with SIGKILL leaves none
            self._ctx = multiprocessing.get_context("spawn")
        if preload and self._ctx.get_start_method() == "forkserver":
            self._ctx.set_forkserver_preload(list(preload))
        self.size = max(1, size)
        self._work, self._warm = work, warm
        self._workers: list[_Worker] = []
        self._retiring = _Retiring()
        #: Process ids of every worker started, for the tests that prove nothing is left behind.
        self.pids: list[int] = []
        # Served mode (start/submit): the queue the caller's threads fill, and how they wake the pool's thread.
        self._todo: deque[_Task] = deque()
        self._lock = threading.Lock()
        self._serving = False
        self._closing = False
        self._broken: PoolError | None = None
        self._cancel: set[str] = set()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._all_ready = threading.Event()

    def _spawn(self) -> _Worker:
        ours, theirs = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_serve, args=(theirs, self._work, self._warm), name="webgrade-worker", daemon=True
        )
        process.start()
        theirs.close()
        assert process.pid is not None  # started
        self.pids.append(process.pid)
        return _Worker(process, ours)

    def run(self, tasks: list[tuple[str, Any]], time_limit: float) -> Iterator[Done]:
        """Run every ``(key, payload)``, yielding each as it finishes; a task past ``time_limit`` s is stopped.

        The clock of a task starts when a ready worker takes it, so a worker's
        own start-up never counts against a submission.
        """
        todo = deque(_Task(key, payload, time_limit) for key, payload in tasks)
        self._workers = [self._spawn() for _ in range(min(self.size, len(todo)))]
        while todo or any(w.task is not None for w in self._workers):
            for _, done in self._step(todo):
                yield done

    # --- served: tasks submitted one by one, from any thread ---

    def start(self, ready_within: float | None = None) -> Pool:
        """Start ``size`` workers and a thread that serves :meth:`submit`; wait for the workers to be ready.

        Raises :class:`PoolError` if a worker cannot start, or ``TimeoutError``
        if they are not all ready within ``ready_within`` seconds.
        """
        self._serving = True
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._workers = [self._spawn() for _ in range(self.size)]
        self._thread = threading.Thread(target=self._serve_forever, name="webgrade-pool", daemon=True)
        self._thread.start()
        if not self._all_ready.wait(ready_within):
            raise TimeoutError(f"the grader's {self.size} worker processes were not ready within {ready_within:g} s")
        if self._broken is not None:
            raise self._broken
        return self

    def submit(self, key: str, payload: Any, time_limit: float) -> concurrent.futures.Future[Done]:
        """Queue one task; its future gets the :class:`Done`, or :class:`PoolClosed` / :class:`PoolError`."""
        future: concurrent.futures.Future[Done] = concurrent.futures.Future()
        with self._lock:
            if self._broken is not None:
                future.set_exception(self._broken)
            elif self._closing or not self._serving:
                future.set_exception(PoolClosed("the pool is not serving"))
            else:
                self._todo.append(_Task(key, payload, time_limit, future))
        self._wake()
        return future

    def cancel(self, key: str) -> None:
        """Give up on a submitted task: dropped if it waits, its worker stopped and replaced if it runs."""
        with self._lock:
            self._cancel.add(key)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:  # not serving, or closed meanwhile: nothing to wake
            pass

    def _serve_forever(self) -> None:
        """The pool's own thread: the only one that touches the workers."""
        try:
            while not self._closing:
                for task, done in self._step(self._todo):
                    if task.future is not None:
                        task.future.set_result(done)
                self._cancel_requested()
                if not self._all_ready.is_set() and all(w.ready for w in self._workers):
                    self._all_ready.set()
        except PoolError as error:
            with self._lock:
                self._broken = error
            self._all_ready.set()
            self._fail_waiting(error)

    def _cancel_requested(self) -> None:
        with self._lock:
            keys, self._cancel = self._cancel, set()
            dropped = [t for t in self._todo if t.key in keys]
            for task in dropped:
                self._todo.remove(task)
        for task in dropped:
            if task.future is not None:
                task.future.set_exception(PoolClosed("cancelled before it ran"))
        for worker in list(self._workers):
            if worker.task is not None and worker.task.key in keys:
                task = worker.task
                self._retiring.stop(worker)
                self._replace(worker, self._todo)
                if task.future is not None:
                    task.future.set_exception(PoolClosed("cancelled while it ran"))

    def _fail_waiting(self, error: Exception) -> None:
        """Every task not finished gets ``error``: those queued, and those on a worker."""
        with self._lock:
            waiting, self._todo = list(self._todo), deque()
        waiting += [w.task for w in self._workers if w.task is not None]
        for task in waiting:
            if task.future is not None and not task.future.done():
                task.future.set_exception(error)

    # --- one turn of the loop, shared by run() and the served mode ---

    def _step(self, todo: deque[_Task]) -> list[tuple[_Task, Done]]:
        """Dispatch what can be, wait for a message, a death or a deadline, and return the tasks finished."""
        self._dispatch(todo)
        listening = [w for w in self._workers if w.task is not None or not w.ready]
        deadlines = [w.deadline for w in self._workers if w.task is not None]
        wait_s = max(0.0, min([*deadlines, time.monotonic() + 0.5]) - time.monotonic())
        watched: list[Any] = [w.conn for w in listening] + [w.process.sentinel for w in self._workers]
        if self._wake_r >= 0:
            watched.append(self._wake_r)
        ready = set(multiprocessing.connection.wait(watched, timeout=wait_s))
        if self._wake_r in ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        finished: list[tuple[_Task, Done]] = []
        for worker in list(self._workers):
            task = worker.task
            took = time.monotonic() - worker.started
            if worker.conn in ready:
                try:
                    kind, key, value = worker.conn.recv()
                except (EOFError, OSError):
                    pass  # it died: seen by its sentinel below
                else:
                    if kind == "ready":
                        worker.ready = True
                    elif task is not None:
                        ok = kind == "ok"
                        finished.append(
                            (task, Done(key, value if ok else None, "" if ok else value, not ok, duration_s=took))
                        )
                        worker.task = None
                    continue
            if worker.process.sentinel in ready:
                worker.process.join()
                if not worker.ready:
                    raise PoolError(f"a worker process could not start (exit code {worker.process.exitcode})")
                if task is not None:
                    finished.append(
                        (
                            task,
                            Done(
                                task.key,
                                error=f"the grader's worker process stopped unexpectedly "
                                f"(exit code {worker.process.exitcode})",
                                internal=True,
                                duration_s=took,
                            ),
                        )
                    )
                self._replace(worker, todo)
            elif task is not None and time.monotonic() >= worker.deadline:
                finished.append(
                    (
                        task,
                        Done(
                            task.key,
                            error=f"grading took longer than the time limit of {task.time_limit:g} s",
                            overtime=True,
                            duration_s=took,
                        ),
                    )
                )
                self._retiring.stop(worker)
                self._replace(worker, todo)
        self._retiring.reap()
        return finished

    def _dispatch(self, todo: deque[_Task]) -> None:
        """Send a task to every worker that is ready and idle."""
        for worker in self._workers:
            if worker.task is not None or not worker.ready:
                continue
            with self._lock:
                if not todo:
                    return
                task = todo.popleft()
            try:
                worker.conn.send((task.key, task.payload))
            except OSError:  # it died while idle: its sentinel says so next
                with self._lock:
                    todo.appendleft(task)
                continue
            worker.task, worker.started = task, time.monotonic()
            worker.deadline = worker.started + task.time_limit

    def _replace(self, worker: _Worker, todo: deque[_Task]) -> None:
        """A worker is gone: start another if there is work for it (always, when serving: kept warm)."""
        self._workers.remove(worker)
        if self._serving or todo:
            self._workers.append(self._spawn())

    def close(self) -> None:
        """Stop every worker: idle ones at once, busy ones after unwinding their grading; wait for all.

        When serving, every task not finished gets :class:`PoolClosed` first.
        """
        if self._serving:
            with self._lock:
                self._closing = True
            self._wake()
            if self._thread is not None:
                self._thread.join()
            self._fail_waiting(PoolClosed("the pool was closed"))
        for worker in self._workers:
            if worker.task is None:
                self._retiring.dismiss(worker)
            else:
                self._retiring.stop(worker)
        self._workers = []
        self._retiring.wait()
        if self._wake_r >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- in the worker process ---

_stopping = threading.Event()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Unwind the grading in progress (its ``finally`` stops the server), once."""
    if not _stopping.is_set():
        _stopping.set()
        raise KeyboardInterrupt


def _watch_parent() -> None:
    """Stop this worker when the batch that started it dies, however it died."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    multiprocessing.connection.wait([parent.sentinel])
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os._exit(1)  # unwinding hung: the servers' supervisors get PR_SET_PDEATHSIG and stop their trees


def _serve(
    conn: multiprocessing.connection.Connection, work: Callable[[Any], Any], warm: Callable[[], None] | None
) -> None:
    """A worker's main loop: run each task sent, send back ``(kind, key, value)``, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the batch decides
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(target=_watch_parent, daemon=True, name="webgrade-watch-parent").start()
    try:
        if warm is not None:
            warm()
        conn.send(("ready", None, None))
        while not _stopping.is_set():
            try:
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            key, payload = task
            try:
                message = ("ok", key, work(payload))
            except Exception as error:  # reported as the grader's failure for this one submission
                message = ("error", key, f"{type(error).__name__}: {error}")
            if _stopping.is_set():  # pytest turns KeyboardInterrupt into an early, partial result
                return
            conn.send(message)
    except KeyboardInterrupt:
        return
