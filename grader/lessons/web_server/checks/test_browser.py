"""The lesson's page in a real browser: loaded from the page's origin in headless Chromium.

The cors.* checks predict from headers; this one proves it, and explains a
failure from what Chromium itself reported (its CORS error, the failed
request, the preflight's answer).

It runs whenever a browser is installed, and always in CI.  Without one, a
student's local run skips it with the command that installs one.

PYTEST_DONT_REWRITE: raises Failure instead of using assert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from grader import Failure, NotGraded
from grader.check import hints
from grader.check.cors import plain_words
from grader.lessons.web_server import LESSON
from grader.lessons.web_server.people import WORDS

if TYPE_CHECKING:
    from grader.check.browser import Browser
    from grader.check.client import Reply
    from grader.check.cors import Verdict
    from grader.check.page_visit import Visit
    from grader.find.source import Source
    from grader.grade import Grading
    from grader.rubric import Rubric
    from grader.run.server import Server

_SETUP = LESSON.cors_setup
_KEYS = LESSON.table_columns


def _status_hint(status: int | None) -> str:
    """One next step for a preflight that did not answer 2xx."""
    if status is not None and 300 <= status < 400:
        return (
            "a preflight never follows redirects: make @app.route's path match the fetched URL exactly "
            "(Flask redirects /api/data to /api/data/ when the route ends with a slash)"
        )
    if status == 404:
        return "no route answers OPTIONS at this URL: don't define your own OPTIONS handler, let flask-cors answer it"
    if status == 405:
        return f"let Flask answer OPTIONS (drop provide_automatic_options=False) and keep `{_SETUP}`"
    if status is not None and status >= 500:
        return "the server failed while answering OPTIONS: read the traceback in its output (webgrade check -v)"
    return f"answer OPTIONS with 200 by letting flask-cors handle it: `{_SETUP}`"


def _blocked(error: str, value: str, origin: str, preflight_status: int | None) -> tuple[str, str]:
    """Chromium's CORS error (its DevTools name) as (why, next step) for the student."""
    stage = "preflight (OPTIONS) answer" if error.startswith("Preflight") else "GET answer"
    kind = error.removeprefix("Preflight")
    if kind == "MissingAllowOriginHeader":
        return (
            f"the {stage} has no Access-Control-Allow-Origin header",
            f"add `from flask_cors import CORS` and `{_SETUP}` right after `app = Flask(__name__)`",
        )
    if kind == "WildcardOriginNotAllowed":
        return (
            f'the {stage} says Access-Control-Allow-Origin: "*", which a request with credentials never accepts',
            f"use `{_SETUP}` and no send_wildcard or hand-set header: flask-cors then echoes the page's origin",
        )
    if kind == "MultipleAllowOriginValues":
        return (
            f'the {stage} has several Access-Control-Allow-Origin values ("{value}")',
            f"set the header in one place only: delete your own Access-Control-Allow-Origin line and keep `{_SETUP}`",
        )
    if kind in ("AllowOriginMismatch", "InvalidAllowOriginValue"):
        return (
            f'the {stage} says Access-Control-Allow-Origin: "{value}", not the page\'s origin "{origin}"',
            f"let flask-cors echo the origin with `{_SETUP}`, or list it exactly: origins=['{origin}'] "
            "(scheme, host and port, no trailing slash)",
        )
    if kind == "InvalidAllowCredentials":
        if not value:
            return (
                f"Access-Control-Allow-Credentials is missing from the {stage} "
                "(it must be \"true\" because the page fetches with credentials: 'include')",
                f"pass supports_credentials=True to CORS(...): `{_SETUP}`",
            )
        return (
            f'the {stage} says Access-Control-Allow-Credentials: "{value}", not exactly "true"',
            "don't set it by hand (str(True) is 'True'): let flask-cors send it with supports_credentials=True",
        )
    if kind == "InvalidStatus":
        seen = f"answered {preflight_status}" if preflight_status is not None else "did not answer 2xx"
        return (
            f'the preflight (the OPTIONS request the browser sends first) {seen}, not "200 OK"',
            _status_hint(preflight_status),
        )
    if kind == "DisallowedRedirect":
        return "the preflight (OPTIONS) was redirected", _status_hint(308)
    if kind == "HeaderDisallowedByPreflightResponse":
        return (
            f"the preflight's Access-Control-Allow-Headers does not list {value or 'Content-Type'}, "
            "which the page sends",
            "drop allow_headers from CORS(...) so flask-cors allows the page's headers, "
            "or include 'Content-Type' in it",
        )
    if kind == "MethodDisallowedByPreflightResponse":
        return (
            f"the preflight's Access-Control-Allow-Methods does not list {value or 'GET'}",
            "drop methods from CORS(...), or include 'GET' in it",
        )
    if kind in ("InvalidAllowHeadersPreflightResponse", "InvalidAllowMethodsPreflightResponse"):
        name = "Headers" if "Headers" in kind else "Methods"
        return (
            f'the preflight\'s Access-Control-Allow-{name} is not a list of names ("{value}")',
            "write plain names joined by commas, like Content-Type, Authorization (not str([...])), "
            "or let flask-cors write it",
        )
    if "LocalNetworkAccess" in kind or "PrivateNetwork" in kind:
        return (
            "Chrome's Local Network Access rules stop a public page from reaching your computer without "
            "the visitor's permission",
            "open the page from http://127.0.0.1 while you develop, and click Allow when Chrome asks",
        )
    return f"of CORS (Chromium's reason: {error})", f"use the lesson's setup: `{_SETUP}`"


