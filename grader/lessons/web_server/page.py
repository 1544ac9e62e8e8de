"""The lesson's client page, the second origin that serves it, and what the browser should see on it.

The page is the lesson's last cell (its ``%%html``): a table, and a script that
fetches the API with ``credentials: 'include'`` and a JSON ``Content-Type``,
then draws one row per record.  Only the URL differs: it is the graded server's.
:data:`TABLE` says where the rows are drawn and what each record should draw,
and :func:`load_lesson_page` serves the page and loads it in a
:class:`~grader.check.browser.Browser`.

CORS compares origins byte for byte, so the page must come from exactly
``rubric.origin``: :func:`serve` binds that host and port with the standard
library's http.server in a thread of the grader.  Graders on one machine (a
batch, the test suite on two cores) take turns on an origin through a lock
file; a port held by any other program is reported in plain words.
"""

from __future__ import annotations

import errno
import fcntl
import http.server
import ipaddress
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from grader.check.browser import Browser, Table, Visit
from grader.errors import Unavailable
from grader.lessons.web_server import LESSON

#: The lesson's page.  Between the markers is the lesson's cell as taught, with
#: its URL replaced; a doctype, a title and an empty icon are added so the
#: browser asks the page server for nothing else.
PAGE = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>The lesson's page</title>
<link rel="icon" href="data:,">
</head>
<body>
<!-- the lesson's cell begins -->
<h1>Access data from our Flask server using JavaScript</h1>

<p>This code extracts data "live" from a local Web Server with JavaScript fetch.  Additionally, it formats the data into a table.</p>

<!-- HTML table fragment for page -->
<table id="demo" class="table">
  <thead>
      <tr>
          <th>First Name</th>
          <th>Last Name</th>
          <th>Residence</th>
      </tr>
  </thead>
  <tbody id="result">
    <!-- javascript generated data -->
  </tbody>
</table>

<script>
  // prepare HTML result container for new output
  let resultContainer = document.getElementById("result");

  // prepare URL
  url = {{API_URL}};

  // set options for cross origin header request
  let options = {
    method: 'GET', // *GET, POST, PUT, DELETE, etc.
    mode: 'cors', // no-cors, *cors, same-origin
    cache: 'default', // *default, no-cache, reload, force-cache, only-if-cached
    credentials: 'include', // include, *same-origin, omit
    headers: {
      'Content-Type': 'application/json',
    },
  };

  // fetch the API
  fetch(url, options)
    // response is a RESTful "promise" on any successful fetch
    .then(response => {
      // check for response errors and display
      if (response.status !== 200) {
          console.error(response.status);
          return;
      }
      // valid response will contain json data
      response.json().then(data => {
          console.log(data);
          for (const row of data) {
            // tr and td build out for each row
            const tr = document.createElement("tr");
            const firstname = document.createElement("td");
            const lastname = document.createElement("td");
            const residence = document.createElement("td");
            // data is specific to the API
            firstname.innerHTML = row.FirstName;
            lastname.innerHTML = row.LastName;
            residence.innerHTML = row.Residence;
            // this builds each td into tr
            tr.appendChild(firstname);
            tr.appendChild(lastname);
            tr.appendChild(residence);
            // add HTML to container
            resultContainer.appendChild(tr);
          }
      })
  })
</script>
<!-- the lesson's cell ends -->
</body>
</html>
"""

#: Where the page draws its rows, and what it draws from each record: ``innerHTML = row.Key``
#: for each of the lesson's columns, read back as text (null where a record lacks the key,
#: and for a record that is not an object).
TABLE = Table(
    rows="#result tr",
    expected="""
(records) => records.map(row => {
  if (row === null || typeof row !== 'object') return null;
  return COLUMNS.map(key => {
    if (!(key in row)) return null;
    const td = document.createElement('td');
    td.innerHTML = row[key];
    return td.textContent;
  });
})
""".replace("COLUMNS", json.dumps(list(LESSON.table_columns))),
)

#: How long a grader waits for another one to finish with the same origin.
LOCK_WAIT_S = 60.0
#: Where the origins' lock files live: one folder for every grader on this computer, whatever its
#: TMPDIR (a grader given a TMPDIR of its own, as the tests do, must still take turns with the others).
LOCK_DIR = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()


class OriginUnavailable(Unavailable):
    """The page cannot be served from the configured origin; worded for the student."""


def render(api_url: str) -> str:
    """The lesson's page, fetching ``api_url``."""
    literal = json.dumps(api_url).replace("</", "<\\/")  # a JS string that cannot close the <script>
    return PAGE.replace("{{API_URL}}", literal)


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


