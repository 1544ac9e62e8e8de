"""One pass over the student's tree, filling a :class:`~grader.find.facts.Source` (see :func:`grader.find.source.read`).

The walk and the statements' facts live here; a function's own facts (its
returns, its routes, the lists it shares) are read by :mod:`grader.find.functions`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader.find import functions
from grader.find.facts import AppMade, CorsSetup, Guard, HeaderSet, Imported, Option, RunCall, Source
from grader.find.nodes import UNKNOWN, dotted, evaluate, is_docstring, literal, mentions_name, segment

#: Headers a server writes by hand for CORS (lower case).
CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
)


@dataclass(frozen=True)
class Where:
    """Where a statement stands: at the file's top, under which ``if``s, in which function (name, is a hook)."""

    top_level: bool = True
    conditions: tuple[tuple[str, int], ...] = ()
    function: tuple[str, bool] | None = None

    def nested(self, *condition: tuple[str, int]) -> Where:
        """A block inside this statement (under one more condition, for an ``if``'s branches)."""
        return Where(False, (*self.conditions, *condition), self.function)


class Reader:
    """One pass over the tree, filling a :class:`Source`."""

    def __init__(self, source: str, found: Source) -> None:
        self.lines = source.splitlines()
        self.found = found
        #: Lists made at the top of the file, by name: their line.
        self.lists: dict[str, int] = {}

    def text(self, node: ast.AST) -> str:
        return segment(self.lines, node)

    def visit_module(self, tree: ast.Module) -> None:
        for statement in tree.body:
            if isinstance(statement, ast.If) and mentions_name(statement.test) and self.found.guard is None:
                self.found.guard = self.guard(statement)
        self.visit_block(tree.body, Where())

    def visit_block(self, body: list[ast.stmt], where: Where) -> None:
        for statement in body:
            self.visit_statement(statement, where)

    def visit_statement(self, node: ast.stmt, where: Where) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.function(node, where.top_level)
            return
        if isinstance(node, ast.ClassDef):
            self.visit_block(node.body, where.nested())
            return
        if isinstance(node, ast.Import | ast.ImportFrom) and where.top_level:
            self.imports(node)
        self.calls_and_headers(node, where)
        if isinstance(node, ast.Assign | ast.AnnAssign):
            self.assignment(node, where.top_level)
        if isinstance(node, ast.If):
            test = (f"if {self.text(node.test)}", node.lineno)
            self.visit_block(node.body, where.nested(test))
            self.visit_block(node.orelse, where.nested((f"else of {test[0]}", node.lineno)))
            return
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                self.visit_block(block, where.nested())
        for handler in getattr(node, "handlers", []) or []:
            self.visit_block(handler.body, where.nested())

    # --- the pieces ---

    def assignment(self, node: ast.Assign | ast.AnnAssign, top_level: bool) -> None:
        value = node.value
        if top_level and (
            isinstance(value, ast.List | ast.ListComp) or (isinstance(value, ast.Call) and dotted(value.func) == "list")
        ):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            self.lists.update({t.id: node.lineno for t in targets if isinstance(t, ast.Name)})
        if not isinstance(value, ast.Call) or dotted(value.func).rsplit(".", 1)[-1] != "Flask":
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                self.found.apps.append(AppMade(target.id, node.lineno, top_level))

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        text = self.text(node)
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                self.found.imports.append(Imported(alias.asname or alias.name, module, alias.name, node.lineno, text))
        else:
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                self.found.imports.append(Imported(bound, alias.name, "", node.lineno, text))

    def guard(self, node: ast.If) -> Guard:
        runs = evaluate(node.test, "__main__")
        strings = [
            n.value
            for n in ast.walk(node.test)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value != "__name__"
        ]
        negated = any(isinstance(n, ast.NotEq | ast.IsNot | ast.Not) for n in ast.walk(node.test))
        calls_run, not_called = False, None
        for child in ast.walk(ast.Module(body=node.body, type_ignores=[])):
            if isinstance(child, ast.Call) and self.run_call(child) is not None:
                calls_run = True
            if (
                isinstance(child, ast.Expr)
                and isinstance(child.value, ast.Attribute)
                and child.value.attr in ("run", "run_simple")
            ):
                not_called = (self.text(child.value), child.lineno)
        body = tuple(self.text(s) for s in node.body if not is_docstring(s))[:3]
        return Guard(
            line=node.lineno,
            text=f"if {self.text(node.test)}:",
            runs=None if runs is UNKNOWN else bool(runs),
            spelling=strings[0] if len(strings) == 1 else None,
            negated=negated,
            body=body,
            calls_run=calls_run,
            run_not_called=not_called,
            end_line=node.end_lineno or node.lineno,
        )

    def run_call(self, node: ast.Call) -> RunCall | None:
        name = dotted(node.func)
        if name.endswith(".run") and name.count(".") == 1:
            return RunCall(node.lineno, self.text(node), name.split(".")[0], False)
        if name.rsplit(".", 1)[-1] == "run_simple":
            return RunCall(node.lineno, self.text(node), "", False)
        return None

    def calls_and_headers(self, node: ast.stmt, where: Where) -> None:
        """Calls in this statement (not in the blocks it holds): app.run, CORS(...), and headers set by hand."""
        top_level, conditions, function = where.top_level, where.conditions, where.function
        own: list[ast.AST] = []
        todo: list[ast.AST] = [node]
        while todo:
            current = todo.pop()
            own.append(current)
            for child in ast.iter_child_nodes(current):
                if not isinstance(child, ast.stmt | ast.Lambda):
                    todo.append(child)
        for child in own:
            if isinstance(child, ast.Call):
                run = self.run_call(child)
                if run is not None and function is None:
                    self.found.runs.append(RunCall(run.line, run.text, run.app, top_level))
                name = dotted(child.func)
                last = name.rsplit(".", 1)[-1]
                # CORS(app, ...), or cors.init_app(app, ...) after cors = CORS()
                if last == "CORS" or (last == "init_app" and "cors" in name.lower()):
                    target = (
                        child.args[0] if child.args else next((k.value for k in child.keywords if k.arg == "app"), None)
                    )
                    self.found.cors.append(
                        CorsSetup(
                            "CORS",
                            child.lineno,
                            self.text(child),
                            (dotted(target) or None) if target is not None else None,
                            self.options(child),
                            top_level,
                        )
                    )
                if function is not None:
                    self.header_call(child, conditions, function)
            if isinstance(child, ast.Assign) and function is not None:
                for target in child.targets:
                    if isinstance(target, ast.Subscript) and dotted(target.value).endswith("headers"):
                        self.header(target.slice, child.value, child.lineno, conditions, function)

    def header_call(self, call: ast.Call, conditions: tuple[tuple[str, int], ...], function: tuple[str, bool]) -> None:
        name = dotted(call.func)
        if name.rsplit(".", 1)[-1] in ("add", "set", "setdefault", "add_header") and ".headers." in f"{name}.":
            if len(call.args) >= 2:
                self.header(call.args[0], call.args[1], call.lineno, conditions, function)
        if name.endswith("headers.update") or name.endswith("headers.extend"):
            for arg in call.args:
                if isinstance(arg, ast.Dict):
                    for key, value in zip(arg.keys, arg.values, strict=True):
                        if key is not None:
                            self.header(key, value, call.lineno, conditions, function)

    def header(
        self,
        key: ast.AST,
        value: ast.expr,
        line: int,
        conditions: tuple[tuple[str, int], ...],
        function: tuple[str, bool],
    ) -> None:
        name = literal(key)
        if not isinstance(name, str) or name.lower() not in CORS_HEADERS:
            return
        self.found.headers.append(
            HeaderSet(name, self.text(value), literal(value), line, function[0], function[1], conditions)
        )

    def options(self, call: ast.Call) -> tuple[Option, ...]:
        return tuple(
            Option(k.arg, self.text(k.value), literal(k.value), k.value.lineno)
            for k in call.keywords
            if k.arg is not None and k.arg != "app"
        )

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, top_level: bool) -> None:
        """The function's own facts, then its body's statements (as an ``after_request`` hook's, if it is one)."""
        functions.read(self, node, top_level)
        hook = any(
            dotted(d.func if isinstance(d, ast.Call) else d).endswith("after_request") for d in node.decorator_list
        )
        self.visit_block(node.body, Where(False, (), (node.name, hook)))
