"""What one node of the student's tree says, read without running it: its text, its literal value, how it ends.

The pieces :mod:`grader.find.reader` builds the facts from.  Only literals
are evaluated; anything computed is :data:`UNKNOWN`, so a hint never guesses.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

#: A value that is not a literal in the source: only its text is known.
UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN"})()

#: How long a quoted piece of code may be in a message.
WIDTH = 70


def segment(source_lines: list[str], node: ast.AST) -> str:
    """The code of ``node`` as written, on one line and at most :data:`WIDTH` characters."""
    start, end = getattr(node, "lineno", 0), getattr(node, "end_lineno", 0)
    if not start:
        return ""
    text = "\n".join(source_lines[start - 1 : end])
    first = getattr(node, "col_offset", 0)
    last = getattr(node, "end_col_offset", None)
    if start == end and last is not None:
        text = source_lines[start - 1][first:last]
    else:
        text = text[first:]
        if last is not None:
            cut = len(text) - (len(source_lines[end - 1]) - last)
            text = text[:cut]
    text = " ".join(text.split())
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def literal(node: ast.AST | None) -> Any:
    """The node's value when it is a literal (strings, numbers, lists of them, True...), else :data:`UNKNOWN`."""
    if node is None:
        return UNKNOWN
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return UNKNOWN


def dotted(node: ast.AST) -> str:
    """``app.route`` for an attribute chain of names, "" otherwise."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return ""


def mentions_name(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node))


def evaluate(node: ast.AST, name: str) -> Any:
    """The value of a test made of ``__name__``, strings, comparisons, and/or/not; UNKNOWN for anything else."""
    if isinstance(node, ast.Name) and node.id == "__name__":
        return name
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        value = evaluate(node.operand, name)
        return UNKNOWN if value is UNKNOWN else not value
    if isinstance(node, ast.BoolOp):
        values = [evaluate(v, name) for v in node.values]
        if any(v is UNKNOWN for v in values):
            return UNKNOWN
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = evaluate(node.left, name)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = evaluate(right_node, name)
            if left is UNKNOWN or right is UNKNOWN:
                return UNKNOWN
            if isinstance(op, ast.Eq | ast.Is):
                result = left == right
            elif isinstance(op, ast.NotEq | ast.IsNot):
                result = left != right
            elif isinstance(op, ast.In | ast.NotIn) and isinstance(right, str | tuple | list):
                result = (left in right) == isinstance(op, ast.In)
            else:
                return UNKNOWN
            if not result:
                return False
            left = right
        return True
    return UNKNOWN


def status_of(node: ast.expr | None) -> int | None:
    """The status a ``return`` sets: ``return x, 201``, ``make_response(x, 201)``, ``Response(..., status=201)``."""
    if isinstance(node, ast.Tuple) and len(node.elts) >= 2:
        value = literal(node.elts[1])
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(node, ast.Call):
        name = dotted(node.func).rsplit(".", 1)[-1]
        candidates: list[ast.expr] = [k.value for k in node.keywords if k.arg == "status"]
        if name == "make_response" and len(node.args) >= 2:
            candidates.append(node.args[1])
        if name == "Response" and len(node.args) >= 2:
            candidates.append(node.args[1])
        for candidate in candidates:
            value = literal(candidate)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def falls_off_end(body: list[ast.stmt]) -> bool:
    """A block can run to its end without returning or raising."""
    if not body:
        return True
    last = body[-1]
    if isinstance(last, ast.Return | ast.Raise):
        return False
    if isinstance(last, ast.If):
        return falls_off_end(last.body) or falls_off_end(last.orelse)
    if isinstance(last, ast.Try):
        ends = [falls_off_end(last.body + last.orelse)] + [falls_off_end(h.body) for h in last.handlers]
        return any(ends) if not last.finalbody or falls_off_end(last.finalbody) else False
    if isinstance(last, ast.With | ast.AsyncWith):
        return falls_off_end(last.body)
    if isinstance(last, ast.While) and isinstance(last.test, ast.Constant) and last.test.value:
        return any(isinstance(n, ast.Break) for n in ast.walk(last))
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        name = dotted(last.value.func).rsplit(".", 1)[-1]
        if name in ("abort", "exit", "_exit"):
            return False
    return True


def own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, without those of functions or classes defined inside it."""
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                todo.append(child)


def is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )
