"""One page load in Chromium: the page answered by the browser itself, the script that watches it, what it saw.

:class:`~grader.check.browser.Browser` owns Chromium and its thread; this
module is one visit in a fresh tab.  CORS compares origins byte for byte, so
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

The page-side script (:data:`_OBSERVER`) watches the page's own fetch and keeps
the body it received, so the table is judged against what the page itself was
sent, not against the grader's own, earlier request (a server may answer each
request differently: a list that grows on every request).  Playwright is
imported only inside the functions, by the browser's thread.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader.check.client import MAX_BODY_BYTES

if TYPE_CHECKING:  # Playwright itself is imported only by a run that loads a page
    from playwright.sync_api import Browser as Chromium
    from playwright.sync_api import BrowserContext, CDPSession, ConsoleMessage, Page

#: The page's window: big enough for the lesson's table, small enough that its picture is a few tens of KB.
VIEWPORT = {"width": 800, "height": 600}


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
    #: The page itself did not load (an error of ours), else None.
    page_error: str | None = None
    #: The page's fetch: "pending" (no answer yet), "answered" or "failed" (rejected).
    fetch: str = "pending"
    status: int | None = None
    #: The table's rows as drawn: each row's cells' text.
    rows: list[list[str]] = field(default_factory=list)
    #: What the page's code draws from :attr:`records` (None where a record lacks the key);
    #: None when the records are not a list.
    expected: list[list[str | None] | None] | None = None
    #: The records :attr:`expected` is drawn from: the JSON the page's own fetch received
    #: (``from_page``), or the grader's records when the page received none it could parse.
    records: Any = None
    from_page: bool = False
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
        whose = "the records the page received" if self.from_page else "the grader's records (the page received none)"
        lines.append(f"table rows expected from {whose}: {self.expected}")
        return "\n".join(lines)


# Runs in the page before the page's own script: it only watches the page's fetch, uncaught
# errors and the rows drawn, and says DONE on the console once the outcome is known (the fetch
# failed, answered other than 200, the script threw, or every row is drawn), so the grader stops
# waiting then: an event, not a poll.  It keeps the body of the page's fetch (a copy, read beside
# the page's own reading; at most MOST characters): every row is drawn when there is one per record
# the page received (per record of the grader's when the page's body is not JSON).
# ARGS: [the grader's record count or null, the rows' selector, DONE, MOST].
_OBSERVER = """
(() => {
  const [count, rows, done, most] = ARGS;
  const state = window.__webgrade = {fetch: 'pending', status: null, errors: [], done: false, body: null, read: false};
  let wanted = count;
  const check = () => {
    if (state.done || state.fetch === 'pending') return;
    const drawn = state.read && wanted !== null && document.querySelectorAll(rows).length >= wanted;
    if (state.fetch === 'failed' || state.status !== 200 || state.errors.length || drawn) {
      state.done = true;
      console.debug(done);
    }
  };
  const keep = text => {
    if (text.length > most) return;
    state.body = text;
    try {
      const data = JSON.parse(text);
      wanted = Array.isArray(data) ? data.length : null;
    } catch (e) {}  // not JSON: the page's own reading fails too, and says so
  };
  const fetch = window.fetch;
  window.fetch = function (...args) {
    const answer = fetch.apply(this, args);
    answer.then(r => {
      // This runs before the page's own handlers (it was attached first), so the body is not read yet.
      let copy = null;
      try { copy = r.status === 200 ? r.clone() : null; } catch (e) {}
      Object.assign(state, {fetch: 'answered', status: r.status, body: null, read: copy === null});
      if (copy !== null) {
        copy.text().then(keep, () => {}).finally(() => { state.read = true; check(); });
      }
      check();
    }, e => { state.fetch = 'failed'; check(); });
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
# cells' text) and what the page's code draws (the lesson's EXPECTED function) from the records the
# page received, parsed as the page parses them, or from the grader's when it received no JSON.
# ARGS: [the rows' selector, the grader's records].
_OUTCOME = """
(([rows, records]) => {
  const state = window.__webgrade;
  let fromPage = false;
  if (state && typeof state.body === 'string') {
    try { records = JSON.parse(state.body); fromPage = true; } catch (e) {}
  }
  return {
    state: state,
    fromPage: fromPage,
    rows: Array.from(document.querySelectorAll(rows), tr => Array.from(tr.cells, td => td.textContent)),
    expected: Array.isArray(records) ? (EXPECTED)(records) : null,
  };
})(ARGS)
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
class Tab:
    """A fresh browser context with its one blank page and a DevTools session on it, never used before."""

    chromium: Chromium
    context: BrowserContext
    page: Page
    cdp: CDPSession


def new_tab(chromium: Chromium) -> Tab:
    """A fresh context and page.  Its renderer process takes most of a visit's time to start, so a
    :class:`Browser` makes the next one before it is needed (at launch, and after each visit)."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        return Tab(chromium, context, page, context.new_cdp_session(page))
    except BaseException:
        quietly(context.close)
        raise


def load(tab: Tab, page_url: str, html: str, api_url: str, records: Any, table: Table, timeout: float) -> Visit:
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
    done = f"webgrade: done {secrets.token_hex(8)}"
    count = len(records) if isinstance(records, list) else None
    page.add_init_script(_OBSERVER.replace("ARGS", json.dumps([count, table.rows, done, MAX_BODY_BYTES])))
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
        cdp, _OUTCOME.replace("EXPECTED", table.expected).replace("ARGS", json.dumps([table.rows, records]))
    )
    _read_outcome(visit, outcome, records)
    visit.screenshot = _screenshot(cdp)
    return visit


def _read_outcome(visit: Visit, outcome: dict[str, Any], records: Any) -> None:
    """Fill ``visit`` from what :data:`_OUTCOME` read in the page."""
    state = outcome["state"]
    if not isinstance(state, dict):  # gone only if the page's own script removed it: nothing was seen, then
        state = {}
    visit.fetch, visit.status = state.get("fetch", "pending"), state.get("status")
    visit.errors = state.get("errors", [])
    visit.rows, visit.expected = outcome["rows"], outcome["expected"]
    visit.records, visit.from_page = records, False
    body = state.get("body")
    if outcome.get("fromPage") and isinstance(body, str):
        try:
            visit.records, visit.from_page = json.loads(body), True
        except (ValueError, RecursionError):  # JSON too deep for Python: the grader's, as the page's were not read
            pass


def quietly(stop: Callable[[], object]) -> None:
    """Stop something that may be gone already (a crashed browser, a closed context)."""
    try:
        stop()
    except Exception:  # already gone: nothing left to stop
        pass
