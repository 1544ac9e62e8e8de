"""A real browser for the browser checks: Debian's Chromium, driven by Playwright.

Header checks (``grader.check.cors``) predict whether a lesson's page can fetch the
API; loading the page in Chromium proves it, and Chromium says why when it
cannot (its console message, the failed request's CORS error, the preflight's
answer).  Which Chromium, and its flags, is ``grader.check.chromium``'s
business; what the page is and what its table should show is the lesson's
(``grader.lessons.web_server.page``); one visit of a page (answered by the
browser itself, watched by a script in the page) is ``grader.check.page_visit``'s.
This module keeps Chromium running for any number of visits.

One :class:`Browser` can serve a whole batch of gradings::

    from grader.check.browser import Browser
    from grader.grade import Options, grade

    with Browser() as browser:              # finds Chromium; launches it on first use
        for submission in submissions:
            report = grade(submission, rubric, Options(browser=browser))

Without ``Options.browser`` the grading launches its own for the run, at its
very start (:meth:`Browser.start`), so the launch overlaps the server's boot.
Playwright's sync API belongs to the thread that started it, so the browser
lives in a thread of its own: :meth:`Browser.visit` may be called from any
thread, and visits run one at a time.  Each visit gets a fresh browser
context (no cookies or cache carried over between submissions).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from grader.check.chromium import ENV_VAR, FLAGS, find_chromium, install_command, not_found_reason
from grader.check.page_visit import Tab, Table, Visit, load, new_tab, quietly
from grader.errors import Unavailable

if TYPE_CHECKING:  # Playwright itself is imported only by a run that loads a page
    from playwright.sync_api import Browser as Chromium
    from playwright.sync_api import Playwright

    #: Work for the browser's thread: it returns its result, and what to do once the caller has it.
    Work = Callable[[Chromium], tuple[Any, Callable[[], None] | None]]
    Job = tuple[Work, concurrent.futures.Future[Any]]

LAUNCH_TIMEOUT_S = 30.0


class BrowserUnavailable(Unavailable):
    """No browser to load the page with: none installed, or it would not start."""


def address_space(host: str) -> str:
    """Where a host is, as Chrome's Local Network Access sees it: loopback, local or public."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "public"  # a name such as you.github.io
    if address.is_loopback:
        return "loopback"
    if address.is_private or address.is_link_local:
        return "local"
    return "public"


def on_this_computer(origin: str) -> bool:
    """Whether a page at ``origin`` can be loaded here as a real browser would load it: a loopback origin.

    The browser answers the page itself (see the module's docstring), with
    Local Network Access checks off; for a loopback page that changes nothing,
    for any other it would let a fetch through that Chrome stops.
    """
    return address_space(urlsplit(origin).hostname or "") == "loopback"


@dataclass(frozen=True)
class Memory:
    """What Chromium's processes (the browser and every child of it) held in memory at one moment."""

    #: Resident memory summed over the processes: pages shared between them are counted in each.
    rss: int
    #: Proportional: each shared page divided among the processes sharing it (None where unreadable).
    pss: int | None
    processes: int


def _memory_of(pid: int, larger_than: int = 0) -> Memory | None:
    """The memory of the process ``pid`` and all its descendants (psutil), or None when it is gone.

    Proportional memory (PSS) means reading each process's smaps, which costs tens of
    milliseconds: it is read only when the RSS sum exceeds ``larger_than`` (a new largest).
    """
    import psutil  # type: ignore[import-untyped]  # only a batch asks, once per page

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    resident: list[tuple[psutil.Process, int]] = []
    for process in tree:
        try:
            resident.append((process, process.memory_info().rss))
        except psutil.Error:  # a renderer that exited meanwhile
            continue
    rss = sum(r for _, r in resident)
    if rss <= larger_than:
        return None
    pss: int | None = 0
    for process, _ in resident:
        try:
            pss = None if pss is None else pss + process.memory_full_info().pss
        except psutil.AccessDenied:  # smaps unreadable: no proportional figure at all
            pss = None
        except psutil.Error:  # exited meanwhile
            continue
    return Memory(rss, pss, len(resident))


