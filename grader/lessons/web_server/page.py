"""The lesson's client page, the origin it is loaded from, and what the browser should see on it.

The page is the lesson's last cell (its ``%%html``): a table, and a script that
fetches the API with ``credentials: 'include'`` and a JSON ``Content-Type``,
then draws one row per record.  Only the URL differs: it is the graded server's.
:data:`TABLE` says where the rows are drawn and what each record the page
receives should draw, and :func:`load_lesson_page` loads the page in a
:class:`~grader.check.browser.Browser`.

CORS compares origins byte for byte, so the page is loaded from exactly
``rubric.origin``.  No port is bound for it: the browser answers the page's own
URL itself (``grader.check.page_visit``), so any number of gradings on one computer
load the same origin at once, and a program that holds the origin's port changes
nothing.  An origin that is not on this computer cannot be loaded as a real
browser would load it (see :func:`page_url`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from grader.check.browser import Browser, address_space, on_this_computer
from grader.check.page_visit import Table, Visit
from grader.errors import Unavailable
from grader.lessons.web_server import LESSON

__all__ = [
    "PAGE",
    "TABLE",
    "OriginUnavailable",
    "address_space",
    "load_lesson_page",
    "local_network_warning",
    "page_url",
    "render",
]

#: The lesson's page.  Between the markers is the lesson's cell as taught, with
#: its URL replaced; a doctype, a title and an empty icon are added so the
#: browser asks the origin for nothing else (only the page itself is answered there).
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


class OriginUnavailable(Unavailable):
    """The page cannot be loaded from the configured origin; worded for the student."""


def render(api_url: str) -> str:
    """The lesson's page, fetching ``api_url``."""
    literal = json.dumps(api_url).replace("</", "<\\/")  # a JS string that cannot close the <script>
    return PAGE.replace("{{API_URL}}", literal)


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


def page_url(origin: str) -> str:
    """The URL the lesson's page is loaded from: ``origin``/.  OriginUnavailable when it cannot be loaded here.

    Only an origin on this computer (loopback): a public page fetching the
    student's server meets Chrome's Local Network Access, which the browser
    check cannot reproduce (the cors.* checks still judge the headers for it).
    Only http://, as the page has always been loaded.
    """
    parts = urlsplit(origin)
    if not on_this_computer(origin):
        raise OriginUnavailable(
            f"expected an origin on this computer (127.0.0.1 or localhost) to load the lesson's page from, "
            f"saw {origin}",
            "the cors.* checks still judge your headers for that origin; "
            f"grade with --origin {LESSON.origin} to see the page in a browser",
        )
    if parts.scheme != "http":
        raise OriginUnavailable(
            f"expected an http:// origin to load the lesson's page from, saw {origin}",
            f"grade with --origin {LESSON.origin} (the browser check loads the page over plain http)",
        )
    return origin.rstrip("/") + "/"


def load_lesson_page(browser: Browser, origin: str, api_url: str, records: Any, timeout: float = 10.0) -> Visit:
    """Load the lesson's page (fetching ``api_url``) from ``origin`` in ``browser``; nothing binds the origin's port.

    The browser's verdict is :attr:`Visit.drew_table`, judged against the
    records the page's own fetch received (:attr:`Visit.records`; ``records``,
    the grader's, only when the page received no JSON); the rest of the Visit
    says why not, and :attr:`Visit.screenshot` shows what was drawn.
    """
    return browser.visit(page_url(origin), render(api_url), api_url, records, TABLE, timeout)
