"""A function's own facts: what it returns and aborts with, the lists it shares, the routes and CORS on it.

Read for :class:`~grader.find.reader.Reader` as it meets each ``def``; the
walk into the function's body stays with the reader.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from grader.find.facts import CorsSetup, Function, Return, RouteDef, SharedList
from grader.find.nodes import dotted, falls_off_end, is_docstring, literal, own_nodes, status_of

if TYPE_CHECKING:
    from grader.find.reader import Reader


def read(reader: Reader, node: ast.FunctionDef | ast.AsyncFunctionDef, top_level: bool) -> None:
    """Add the facts of the function ``node`` (not of the functions inside it) to ``reader.found``."""
    decorators = tuple((reader.text(d), d.lineno) for d in node.decorator_list)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    returns: list[Return] = []
    aborts: list[tuple[int, int]] = []
    local = {
        t.id
        for child in own_nodes(node)
        if isinstance(child, ast.Assign)
        for t in child.targets
        if isinstance(t, ast.Name)
    }
    shared: dict[str, int] = {}  # lists of the file's top level this function adds to: the first line that does
    for child in own_nodes(node):
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr in ("append", "extend", "insert", "__iadd__")
            and isinstance(child.func.value, ast.Name)
            and child.func.value.id in reader.lists
            and child.func.value.id not in local
        ):
            name = child.func.value.id
            shared.setdefault(name, child.lineno)
            shared[name] = min(shared[name], child.lineno)
        if isinstance(child, ast.Return):
            returns.append(Return(child.lineno, reader.text(child), status_of(child.value)))
        if isinstance(child, ast.Call) and dotted(child.func).rsplit(".", 1)[-1] == "abort" and child.args:
            status = literal(child.args[0])
            if isinstance(status, int) and not isinstance(status, bool):
                aborts.append((status, child.lineno))
    reader.found.shared_lists.extend(SharedList(n, reader.lists[n], node.name, line) for n, line in shared.items())
    reader.found.functions.append(
        Function(
            node.name,
            node.lineno,
            first,
            tuple(sorted(returns, key=lambda r: r.line)),
            falls_off_end(node.body),
            tuple(sorted(aborts, key=lambda a: a[1])),
            top_level,
            (reader.text(node.body[-1]), node.body[-1].lineno) if node.body else None,
            bool(node.body) and isinstance(node.body[-1], ast.Expr) and not is_docstring(node.body[-1]),
        )
    )
    route_seen: tuple[str, int] | None = None
    for decorator in node.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        name = dotted(call.func if call is not None else decorator)
        method = name.rsplit(".", 1)[-1]
        if call is not None and "." in name and method in ("route", "get", "post", "put", "delete", "patch"):
            path = (
                literal(call.args[0])
                if call.args
                else literal(next((k.value for k in call.keywords if k.arg == "rule"), None))
            )
            methods: tuple[str, ...] | None = None
            if method != "route":
                methods = (method.upper(),)
            else:
                given = literal(next((k.value for k in call.keywords if k.arg == "methods"), None))
                if isinstance(given, list | tuple | set) and all(isinstance(m, str) for m in given):
                    methods = tuple(str(m).upper() for m in given)
            reader.found.routes.append(
                RouteDef(
                    name.rsplit(".", 1)[0],
                    path if isinstance(path, str) else None,
                    methods,
                    node.name,
                    decorator.lineno,
                    reader.text(decorator),
                    decorators,
                    top_level,
                )
            )
            route_seen = route_seen or (reader.text(decorator), decorator.lineno)
        if method == "cross_origin":
            # Decorators apply bottom-up: one above @app.route wraps the function after Flask registered it.
            below_routes = [
                (reader.text(d), d.lineno)
                for d in node.decorator_list[node.decorator_list.index(decorator) + 1 :]
                if dotted(d.func if isinstance(d, ast.Call) else d).rsplit(".", 1)[-1]
                in ("route", "get", "post", "put", "delete", "patch")
            ]
            reader.found.cors.append(
                CorsSetup(
                    "cross_origin",
                    decorator.lineno,
                    reader.text(decorator),
                    None,
                    reader.options(call) if call is not None else (),
                    top_level,
                    function=node.name,
                    above_route=below_routes[0] if below_routes else None,
                )
            )
