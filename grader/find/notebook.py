"""Take the server cell out of a Jupyter notebook, as plain Python.

The lesson starts its server from a notebook cell that begins with
``%%python --bg``.  Grading runs that cell's code as a script, so the IPython
syntax around it (cell magics, ``%line`` magics, ``!shell`` escapes) is
cleaned away first, keeping every line where it was: a traceback's line
number is then the line in the cell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from grader.errors import SubmissionError
from grader.find.flask_source import STRONG, flask_strength

#: ``%%python``, ``%%python3``, and ``python3.11`` as ``%%script``'s command.
_PYTHON = re.compile(r"python[\d.]*")
#: A line magic or shell escape at the start of a statement: ``%pip ...``, ``!ls``, ``files = !ls``.
_ESCAPE = re.compile(r"(\s*)(?:[A-Za-z_][\w.]*\s*=\s*)?[!%]")
#: What changes the state of a line scan: escapes, quotes, comments and brackets.
_TOKENS = re.compile(r"\\.?|'''|\"\"\"|['\"#()\[\]{}]")


def server_cell(notebook: Path) -> tuple[int, str]:
    """(1-based cell number, cleaned source) of the last code cell that creates a Flask app.

    The last one, because students re-run an edited copy of the server cell
    further down rather than editing the first.
    """
    found = None
    for number, source in _code_cells(notebook):
        cleaned = clean_cell(source)
        if cleaned is not None and flask_strength(cleaned) == STRONG:
            found = number, cleaned
    if found is None:
        raise SubmissionError(
            f"no Flask server cell in {notebook.name}",
            "expected a code cell that creates `app = Flask(__name__)`, like the lesson's `%%python --bg` cell",
        )
    return found


def has_server_cell(notebook: Path) -> bool:
    """Whether `notebook` could be graded; an unreadable one cannot."""
    try:
        server_cell(notebook)
    except SubmissionError:
        return False
    return True


def _code_cells(notebook: Path) -> list[tuple[int, str]]:
    """(1-based number, source) of each code cell; the number counts every cell, as Jupyter shows them."""
    # Plain json rather than nbformat: a notebook is only a JSON document, and
    # nbformat (with jsonschema validation) would add import time to every run.
    try:
        data = json.loads(notebook.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SubmissionError(
            f"could not read the notebook {notebook.name}: {e}",
            "open it in Jupyter or VS Code and save it again, or copy the server cell into main.py",
        ) from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise SubmissionError(
            f"could not read the notebook {notebook.name}: it has no list of cells (not an nbformat 4 notebook)",
            "open it in a recent Jupyter and save it again, or copy the server cell into main.py",
        )
    found = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source") or ""
            found.append((number, source if isinstance(source, str) else "".join(map(str, source))))
    return found


def clean_cell(source: str) -> str | None:
    """The cell as a Python script with the same line numbers, or None if the cell is not Python.

    A first-line ``%%python`` magic becomes an empty line; any other cell magic
    (``%%script bash``, ``%%html``, ``%%javascript`` ...) means the cell is not
    Python.  Line magics and shell escapes become ``pass`` at their own
    indentation, so the blocks around them still parse.
    """
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        if not _runs_python(lines[first]):
            return None
        lines[first] = ""
    quote, depth, continued = None, 0, False
    for i, line in enumerate(lines):
        starts_statement = quote is None and depth == 0 and not continued
        if starts_statement and (escape := _ESCAPE.match(line)):
            lines[i] = escape[1] + "pass"
            continued = False
        else:
            quote, depth, continued = _scan(line, quote, depth)
    return "\n".join(lines)


def _runs_python(magic: str) -> bool:
    """Whether a cell magic line runs the rest of the cell as Python."""
    name, *args = magic.lstrip()[2:].split() or [""]
    if name == "script":
        return any(_PYTHON.fullmatch(Path(arg).name) for arg in args)
    return bool(_PYTHON.fullmatch(name))


def _scan(line: str, quote: str | None, depth: int) -> tuple[str | None, int, bool]:
    """Where `line` leaves the code: the triple quote still open, the bracket depth, a trailing backslash.

    Only a line that starts a statement can be a magic: ``% x`` continuing a
    bracket, or ``!`` starting a line of a multi-line string, is Python.
    """
    single = None
    for match in _TOKENS.finditer(line):
        token = match[0]
        if token == "\\":  # a lone backslash, at the end of the line
            return quote, depth, quote is None and single is None
        if token.startswith("\\"):
            continue
        if quote:
            quote = None if token == quote else quote
        elif single:
            single = None if token == single else single
        elif token == "#":
            break
        elif token in ("'''", '"""'):
            quote = token
        elif token in "'\"":
            single = token
        else:
            depth = depth + 1 if token in "([{" else max(depth - 1, 0)
    return quote, depth, False
