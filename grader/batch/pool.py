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
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


class PoolError(Exception):
    """The workers themselves cannot run (a worker died before it was ready): a fault of the grader."""


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    #: It has warmed up and said so: tasks go only to ready workers.
    ready: bool = False
    key: str | None = None
    started: float = 0.0
    deadline: float = float("inf")
    #: When a retiring worker is killed if it has not exited yet.
    kill_at: float = field(default=float("inf"))


class Pool:
    """``size`` worker processes that run ``work(payload)``, after ``warm()`` once each.

    ``work`` and ``warm`` must be module-level functions (they are pickled);
    ``preload`` names modules the fork server imports once for all workers.
    """

    def __init__(
        self,
        size: int,
        work: Callable[[Any], Any],
        *,
        warm: Callable[[], None] | None = None,
        preload: tuple[str, ...] = (),
    ) -> None:
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if preload and self._ctx.get_start_method() == "forkserver":
            self._ctx.set_forkserver_preload(list(preload))
        self.size = max(1, size)
        self._work, self._warm = work, warm
        self._workers: list[_Worker] = []
        self._retiring: list[_Worker] = []
        #: Process ids of every worker started, for the tests that prove nothing is left behind.
        self.pids: list[int] = []

    def _spawn(self) -> _Worker:
        ours, theirs = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_serve, args=(theirs, self._work, self._warm), name="webgrade-worker", daemon=True
        )
        process.start()
        theirs.close()
        self.pids.append(process.pid)
        return _Worker(process, ours)

    def run(self, tasks: list[tuple[str, Any]], time_limit: float) -> Iterator[Done]:
        """Run every ``(key, payload)``, yielding each as it finishes; a task past ``time_limit`` s is stopped.

        The clock of a task starts when a ready worker takes it, so a worker's
        own start-up never counts against a submission.
        """
        todo = deque(tasks)
        self._workers = [self._spawn() for _ in range(min(self.size, len(todo)))]
        while todo or any(w.key is not None for w in self._workers):
            self._dispatch(todo, time_limit)
            listening = [w for w in self._workers if w.key is not None or not w.ready]
            deadlines = [w.deadline for w in self._workers if w.key is not None]
            wait_s = max(0.0, min([*deadlines, time.monotonic() + 0.5]) - time.monotonic())
            ready = set(
                multiprocessing.connection.wait(
                    [w.conn for w in listening] + [w.process.sentinel for w in self._workers], timeout=wait_s
                )
            )
            finished: list[Done] = []
            for worker in list(self._workers):
                took = time.monotonic() - worker.started
                if worker.conn in ready:
                    try:
                        kind, key, value = worker.conn.recv()
                    except (EOFError, OSError):
                        pass  # it died: seen by its sentinel below
                    else:
                        if kind == "ready":
                            worker.ready = True
                        else:
                            ok = kind == "ok"
                            finished.append(
                                Done(key, value if ok else None, "" if ok else value, not ok, duration_s=took)
                            )
                            worker.key = None
                        continue
                if worker.process.sentinel in ready:
                    worker.process.join()
                    if not worker.ready:
                        raise PoolError(f"a worker process could not start (exit code {worker.process.exitcode})")
                    if worker.key is not None:
                        finished.append(
                            Done(
                                worker.key,
                                error=f"the grader's worker process stopped unexpectedly "
                                f"(exit code {worker.process.exitcode})",
                                internal=True,
                                duration_s=took,
                            )
                        )
                    self._replace(worker, todo)
                elif worker.key is not None and time.monotonic() >= worker.deadline:
                    finished.append(
                        Done(
                            worker.key,
                            error=f"grading took longer than the time limit of {time_limit:g} s",
                            overtime=True,
                            duration_s=took,
                        )
                    )
                    self._retire(worker)
                    self._replace(worker, todo)
            self._reap()
            yield from finished

    def _dispatch(self, todo: deque, time_limit: float) -> None:
        """Send a task to every worker that is ready and idle."""
        for worker in self._workers:
            if worker.key is not None or not worker.ready or not todo:
                continue
            key, payload = todo.popleft()
            try:
                worker.conn.send((key, payload))
            except OSError:  # it died while idle: its sentinel says so next
                todo.appendleft((key, payload))
                continue
            worker.key, worker.started = key, time.monotonic()
            worker.deadline = worker.started + time_limit

    def _replace(self, worker: _Worker, todo: deque) -> None:
        self._workers.remove(worker)
        if todo:
            self._workers.append(self._spawn())

    def _retire(self, worker: _Worker) -> None:
        """Tell a worker to stop its grading and exit; it is killed if it has not within :data:`GRACE_S`."""
        try:
            os.kill(worker.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        worker.conn.close()
        worker.kill_at = time.monotonic() + GRACE_S
        self._retiring.append(worker)

    def _reap(self) -> None:
        for worker in list(self._retiring):
            if not worker.process.is_alive():
                worker.process.join()
                self._retiring.remove(worker)
            elif time.monotonic() >= worker.kill_at:
                worker.process.kill()
                worker.process.join()
                self._retiring.remove(worker)

    def close(self) -> None:
        """Stop every worker: idle ones at once, busy ones after unwinding their grading; wait for all."""
        for worker in self._workers:
            if worker.key is None:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
                worker.conn.close()
                worker.kill_at = time.monotonic() + GRACE_S
                self._retiring.append(worker)
            else:
                self._retire(worker)
        self._workers = []
        # Ends by itself: _reap kills each worker still there at its kill_at.  No deadline of our
        # own, which a loaded machine could pass before that, leaving a worker neither killed nor joined.
        while self._retiring:
            self._reap()
            if self._retiring:
                time.sleep(0.01)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- in the worker process ---

_stopping = threading.Event()


def _on_sigterm(signum, frame) -> None:
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