def _policy_text(console: list[str]) -> str | None:
    """The reason in Chromium's console message "... has been blocked by CORS policy: REASON"."""
    for line in console:
        _, found, reason = line.partition("blocked by CORS policy: ")
        if found:
            return reason.strip()
    return None


def _row(cells: Sequence[str | None]) -> str:
    return " | ".join("(missing)" if c is None else repr(c) for c in cells)


def _record(index: int, records: Any) -> str:
    """'record 1 (John Doe)': numbered from 0 and named as api.schema's messages name it."""
    record = records[index] if isinstance(records, list) and 0 <= index < len(records) else None
    names = [str(record[k]) for k in WORDS.name_keys if isinstance(record, dict) and isinstance(record.get(k), str)]
    return f"record {index}" + (f" ({' '.join(names)})" if names else "")


def _same_cause(error: str | None, cors: Verdict | None) -> str | None:
    """The cors.* check that already explains why the browser blocked the request, if one failed for it."""
    if cors is None or cors.ok:
        return None
    if error is not None and not error.startswith("Preflight") and cors.at("response"):
        return "cors.response"
    return "cors.preflight" if cors.at("preflight") else "cors.response"


def _explain(
    visit: Visit, origin: str, path: str, cors: Verdict | None = None, explained: set[str] | None = None
) -> Failure | None:
    """Why the table is not drawn, from what the browser reported; None when it is drawn right.

    The rows are judged against the records the page's own fetch received
    (:attr:`Visit.records`), so a server that answers each request differently
    is judged on the answer the page drew.  A request blocked for the reason a
    cors.* check already gave says "because of" that check rather than
    repeating its hint.  A problem of the grading
    machine (the page did not open) is not the student's: :class:`NotGraded`.
    """
    if visit.drew_table:
        return None
    records = visit.records
    count = len(visit.expected) if visit.expected is not None else None
    rows = "a row per record" if count is None else f"{count} row{'s' if count != 1 else ''}"
    expected = f"expected the lesson's page on {origin} to draw {rows} from GET {path}"
    detail = visit.report()
    if visit.page_error:
        raise NotGraded(
            "not graded: the grading machine's browser could not open the lesson's page (not a problem of your code)",
            "",
            f"{visit.page_url}: {visit.page_error}\n{detail}",
        )
    blocked = visit.cors_failure()
    if blocked is not None or (visit.fetch == "failed" and _policy_text(visit.console)):
        if blocked is not None:
            preflight = visit.preflight.status if visit.preflight else None
            why, hint = _blocked(blocked.cors_error or "", blocked.cors_parameter, origin, preflight)
        else:
            why, hint = f"of CORS: {_policy_text(visit.console)}", f"use the lesson's setup: `{_SETUP}`"
        same = _same_cause(blocked.cors_error if blocked is not None else None, cors)
        if same is not None:
            hint = f"because of {same}: the change that fixes it fixes this too"
        message = f"{expected}, saw none: the browser blocked the request because {why}"
        return Failure(plain_words(message, explained if explained is not None else set()), hint, detail)
    if visit.fetch == "failed":
        error = next((f.error for f in visit.failed), "") or "no reason given"
        return Failure(
            f"{expected}, saw none: the browser's request failed ({error})",
            "the server stopped or crashed while answering the browser: run it yourself and watch its output",
            detail,
        )
    if visit.fetch == "answered" and visit.status != 200:
        return Failure(
            f"{expected}, saw none: the browser's GET {path} answered {visit.status}, and the page "
            "draws rows only from a 200 answer",
            "make GET answer 200 for the browser too: it sends an Origin header and cookies",
            detail,
        )
    if visit.errors:
        hint = (
            "return jsonify(a_list_of_records): the page loops over a list"
            if not isinstance(records, list)
            else "make every record a dictionary, like the lesson's InfoDb.append({...})"
        )
        return Failure(f"{expected}, saw the page's script fail: {visit.errors[0]}", hint, detail)
    if visit.fetch == "pending":
        return Failure(
            f"{expected}, saw no answer to the browser's request within the time allowed",
            "the route's function never returns: look for a loop or a wait in it",
            detail,
        )
    for index, cells in enumerate(visit.expected or ()):
        if cells is None:
            return Failure(
                f"{expected}, saw {_record(index, records)}, which is not a dictionary",
                "make every record a dictionary, like the lesson's InfoDb.append({...})",
                detail,
            )
        for key, cell in zip(_KEYS, cells, strict=False):
            if cell is None:
                drawn = visit.rows[index][_KEYS.index(key)] if len(visit.rows) > index else "nothing"
                return Failure(
                    f"{expected}, saw the row of {_record(index, records)} show {drawn!r} for {key}: "
                    f"record {index} has no {key}",
                    f"give every record a {key} key, spelled exactly so: the page reads row.{key}",
                    detail,
                )
    # The page's code drew other rows than its records give: the records' values changed the table.
    other = (
        "the page puts each value into its cell as HTML (innerHTML): keep HTML tags out of your records' "
        "values, so each record draws one plain row"
        if visit.from_page
        else "return the same records every time: the browser's answer differed from the grader's"
    )
    if visit.expected is not None and len(visit.rows) != len(visit.expected):
        return Failure(f"{expected} (one per record), saw {len(visit.rows)}", other, detail)
    for index, (seen, cells) in enumerate(zip(visit.rows, visit.expected or (), strict=False)):
        assert cells is not None  # a record that is not a dictionary was reported above
        if seen != cells:
            return Failure(
                f"{expected}, saw the row of {_record(index, records)} show {_row(seen)} instead of {_row(cells)}",
                other,
                detail,
            )
    return Failure(f"{expected}, saw {len(visit.rows)}", "run the page yourself and read the browser's console", detail)