def local_network_warning(origin: str, server_host: str = "127.0.0.1") -> str | None:
    """What Chrome does when a public page fetches a server on the student's computer, or None.

    Chrome 142 and later (Local Network Access) ask the user before a page on
    a public origin may reach a loopback or private address, and let only
    secure (https) pages ask; refused or insecure, the fetch fails before CORS
    is checked.  The earlier Private Network Access preflight
    (Access-Control-Request-Private-Network) is on hold, so no header fixes it.
    """
    if address_space(urlsplit(origin).hostname or "") != "public" or address_space(server_host) == "public":
        return None
    return (
        f"the page's origin {origin} is public and your server runs on your own computer: Chrome 142 and later "
        '("Local Network Access") ask the visitor to allow the page to connect to their local network, ask only '
        "on https:// pages, and fail the fetch before any CORS check if it is blocked; no header (not "
        "Access-Control-Allow-Private-Network either) changes that. Test from http://127.0.0.1 while you "
        "develop, and click Allow when Chrome asks"
    )


def _bind_address(origin: str) -> tuple[str, int]:
    """The address to bind for an origin; OriginUnavailable when this computer cannot serve it."""
    parts = urlsplit(origin)
    host = parts.hostname or ""
    if address_space(host) != "loopback":
        raise OriginUnavailable(
            f"expected an origin on this computer (127.0.0.1 or localhost) to serve the lesson's page from, "
            f"saw {origin}",
            "the cors.* checks still judge your headers for that origin; "
            f"grade with --origin {LESSON.origin} to see the page in a browser",
        )
    if parts.scheme != "http":
        raise OriginUnavailable(
            f"expected an http:// origin to serve the lesson's page from, saw {origin}",
            f"grade with --origin {LESSON.origin} (the browser check serves the page over plain http)",
        )
    bind = "127.0.0.1" if host == "localhost" or host.endswith(".localhost") else host
    return bind, parts.port or 80


def _port_owner(port: int) -> str:
    """Which program listens on a port, when the system tells us (as ' by python3 (pid 42)')."""
    try:
        import psutil  # type: ignore[import-untyped]  # only when the port is taken: rarely worth its import

        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return f" by {psutil.Process(conn.pid).name()} (pid {conn.pid})"
    except Exception:  # permissions, a process gone meanwhile: the message stays useful without it
        pass
    return ""


@contextmanager
def _origin_lock(host: str, port: int, wait: float) -> Iterator[None]:
    """Hold the machine-wide lock of one origin, so graders sharing a computer take turns.

    flock is released by the kernel when its holder dies, so a killed grader
    never blocks the next one.  The holder removes the lock file before
    releasing it; a waiter that then wins the lock on the removed file sees
    that and tries again with a fresh one, so no lock files pile up.
    """
    path = Path(LOCK_DIR, f"webgrade-origin-{host}-{port}.lock")
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:  # another user's lock file: serve without taking turns
            yield
            return
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise OriginUnavailable(
                            f"expected to serve the lesson's page at http://{host}:{port}, "
                            f"saw another webgrade using it for {wait:g} s",
                            "wait for the other grading to finish, "
                            "or grade with --origin http://127.0.0.1:<another port>",
                        ) from None
                    time.sleep(0.01)
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                try:
                    yield
                finally:
                    path.unlink(missing_ok=True)
                return
        finally:
            os.close(fd)  # releases the lock


class _PageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    page = b""


class _PageServer6(_PageServer):
    address_family = socket.AF_INET6


class _PageHandler(http.server.BaseHTTPRequestHandler):
    """Answers GET / with the page and everything else with 404: it serves only our page."""

    server: _PageServer

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path.split("?")[0] != "/":
            self.send_error(404)
            return
        body = self.server.page
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the student reads a scorecard, not our access log
        pass


@contextmanager
def serve(origin: str, page: str, wait: float = LOCK_WAIT_S) -> Iterator[str]:
    """Serve ``page`` at ``origin``/ for the duration of the block; yields the page's URL."""
    host, port = _bind_address(origin)
    with _origin_lock(host, port, wait):
        server_class = _PageServer6 if ":" in host else _PageServer
        try:
            server = server_class((host, port), _PageHandler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise OriginUnavailable(
                    f"expected to serve the lesson's page at {origin}, saw port {port} already in use{_port_owner(port)}",
                    "stop that program (an old server still running?), or grade with "
                    "--origin http://127.0.0.1:<a free port>",
                ) from None
            raise OriginUnavailable(
                f"expected to serve the lesson's page at {origin}, saw: {error.strerror or error}",
                f"grade with --origin {LESSON.origin}, or another port above 1024",
            ) from None
        server.page = page.encode("utf-8")
        # serve_forever notices shutdown() only between polls: its default 0.5 s would be most of a visit.
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="webgrade-page", daemon=True)
        thread.start()
        try:
            yield origin.rstrip("/") + "/"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def load_lesson_page(
    browser: Browser, origin: str, api_url: str, records: Any, timeout: float = 10.0, screenshot: bool = False
) -> Visit:
    """Serve the lesson's page (fetching ``api_url``) from ``origin`` and load it in ``browser``.

    The browser's verdict is :attr:`Visit.drew_table`; the rest of the Visit says why not.
    """
    with serve(origin, render(api_url)) as page_url:
        return browser.visit(page_url, api_url, records, TABLE, timeout, screenshot)
