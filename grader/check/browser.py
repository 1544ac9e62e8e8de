"""A real browser for the browser checks: Debian's Chromium, driven by Playwright.

Header checks (``grader.check.cors``) predict whether a lesson's page can fetch the
API; loading the page in Chromium proves it, and Chromium says why when it
cannot (its console message, the failed request's CORS error, the preflight's
answer).  Which Chromium, and its flags, is ``grader.check.chromium``'s
business; what the page is and what its table should show is the lesson's
(``grader.lessons.web_server.page``).

The browser answers the page itself.  CORS compares origins byte for byte, so
the page must be loaded from exactly the configured origin; instead of binding
that origin's port (which any number of gradings on one machine would have to
take turns on, and which another program may hold), :func:`_answer_page` asks
Chromium, through its DevTools ``Fetch`` domain, to pause the one request for
the page's own URL and answers it with the page.  Nothing else is intercepted:
the page's fetch to the student's server, its preflight included, is Chromium's
own, and interception is turned off again once the page is answered.
(Playwright's ``page.route`` is not used on purpose: with routing on,
Playwright answers CORS preflights itself, and bad preflights would pass.)  A
page answered this way has no network address, which Chrome's Local Network
Access would count as public; see ``grader.check.chromium.LOCAL_NETWORK_ACCESS``.

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

import base64
import concurrent.futures
import ipaddress
import json
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from grader.check.chromium import ENV_VAR, FLAGS, find_chromium, install_command, not_found_reason
from grader.errors import Unavailable

if TYPE_CHECKING:  # Playwright itself is imported only by a run that loads a page
    from playwright.sync_api import Browser as Chromium
    from playwright.sync_api import BrowserContext, CDPSession, ConsoleMessage, Page, Playwright

    #: Work for the browser's thread: it returns its result, and what to do once the caller has it.
    Work = Callable[[Chromium], tuple[Any, Callable[[], None] | None]]
    Job = tuple[Work, concurrent.futures.Future[Any]]

LAUNCH_TIMEOUT_S = 30.0
#: The page's window: big enough for the lesson's table, small enough that its picture is a few tens of KB.
VIEWPORT = {"width": 800, "height": 600}

T = TypeVar("T")


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
class Table:
    """Where a page draws its table, and what it should draw there; the lesson's page module says."""

    #: A CSS selector of the drawn rows, e.g. ``#result tr``.
    rows: str
    #: A JavaScript function from the API's records to the cells each should draw
    #: (null for a cell the page cannot draw, or a record it cannot draw at all).
    expected: str


@dataclass
class Seen:
    """One answer the browser received, as Chromium's network log reported it."""

    status: int
    headers: dict[str, str]


@dataclass
class FailedRequest:
    """A request Chromium gave up on, with its CORS error when that was the reason."""

    method: str
    url: str
    error: str
    #: Chromium's CorsError name (e.g. "PreflightInvalidAllowCredentials") and the value it objected to.
    cors_error: str | None = None
    cors_parameter: str = ""


@dataclass(frozen=True)
class Memory:
    """What Chromium's processes (the browser and every child of it) held in memory at one moment."""

    #: Resident memory summed over the processes: pages shared between them are counted in each.
    rss: int
    #: Proportional: each shared page divided among the processes sharing it (None where unreadable).
    pss: int | None
    processes: int


@dataclass
class Visit:
    """What happened when the browser loaded the page: what it drew and what it reported."""

    page_url: str
    api_url: str
    #: The page itself did not load (an error of ours), else None.
    page_error: str | None = None
    #: The page's fetch: "pending" (no answer yet), "answered" or "failed" (rejected).
    fetch: str = "pending"
    status: int | None = None
    #: The table's rows as drawn: each row's cells' text.
    rows: list[list[str]] = field(default_factory=list)
    #: What the page's code draws from the API's records (None where a record lacks the key);
    #: None when the records are not a list.
    expected: list[list[str | None] | None] | None = None
    #: Console errors and warnings, and uncaught errors of the page's script.
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[FailedRequest] = field(default_factory=list)
    preflight: Seen | None = None
    response: Seen | None = None
    #: A PNG of the page as the browser drew it (its 800x600 window, about 25 KB), once the outcome
    #: was known; None when the page did not load.  Taken on every visit, for the outputs that show
    #: it: tens of milliseconds of the visit (drawing the page is most of it).
    screenshot: bytes | None = field(default=None, repr=False)

    @property
    def drew_table(self) -> bool:
        """The browser's verdict: the table shows one row per record, each with the cells the page's code draws."""
        return (
            self.fetch == "answered"  # an empty table is only right when the empty list did arrive
            and self.status == 200
            and self.expected is not None
            and all(row is not None and None not in row for row in self.expected)
            and self.rows == self.expected
        )

    def cors_failure(self) -> FailedRequest | None:
        """The API request that Chromium blocked for CORS, if any."""
        return next((f for f in self.failed if f.cors_error), None)

    def report(self) -> str:
        """Everything the browser reported, for -v."""
        lines = [f"page {self.page_url} fetching {self.api_url}"]
        if self.preflight is not None:
            lines.append(f"preflight OPTIONS answered {self.preflight.status}")
            lines.extend(f"  {k}: {v}" for k, v in sorted(self.preflight.headers.items()))
        if self.response is not None:
            lines.append(f"GET answered {self.response.status}")
            lines.extend(f"  {k}: {v}" for k, v in sorted(self.response.headers.items()))
        for failed in self.failed:
            cors = f" (CORS error {failed.cors_error} {failed.cors_parameter!r})" if failed.cors_error else ""
            lines.append(f"failed: {failed.method} {failed.url}: {failed.error}{cors}")
        lines.extend(f"console {line}" for line in self.console)
        lines.extend(f"script error: {line}" for line in self.errors)
        lines.append(f"table rows drawn: {self.rows}")
        return "\n".join(lines)