def _records(count: int) -> str:
    return f"{count} record{'s' if count != 1 else ''}"


def _received_other(visit: Visit, records: Any, path: str, code: Source, told: set[str] | None = None) -> str | None:
    """A warning when the page's own fetch received other records than the grader's, or None.

    The table is judged on what the page received, so such a server can pass;
    the warning says why its answers differ when the student's code shows it
    (a list made outside the route's function, which every request adds to),
    or in short when an earlier check of this report (api.schema) said it.
    Only counts and the student's own lines are quoted, never the records' values.
    """
    if not visit.from_page or visit.records == records:
        return None
    received = visit.records
    if not isinstance(records, list) or not isinstance(received, list):
        return (
            f"the page's GET {path} got a different answer than the grader's did; "
            "the table was checked against the answer the page got"
        )
    seen = f"{_records(len(records))} when the grader asked, {len(received)} when the page asked"
    if len(received) > len(records):
        if told is not None and hints.GROWING_LIST in told:
            return (
                f"the list grows on every request ({seen}), as api.schema explains; the table was checked "
                "against the records the page got"
            )
        advice = hints.growing_list(code, path)
        if advice is not None:
            return f"the list grows on every request ({seen}): {advice.why}; {advice.hint}"
        return (
            f"the list grows on every request ({seen}): the records are added to a list made outside the "
            "route's function, so every request adds them again; make the list inside the function, "
            "so each request starts from an empty list"
        )
    return (
        f"the page got different records than the grader did ({seen}); the table was checked against the "
        "records the page got: if your records should stay the same, look for what changes them between requests"
    )


@pytest.mark.check("browser.table", depends=("api.json",))
def test_page_draws_the_table(
    grading: Grading,
    rubric: Rubric,
    server: Server,
    api: Reply,
    browser: Browser,
    warn: Callable[[str], None],
    cors: Verdict,
    explained: set[str],
    told: set[str],
    code: Source,
) -> None:
    """the lesson's page, in a real browser, draws one row per record"""
    # Imported when the check runs: only this check needs them.
    from grader.check.browser import BrowserUnavailable, on_this_computer
    from grader.check.chromium import in_ci, install_command, not_found_reason
    from grader.lessons.web_server.page import OriginUnavailable, load_lesson_page, local_network_warning

    origin = rubric.origin  # the page is served from the first origin when a rubric lists several
    for each in rubric.origins:
        note = local_network_warning(each, server.host)
        if note:
            warn(note)
    chosen = grading.options.browser_check  # True: --browser, False: --no-browser, None: auto
    if chosen is False:
        pytest.skip("not run (--no-browser): the page was not loaded in a browser")
    required = chosen is True or in_ci()
    if browser.executable is None:
        if required:
            raise Failure(
                f"expected a Chromium browser to load the lesson's page, saw none: {not_found_reason()}",
                f"install one: {install_command()}",
            )
        pytest.skip(f"not run: no browser installed ({not_found_reason()}); install one with: {install_command()}")
    if not on_this_computer(origin):
        pytest.skip(
            f"the page's origin {origin} is not on this computer, so the grader cannot load the page "
            "there as a browser would; the cors.* checks judge your headers for it"
        )

    records = api.json()
    try:
        visit = load_lesson_page(
            browser, origin, server.base_url + rubric.api_path, records, timeout=rubric.request_timeout + 5
        )
    except OriginUnavailable as error:
        raise Failure(error.message, error.hint) from None
    except BrowserUnavailable as error:
        # The grading machine's problem, not the student's: not graded (the maximum stays), the details for -v.
        raise NotGraded(
            "not graded: the grading machine's browser did not start (not a problem of your code)",
            "",
            f"{error.message}; {error.hint}",
        ) from None
    if visit.screenshot:
        grading.screenshots["browser.table"] = visit.screenshot  # the page as drawn, for the outputs that show it
    note = _received_other(visit, records, rubric.api_path, code, told)
    if note:
        warn(note)
    failure = _explain(visit, origin, rubric.api_path, cors, explained)
    if failure is not None:
        raise failure
