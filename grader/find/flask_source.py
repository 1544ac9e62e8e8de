"""How strongly a Python source looks like the student's Flask server, read with :mod:`ast`, never run.

A leaf module: the search for the file (``grader.find.submission``) and the
search for the notebook cell (``grader.find.notebook``) both rank sources by it.
"""

from __future__ import annotations

import ast
import re
import warnings

#: How strongly a source looks like the server: it creates a Flask app, or only imports flask.
STRONG, WEAK = 2, 1

_FLASK_CALL = re.compile(r"\bFlask\s*\(")
_FLASK_IMPORT = re.compile(r"^\s*(?:from|import)\s+flask\b", re.MULTILINE)


def flask_strength(source: str) -> int:
    """:data:`STRONG` if `source` creates a Flask app, :data:`WEAK` if it imports flask, else 0."""
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" is the student's business, later
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        # Still a candidate: the student is then told about the syntax error,
        # not that no Flask app was found.
        if _FLASK_CALL.search(source):
            return STRONG
        return WEAK if _FLASK_IMPORT.search(source) else 0

    nodes = list(ast.walk(tree))
    classes, modules, imported = {"Flask"}, {"flask"}, False
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "flask":
            imported = True
            classes.update(alias.asname for alias in node.names if alias.name == "Flask" and alias.asname)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "flask":
                    imported = True
                    if alias.name == "flask" and alias.asname:
                        modules.add(alias.asname)
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in classes:
            return STRONG
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "Flask"
            and isinstance(func.value, ast.Name)
            and func.value.id in modules
        ):
            return STRONG
    return WEAK if imported else 0