# Runs in the page before the page's own script: it only watches the page's fetch, uncaught
# errors and the rows drawn, and says DONE on the console once the outcome is known (the fetch
# failed, answered other than 200, the script threw, or every row is drawn), so the grader stops
# waiting then: an event, not a poll.  ARGS: [the rows expected or null, the rows' selector, DONE].
_OBSERVER = """
(() => {
  const [count, rows, done] = ARGS;
  const state = window.__webgrade = {fetch: 'pending', status: null, errors: [], done: false};
  const check = () => {
    if (state.done || state.fetch === 'pending') return;
    if (state.fetch === 'failed' || state.status !== 200 || state.errors.length
        || (count !== null && document.querySelectorAll(rows).length >= count)) {
      state.done = true;
      console.debug(done);
    }
  };
  const fetch = window.fetch;
  window.fetch = function (...args) {
    const answer = fetch.apply(this, args);
    answer.then(r => { state.fetch = 'answered'; state.status = r.status; check(); },
                e => { state.fetch = 'failed'; check(); });
    return answer;
  };
  addEventListener('error', e => { state.errors.push(String(e.message)); check(); });
  addEventListener('unhandledrejection', e => { state.errors.push(String(e.reason)); check(); });
  new MutationObserver(check).observe(document, {childList: true, subtree: true, characterData: true});
})();
"""


class _NotLoaded(Exception):
    """The page itself did not load: the Visit says why (Visit.page_error)."""


# Everything read back from the page, in one call: the fetch's outcome, the rows drawn (each row's
# cells' text) and what the page's code draws from the records (the lesson's EXPECTED function).
# ARGS: [the rows' selector, whether the records are a list, the records].
_OUTCOME = """
(([rows, isList, records]) => ({
  state: window.__webgrade,
  rows: Array.from(document.querySelectorAll(rows), tr => Array.from(tr.cells, td => td.textContent)),
  expected: isList ? (EXPECTED)(records) : null,
}))(ARGS)
"""


def _url_pattern(url: str) -> str:
    """``url`` as a DevTools Fetch pattern that matches it alone (``*`` and ``?`` are wildcards there)."""
    return url.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _answer_page(cdp: CDPSession, url: str, html: str) -> None:
    """Have Chromium answer the request for ``url`` with ``html`` itself, and leave every other request alone.

    Only ``url`` is paused (the Fetch pattern matches it alone); once it is
    answered, interception is turned off, so the page's own requests run
    exactly as from a page served over the network.
    """
    from playwright.sync_api import Error as PlaywrightError

    body = base64.b64encode(html.encode("utf-8")).decode("ascii")
    headers = [
        {"name": "Content-Type", "value": "text/html; charset=utf-8"},
        {"name": "Cache-Control", "value": "no-store"},
    ]

    def paused(event: dict[str, Any]) -> None:
        try:
            if event["request"]["url"] != url:  # the pattern matches url alone; never answer anything else
                cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
                return
            cdp.send(
                "Fetch.fulfillRequest",
                {"requestId": event["requestId"], "responseCode": 200, "responseHeaders": headers, "body": body},
            )
            cdp.send("Fetch.disable")
        except PlaywrightError:  # the page was closed meanwhile: nothing is waiting for the answer
            pass

    cdp.on("Fetch.requestPaused", paused)
    cdp.send("Fetch.enable", {"patterns": [{"urlPattern": _url_pattern(url), "requestStage": "Request"}]})


def _evaluate(cdp: CDPSession, expression: str) -> Any:
    """The value of ``expression`` in the page, read through DevTools directly: Playwright's page.evaluate
    first installs its own helper script in each new page, which a page read once does not need."""
    answer = cdp.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "timeout": 5000})
    if "exceptionDetails" in answer:
        details = answer["exceptionDetails"]
        raise RuntimeError(f"could not read the page: {details.get('exception', {}).get('description') or details}")
    return answer["result"].get("value")