class Browser:
    """Headless Chromium that any number of gradings can share; launched on first use, or by :meth:`start`.

    ``executable`` defaults to :func:`~grader.check.chromium.find_chromium`; when
    it is None, :meth:`visit` raises :class:`BrowserUnavailable`.  With
    ``track_memory``, :attr:`memory` keeps the largest :class:`Memory` that
    Chromium's processes held while a page was open (a batch reports it).
    The first page's context is made as soon as Chromium is up (:meth:`start`);
    with ``prepare_next`` (the default) the next one is made after each visit,
    while nobody waits, so a visit costs only the page (a regrade on every
    save).  A batch, bound by the CPU, gains nothing from it, and a single
    grading has no next visit: they turn it off.  Close it (or use it as a
    context manager) to stop Chromium and Playwright's driver.
    """

    def __init__(
        self,
        executable: str | None = None,
        *,
        launch_timeout: float = LAUNCH_TIMEOUT_S,
        track_memory: bool = False,
        prepare_next: bool = True,
    ) -> None:
        self.executable = executable or find_chromium()
        self.launch_timeout = launch_timeout
        self.track_memory = track_memory
        self.prepare_next = prepare_next
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Notified when a launch ends: close(wait=False) waits for a launch under way, and only for that.
        self._launch_ended = threading.Condition(self._lock)
        self._launching = False
        self._closed = False
        self._started: concurrent.futures.Future[Any] | None = None
        #: The launch start() began failed: the next visit says so rather than trying again at once.
        self._start_failure: BaseException | None = None
        # The browser's thread's own: Playwright's sync objects belong to the thread that made them.
        self._playwright: Playwright | None = None
        self._chromium: Chromium | None = None
        self._spare: Tab | None = None
        self._pid: int | None = None
        #: How many times Chromium was launched (once, unless it crashed).
        self.launches = 0
        #: The most memory Chromium held with a page open (only with ``track_memory``).
        self.memory: Memory | None = None

    # --- the public API ---

    def start(self) -> Browser:
        """Begin launching Chromium now, in the browser's thread, and return at once.

        A grading calls it beside the server's start, so the launch overlaps
        the server's boot and the HTTP checks, and the visit then costs only
        the page.  Without a browser installed it does nothing (:meth:`visit` says why).
        """
        if self.executable is not None:
            with self._lock:
                if self._started is None and not self._closed:
                    # Once launched, the first page's context is made too: the visit then costs only the page.
                    self._started = self._enqueue(lambda chromium: (None, lambda: self._prepare(chromium)))
        return self

    def visit(self, page_url: str, html: str, api_url: str, records: Any, table: Table, timeout: float = 10.0) -> Visit:
        """Load ``html`` as the page at ``page_url`` (a page fetching ``api_url``) and report what the browser did.

        The browser answers ``page_url`` itself: no port is bound for it, so any
        number of visits to one URL, from any number of Browsers, run at once.
        ``table`` says what the page should draw from the records its own fetch
        received; ``records``, the API's records as the grader fetched them,
        stand in only when the page received no JSON (:attr:`Visit.from_page`).
        Waits at most ``timeout`` seconds for it.
        """

        def work(chromium: Chromium) -> tuple[Visit, Callable[[], None]]:
            tab = self._tab(chromium)
            try:
                visit = load(tab, page_url, html, api_url, records, table, timeout)
            except BaseException:
                quietly(tab.context.close)
                raise

            def after() -> None:  # once the caller has its Visit: the page is still open to be measured
                if self.track_memory and self._pid is not None:
                    now = _memory_of(self._pid, larger_than=self.memory.rss if self.memory else 0)
                    if now is not None:
                        self.memory = now
                quietly(tab.context.close)
                if self.prepare_next:
                    self._prepare(chromium)

            return visit, after

        visit: Visit = self._submit(work, self.launch_timeout + timeout + 10)
        return visit

    def close(self, wait: bool = True) -> None:
        """Stop Chromium and Playwright's driver; safe to call twice.

        ``wait=False`` returns as soon as this process may exit without
        leaving anything behind: at once, unless Chromium is being launched
        right now (a launch cut short can leave its files), and a launch not
        yet begun never begins.  The browser's thread then stops the driver,
        which closes Chromium and removes its profile, even if this process
        exits meanwhile (the driver sees its pipe close and does the same).
        """
        with self._lock:
            first = not self._closed
            self._closed = True
            thread = self._thread
            if self._started is not None:
                self._started.cancel()  # not begun yet: no need to launch at all
            if not wait:
                while self._launching:
                    self._launch_ended.wait(timeout=self.launch_timeout)
        if thread is None:
            return
        if first:
            self._jobs.put(None)
        if wait:
            thread.join(timeout=30)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the browser's own thread ---

    def _enqueue(self, work: Work) -> concurrent.futures.Future[Any]:
        """Hand ``work`` to the browser's thread (started on first use); the caller holds ``_lock``."""
        if self._closed:
            raise RuntimeError("this Browser is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webgrade-browser", daemon=True)
            self._thread.start()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((work, future))
        return future

    def _submit(self, work: Work, timeout: float) -> Any:
        if self.executable is None:
            raise BrowserUnavailable(
                f"expected a browser to load the page, saw none: {not_found_reason()}",
                f"install one: {install_command()}",
            )
        with self._lock:
            future = self._enqueue(work)
        return future.result(timeout=timeout)

    def _running(self, starting: bool) -> Chromium:
        """Chromium, launched now if it is not running (first use, or after a crash); in the browser's thread."""
        if self._chromium is not None and self._chromium.is_connected():
            return self._chromium
        if self._start_failure is not None:
            failure, self._start_failure = self._start_failure, None
            raise failure
        self._unless_closed()
        if self._playwright is None:
            from playwright.sync_api import sync_playwright  # imported here: only a run with a browser pays for it

            self._playwright = sync_playwright().start()
        with self._lock:
            self._unless_closed()
            self._launching = True
        try:
            self._chromium = self._launch(self._playwright)
        except BaseException as error:
            if starting:  # nobody waits on start(): the next visit reports it
                self._start_failure = error
            raise
        finally:
            with self._lock:
                self._launching = False
                self._launch_ended.notify_all()
        return self._chromium

    def _prepare(self, chromium: Chromium) -> None:
        """Make the next visit's fresh context and page now, while nobody waits (in the browser's thread)."""
        if self._spare is None and not self._closed and chromium.is_connected():
            self._spare = new_tab(chromium)

    def _tab(self, chromium: Chromium) -> Tab:
        """A fresh context and page for a visit: the one made ahead, unless Chromium was relaunched since."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.chromium is chromium:
            return spare
        return new_tab(chromium)

    def _unless_closed(self) -> None:
        """Closed before its launch (a grading whose server never started): launch nothing nobody will use."""
        if self._closed:
            raise BrowserUnavailable("expected to launch the browser, saw it closed first")

    def _launch(self, playwright: Playwright) -> Chromium:
        from playwright.sync_api import Error as PlaywrightError

        self.launches += 1
        try:
            chromium = playwright.chromium.launch(
                executable_path=self.executable,
                headless=True,
                args=list(FLAGS),
                chromium_sandbox=False,
                timeout=self.launch_timeout * 1000,
                # Marks Chromium's processes as this grader's, as the server's are, so a
                # test can prove none outlives the run.
                env={**os.environ, "WEBGRADE_PARENT": str(os.getpid())},
            )
        except PlaywrightError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BrowserUnavailable(
                f"expected the browser {self.executable} to start, saw: {first}",
                f"run `{self.executable} --headless --no-sandbox --dump-dom about:blank` to see why, "
                f"or set {ENV_VAR} to another Chromium",
            ) from None
        if self.track_memory:  # which process is Chromium's browser process: the root of the tree measured
            processes = chromium.new_browser_cdp_session().send("SystemInfo.getProcessInfo")["processInfo"]
            self._pid = next((p["id"] for p in processes if p["type"] == "browser"), None)
        return chromium

    def _run(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                work, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                after = None
                try:
                    result, after = work(self._running(starting=future is self._started))
                    future.set_result(result)
                except BaseException as error:  # handed to the caller's thread
                    future.set_exception(error)
                if after is not None:
                    quietly(after)
        finally:
            # Stopping the driver closes Chromium (and removes its profile) in the driver itself, so it
            # completes even if this process exits meanwhile; closing Chromium from here first would not.
            if self._playwright is not None:
                quietly(self._playwright.stop)
