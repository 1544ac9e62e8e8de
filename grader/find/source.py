"""What the student's file says, read with :mod:`ast` (never run): the facts hints are built from.

A failure is explained best in the student's own terms: which line made the
app, which decorator made the route, where ``app.run()`` is, what the
``if __name__ == '__main__':`` guard says and how CORS is set up.  This module
reads those facts once from the graded source (:func:`read`); the hints
themselves live with whoever explains a failure (``grader.run.diagnose``,
``grader.check.hints``).

Only literal values are read (a path, a list of methods, ``True``); anything
computed is kept as its text and marked :data:`UNKNOWN`, so a hint never
guesses what the code would compute.  A file that does not parse gives an
empty :class:`Source` (``parsed`` is False): its syntax error is explained
elsewhere.

The facts themselves are :mod:`grader.find.facts`; the walk over the tree is
:mod:`grader.find.reader` (a function's own facts: :mod:`grader.find.functions`),
built from what one node says (:mod:`grader.find.nodes`).
"""

from __future__ import annotations

import ast
import warnings

# Re-exported: hints and checks know the facts by this module's name.
from grader.find.facts import (
    AppMade,
    CorsSetup,
    Function,
    Guard,
    HeaderSet,
    Imported,
    Option,
    Return,
    RouteDef,
    RunCall,
    SharedList,
    Source,
)
from grader.find.nodes import UNKNOWN, WIDTH, literal, segment
from grader.find.reader import Reader

__all__ = [
    "UNKNOWN",
    "WIDTH",
    "AppMade",
    "CorsSetup",
    "Function",
    "Guard",
    "HeaderSet",
    "Imported",
    "Option",
    "Return",
    "RouteDef",
    "RunCall",
    "SharedList",
    "Source",
    "folder_files",
    "literal",
    "read",
    "segment",
]


def read(source: str, display: str = "your file") -> Source:
    """The facts of ``source``; an empty :class:`Source` if it does not parse."""
    found = Source(display=display, lines=source.splitlines())
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" is the student's business, not ours
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return found
    found.parsed = True
    Reader(source, found).visit_module(tree)
    return found


#: Folders never searched for the student's files: other people's code, and hidden ones.
_SKIP = frozenset({"venv", ".venv", "env", "site-packages", "node_modules", "__pycache__", ".git"})


def folder_files(folder: str, most: int = 2000, depth: int = 3) -> list[str]:
    """Relative paths (with "/") of the files and folders in ``folder``, a bounded look for hints.

    At most ``most`` entries and ``depth`` levels; symbolic links are listed, never followed.
    """
    import os

    found: list[str] = []
    todo = [("", 0)]
    while todo and len(found) < most:
        relative, level = todo.pop(0)
        try:
            with os.scandir(os.path.join(folder, relative)) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    if entry.name.startswith(".") or entry.name in _SKIP:
                        continue
                    path = f"{relative}{entry.name}"
                    is_dir = entry.is_dir(follow_symlinks=False)
                    found.append(path + "/" if is_dir else path)
                    if is_dir and level + 1 < depth:
                        todo.append((path + "/", level + 1))
                    if len(found) >= most:
                        break
        except OSError:
            continue
    return found