def _screenshot(cdp: CDPSession) -> bytes | None:
    """A PNG of the page's window, straight from DevTools (Playwright's page.screenshot prepares more, and costs 4x);
    None if the page is gone."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return base64.b64decode(cdp.send("Page.captureScreenshot", {"format": "png"})["data"])
    except PlaywrightError:
        return None


@dataclass
class _Tab:
    """A fresh browser context with its one blank page and a DevTools session on it, never used before."""

    chromium: Chromium
    context: BrowserContext
    page: Page
    cdp: CDPSession


def _new_tab(chromium: Chromium) -> _Tab:
    """A fresh context and page.  Its renderer process takes most of a visit's time to start, so a
    :class:`Browser` makes the next one before it is needed (at launch, and after each visit)."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        return _Tab(chromium, context, page, context.new_cdp_session(page))
    except BaseException:
        _quietly(context.close)
        raise


def _visit(tab: _Tab, page_url: str, html: str, api_url: str, records: Any, table: Table, timeout: float) -> Visit:
    """Load the page in ``tab`` and watch it until the table is drawn or the fetch fails.

    The caller closes the tab's context, once the Visit is handed over.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    visit = Visit(page_url, api_url)
    deadline = time.monotonic() + timeout

    def left_ms() -> float:
        return max(1.0, (deadline - time.monotonic()) * 1000)

    requests: dict[str, tuple[str, str]] = {}

    def sent(event: dict[str, Any]) -> None:
        requests[event["requestId"]] = (event["request"]["method"], event["request"]["url"])

    def received(event: dict[str, Any]) -> None:
        if event["response"]["url"] != api_url:
            return
        seen = Seen(event["response"]["status"], {k.lower(): v for k, v in event["response"]["headers"].items()})
        if event.get("type") == "Preflight":
            visit.preflight = seen
        else:
            visit.response = seen

    def failed(event: dict[str, Any]) -> None:
        method, url = requests.get(event["requestId"], ("", ""))
        if url != api_url:
            return
        cors = event.get("corsErrorStatus") or {}
        visit.failed.append(
            FailedRequest(
                method, url, event.get("errorText", ""), cors.get("corsError"), cors.get("failedParameter", "")
            )
        )

    def logged(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            visit.console.append(f"{message.type}: {message.text}")

    page, cdp = tab.page, tab.cdp
    page.on("console", logged)
    cdp.on("Network.requestWillBeSent", sent)  # Chromium's own network log: preflights and CORS errors
    cdp.on("Network.responseReceived", received)
    cdp.on("Network.loadingFailed", failed)
    cdp.send("Network.enable")
    _answer_page(cdp, page_url, html)
    is_list = isinstance(records, list)
    done = f"webgrade: done {secrets.token_hex(8)}"
    page.add_init_script(_OBSERVER.replace("ARGS", json.dumps([len(records) if is_list else None, table.rows, done])))
    try:
        with page.expect_console_message(lambda message: message.text == done, timeout=left_ms()):
            try:
                page.goto(page_url, wait_until="commit", timeout=left_ms())
            except PlaywrightError as error:
                visit.page_error = str(error).splitlines()[0]
                raise _NotLoaded from None
    except _NotLoaded:
        return visit
    except PlaywrightTimeout:
        pass  # what the page did by then is the answer: the fetch stays "pending"
    outcome = _evaluate(
        cdp, _OUTCOME.replace("EXPECTED", table.expected).replace("ARGS", json.dumps([table.rows, is_list, records]))
    )
    state = outcome["state"] or {}  # gone only if the page's own script removed it: nothing was seen, then
    visit.fetch, visit.status = state.get("fetch", "pending"), state.get("status")
    visit.errors = state.get("errors", [])
    visit.rows, visit.expected = outcome["rows"], outcome["expected"]
    visit.screenshot = _screenshot(cdp)
    return visit


def _quietly(stop: Callable[[], object]) -> None:
    """Stop something that may be gone already (a crashed browser, a closed context)."""
    try:
        stop()
    except Exception:  # already gone: nothing left to stop
        pass


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
        self._spare: _Tab | None = None
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
        ``records`` are the API's records as the grader fetched them, from which
        ``table`` says what the page should draw.  Waits at most ``timeout`` seconds for it.
        """

        def work(chromium: Chromium) -> tuple[Visit, Callable[[], None]]:
            tab = self._tab(chromium)
            try:
                visit = _visit(tab, page_url, html, api_url, records, table, timeout)
            except BaseException:
                _quietly(tab.context.close)
                raise

            def after() -> None:  # once the caller has its Visit: the page is still open to be measured
                if self.track_memory and self._pid is not None:
                    now = _memory_of(self._pid, larger_than=self.memory.rss if self.memory else 0)
                    if now is not None:
                        self.memory = now
                _quietly(tab.context.close)
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
            self._spare = _new_tab(chromium)

    def _tab(self, chromium: Chromium) -> _Tab:
        """A fresh context and page for a visit: the one made ahead, unless Chromium was relaunched since."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.chromium is chromium:
            return spare
        return _new_tab(chromium)

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
                    _quietly(after)
        finally:
            # Stopping the driver closes Chromium (and removes its profile) in the driver itself, so it
            # completes even if this process exits meanwhile; closing Chromium from here first would not.
            if self._playwright is not None:
                _quietly(self._playwright.stop)
