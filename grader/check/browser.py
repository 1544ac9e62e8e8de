"""A real browser for the browser checks: Debian's Chromium, driven by Playwright.

Header checks (``grader.check.cors``) predict whether a lesson's page can fetch the
API; loading the page in Chromium proves it, and Chromium says why when it
cannot (its console message, the failed request's CORS error, the preflight's
answer).  Which Chromium, and its flags, is ``grader.check.chromium``'s
business; what the page is and what its table should show is the lesson's
(``grader.lessons.web_server.page``).

One :class:`Browser` can serve a whole batch of gradings::

    from grader.check.browser import Browser
    from grader.grade import Options, grade

    with Browser() as browser:              # finds Chromium; launches it on first use
        for submission in submissions:
            report = grade(submission, rubric, Options(browser=browser))

Without ``Options.browser`` the browser check launches its own for the run.
Playwright's sync API belongs to the thread that started it, so the browser
lives in a thread of its own: :meth:`Browser.visit` may be called from any
thread, and visits run one at a time.  Each visit gets a fresh browser
context (no cookies or cache carried over between submissions).
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from grader.check.chromium import ENV_VAR, FLAGS, find_chromium, install_command, not_found_reason
from grader.errors import Unavailable

if TYPE_CHECKING:  # Playwright itself is imported only by a run that loads a page
    from playwright.sync_api import Browser as Chromium
    from playwright.sync_api import ConsoleMessage, Playwright

    #: One piece of work for the browser's thread, and where its result goes.
    Job = tuple[Callable[[Chromium], Any], concurrent.futures.Future[Any]]

LAUNCH_TIMEOUT_S = 30.0

T = TypeVar("T")


class BrowserUnavailable(Unavailable):
    """No browser to load the page with: none installed, or it would not start."""


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


@dataclass
class Visit:
    """What happened when the browser loaded the page: what it drew and what it reported."""

    page_url: str
    api_url: str
    #: The page itself did not load (an error of ours or of the page server), else None.
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
    screenshot: bytes | None = None

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


# Runs in the page before the page's own script: it only watches the page's fetch and
# uncaught errors, so the grader can stop waiting as soon as the outcome is known.
_OBSERVER = """
(() => {
  const state = window.__webgrade = {fetch: 'pending', status: null, errors: []};
  const fetch = window.fetch;
  window.fetch = function (...args) {
    const answer = fetch.apply(this, args);
    answer.then(r => { state.fetch = 'answered'; state.status = r.status; },
                e => { state.fetch = 'failed'; });
    return answer;
  };
  addEventListener('error', e => state.errors.push(String(e.message)));
  addEventListener('unhandledrejection', e => state.errors.push(String(e.reason)));
})();
"""

# Done: the fetch failed, answered other than 200, the script threw, or every row is drawn.
_DONE = """
([count, rows]) => {
  const s = window.__webgrade;
  if (!s || s.fetch === 'pending') return false;
  if (s.fetch === 'failed' || s.status !== 200 || s.errors.length) return true;
  return count !== null && document.querySelectorAll(rows).length >= count;
}
"""

_CELLS = "trs => trs.map(tr => Array.from(tr.cells, td => td.textContent))"


def _visit(
    browser: Chromium, page_url: str, api_url: str, records: Any, table: Table, timeout: float, screenshot: bool
) -> Visit:
    """Load the page in a fresh context and watch it until the table is drawn or the fetch fails."""
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

    context = browser.new_context()
    try:
        page = context.new_page()
        page.on("console", logged)
        cdp = context.new_cdp_session(page)  # Chromium's own network log: preflights and CORS errors
        cdp.on("Network.requestWillBeSent", sent)
        cdp.on("Network.responseReceived", received)
        cdp.on("Network.loadingFailed", failed)
        cdp.send("Network.enable")
        page.add_init_script(_OBSERVER)
        try:
            page.goto(page_url, wait_until="domcontentloaded", timeout=left_ms())
        except PlaywrightError as error:
            visit.page_error = str(error).splitlines()[0]
            return visit
        count = len(records) if isinstance(records, list) else None
        try:
            page.wait_for_function(_DONE, arg=[count, table.rows], timeout=left_ms())
        except PlaywrightTimeout:
            pass  # what the page did by then is the answer: the fetch stays "pending"
        state = page.evaluate("() => window.__webgrade")
        visit.fetch, visit.status, visit.errors = state["fetch"], state["status"], state["errors"]
        visit.rows = page.eval_on_selector_all(table.rows, _CELLS)
        if isinstance(records, list):
            visit.expected = page.evaluate(table.expected, records)
        if screenshot:
            visit.screenshot = page.screenshot(full_page=True)
    finally:
        context.close()
    return visit


class Browser:
    """Headless Chromium that any number of gradings can share; launched on first use.

    ``executable`` defaults to :func:`~grader.check.chromium.find_chromium`; when
    it is None, :meth:`visit` raises :class:`BrowserUnavailable`.  Close it (or
    use it as a context manager) to stop Chromium and Playwright's driver.
    """

    def __init__(self, executable: str | None = None, *, launch_timeout: float = LAUNCH_TIMEOUT_S) -> None:
        self.executable = executable or find_chromium()
        self.launch_timeout = launch_timeout
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        #: How many times Chromium was launched (once, unless it crashed).
        self.launches = 0

    # --- the public API ---

    def visit(
        self,
        page_url: str,
        api_url: str,
        records: Any,
        table: Table,
        timeout: float = 10.0,
        screenshot: bool = False,
    ) -> Visit:
        """Load ``page_url`` (a page fetching ``api_url``) and report what the browser did.

        ``records`` are the API's records as the grader fetched them, from which
        ``table`` says what the page should draw.  Waits at most ``timeout`` seconds for it.
        """
        return self._submit(
            lambda browser: _visit(browser, page_url, api_url, records, table, timeout, screenshot),
            self.launch_timeout + timeout + 10,
        )

    def close(self) -> None:
        """Stop Chromium and Playwright's driver; safe to call twice."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._jobs.put(None)
            thread.join(timeout=30)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the browser's own thread ---

    def _submit(self, work: Callable[[Chromium], T], timeout: float) -> T:
        if self.executable is None:
            raise BrowserUnavailable(
                f"expected a browser to load the page, saw none: {not_found_reason()}",
                f"install one: {install_command()}",
            )
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("this Browser is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webgrade-browser", daemon=True)
                self._thread.start()
            self._jobs.put((work, future))
        return future.result(timeout=timeout)

    def _launch(self, playwright: Playwright) -> Chromium:
        from playwright.sync_api import Error as PlaywrightError

        self.launches += 1
        try:
            return playwright.chromium.launch(
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

    def _run(self) -> None:
        from playwright.sync_api import sync_playwright  # imported here: only a run with a browser pays for it

        playwright: Playwright | None = None
        browser: Chromium | None = None
        try:
            while (job := self._jobs.get()) is not None:
                work, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    if playwright is None:
                        playwright = sync_playwright().start()
                    if browser is None or not browser.is_connected():  # relaunch after a crash
                        browser = self._launch(playwright)
                    future.set_result(work(browser))
                except BaseException as error:  # handed to the caller's thread
                    future.set_exception(error)
        finally:
            for stop in (browser and browser.close, playwright and playwright.stop):
                try:
                    if stop:
                        stop()
                except Exception:  # already gone: nothing left to stop
                    pass
