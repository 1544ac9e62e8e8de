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
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: A value that is not a literal in the source: only its text is known.
UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN"})()

#: How long a quoted piece of code may be in a message.
WIDTH = 70

#: Headers a server writes by hand for CORS (lower case).
CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
)


@dataclass(frozen=True)
class AppMade:
    """``app = Flask(__name__)``: the variable and its line."""

    name: str
    line: int
    top_level: bool


@dataclass(frozen=True)
class RouteDef:
    """A function under ``@app.route(...)`` (or ``@app.get(...)``)."""

    app: str  #: the object decorated with: "app", or a blueprint's name
    path: str | None  #: the rule, when written as a literal
    methods: tuple[str, ...] | None  #: ``methods=[...]`` as written (upper case), None when not given
    function: str
    line: int  #: the decorator's line
    text: str  #: the decorator as written, without the "@"
    decorators: tuple[tuple[str, int], ...]  #: every decorator of the function, top to bottom: (text, line)
    top_level: bool  #: at the top of the file, not inside a function or a block


@dataclass(frozen=True)
class Return:
    """A ``return`` of a function, with the status it sets when it is written as a number."""

    line: int
    text: str
    status: int | None


@dataclass(frozen=True)
class Function:
    """A function (``def``): where it is, how it returns."""

    name: str
    line: int  #: the ``def`` line
    first_line: int  #: its first decorator's line (``def`` if none), as Python's ``co_firstlineno``
    returns: tuple[Return, ...]
    #: It can run to its end without a ``return`` (so it returns None there).
    falls_off_end: bool
    #: ``abort(N)`` calls with a literal status: (status, line).
    aborts: tuple[tuple[int, int], ...]
    top_level: bool
    #: Its last statement as written, and its line (None for an empty body).
    last: tuple[str, int] | None = None
    #: That last statement is a bare expression (a call whose value is dropped), e.g. ``jsonify(data)``.
    last_is_expression: bool = False


@dataclass(frozen=True)
class RunCall:
    """A call that starts the server: ``app.run(...)`` (or ``run_simple``)."""

    line: int
    text: str
    app: str  #: the object whose run() is called ("" for run_simple)
    top_level: bool  #: at the top of the file, so it runs before any line below it


@dataclass(frozen=True)
class Guard:
    """The ``if __name__ == '__main__':`` block (the first ``if`` at the top level that tests ``__name__``)."""

    line: int
    text: str  #: "if __name__ == '__main___':"
    #: Whether its test is true when the file is run as a program; None when it cannot be told.
    runs: bool | None
    #: The string it compares ``__name__`` with, when there is one.
    spelling: str | None
    #: The test compares with ``!=`` (or ``not``): the block runs only when the file is imported.
    negated: bool
    #: What its body does, as the student wrote it: up to three statements.
    body: tuple[str, ...]
    #: Its body calls ``X.run(...)`` or ``run_simple(...)``.
    calls_run: bool
    #: Its body names ``X.run`` without calling it: (text, line).
    run_not_called: tuple[str, int] | None
    #: The last line of the block.
    end_line: int


@dataclass(frozen=True)
class Imported:
    """A name imported at the top of the file: ``from flask import Flask`` gives ("Flask", "flask")."""

    name: str  #: the name bound in the file
    module: str
    original: str  #: the name in the module ("" for ``import module``)
    line: int
    text: str


@dataclass(frozen=True)
class Option:
    """One keyword of a CORS(...) call or @cross_origin(...): its name, its text, its value if literal."""

    name: str
    text: str
    value: Any
    line: int


@dataclass(frozen=True)
class CorsSetup:
    """``CORS(app, ...)``, ``cors.init_app(app, ...)`` or ``@cross_origin(...)`` as written."""

    kind: str  #: "CORS" or "cross_origin"
    line: int
    text: str
    target: str | None  #: the app it is given ("app"), for CORS(...)
    options: tuple[Option, ...]
    top_level: bool
    #: cross_origin only: the function it decorates, and the route decorator it sits above (text, line), if any.
    function: str | None = None
    above_route: tuple[str, int] | None = None

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@dataclass(frozen=True)
class HeaderSet:
    """A CORS header the student's code writes by hand, and under which condition."""

    name: str  #: as written: "Access-Control-Allow-Origin"
    value_text: str
    value: Any
    line: int
    function: str  #: the function it is written in
    hook: bool  #: that function is an ``@app.after_request`` hook (every answer), not one route's
    #: The tests of the ``if`` blocks around it, innermost last: ("request.method == 'GET'",).
    conditions: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SharedList:
    """A list made at the top of the file that a function adds to: it keeps growing, call after call."""

    name: str
    line: int  #: where the list is made
    function: str
    added: int  #: the line that adds to it


@dataclass
class Source:
    """Everything :func:`read` found in one source."""

    display: str = "your file"  #: how the student knows the file: "main.py", "lesson.ipynb, cell 3"
    parsed: bool = False
    lines: list[str] = field(default_factory=list)
    apps: list[AppMade] = field(default_factory=list)
    routes: list[RouteDef] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    runs: list[RunCall] = field(default_factory=list)
    guard: Guard | None = None
    imports: list[Imported] = field(default_factory=list)
    cors: list[CorsSetup] = field(default_factory=list)
    headers: list[HeaderSet] = field(default_factory=list)
    shared_lists: list[SharedList] = field(default_factory=list)

    def where(self, line: int | None) -> str:
        """ "main.py, line 3" (or just the file's name)."""
        return f"{self.display}, line {line}" if line else self.display

    @property
    def file(self) -> str:
        """The file's name without a notebook's cell: what a result's ``file`` holds."""
        return self.display.split(",")[0]

    def line_text(self, line: int) -> str:
        """The line as written, stripped ("" past the end)."""
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""

    def function(self, name: str) -> Function | None:
        """The top-level function of that name (the last one defined, as Python keeps it)."""
        found = [f for f in self.functions if f.name == name]
        top = [f for f in found if f.top_level]
        chosen = top or found
        return chosen[-1] if chosen else None

    def function_at(self, first_line: int | None) -> Function | None:
        """The function whose code starts at ``first_line`` (a route's line from the app's URL map)."""
        return next((f for f in self.functions if first_line in (f.first_line, f.line)), None)

    def routes_for(self, path: str) -> list[RouteDef]:
        return [r for r in self.routes if r.path == path]

    def app_made_before(self, name: str, line: int) -> AppMade | None:
        """The ``name = Flask(...)`` in force at ``line``: the last one above it."""
        made = [a for a in self.apps if a.name == name and a.line <= line]
        return made[-1] if made else None

    def app_made_after(self, name: str, line: int) -> AppMade | None:
        """A later ``name = Flask(...)`` at the top level, which replaces the app in force at ``line``."""
        return next((a for a in self.apps if a.name == name and a.line > line and a.top_level), None)

    def imported(self, module: str) -> list[Imported]:
        return [i for i in self.imports if i.module == module]


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
    _Reader(source, found).visit_module(tree)
    return found


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


def _dotted(node: ast.AST) -> str:
    """``app.route`` for an attribute chain of names, "" otherwise."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return ""


def _mentions_name(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node))


def _evaluate(node: ast.AST, name: str) -> Any:
    """The value of a test made of ``__name__``, strings, comparisons, and/or/not; UNKNOWN for anything else."""
    if isinstance(node, ast.Name) and node.id == "__name__":
        return name
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        value = _evaluate(node.operand, name)
        return UNKNOWN if value is UNKNOWN else not value
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(v, name) for v in node.values]
        if any(v is UNKNOWN for v in values):
            return UNKNOWN
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, name)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, name)
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


def _status_of(node: ast.expr | None) -> int | None:
    """The status a ``return`` sets: ``return x, 201``, ``make_response(x, 201)``, ``Response(..., status=201)``."""
    if isinstance(node, ast.Tuple) and len(node.elts) >= 2:
        value = literal(node.elts[1])
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(node, ast.Call):
        name = _dotted(node.func).rsplit(".", 1)[-1]
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


def _falls_off_end(body: list[ast.stmt]) -> bool:
    """A block can run to its end without returning or raising."""
    if not body:
        return True
    last = body[-1]
    if isinstance(last, ast.Return | ast.Raise):
        return False
    if isinstance(last, ast.If):
        return _falls_off_end(last.body) or _falls_off_end(last.orelse)
    if isinstance(last, ast.Try):
        ends = [_falls_off_end(last.body + last.orelse)] + [_falls_off_end(h.body) for h in last.handlers]
        return any(ends) if not last.finalbody or _falls_off_end(last.finalbody) else False
    if isinstance(last, ast.With | ast.AsyncWith):
        return _falls_off_end(last.body)
    if isinstance(last, ast.While) and isinstance(last.test, ast.Constant) and last.test.value:
        return any(isinstance(n, ast.Break) for n in ast.walk(last))
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        name = _dotted(last.value.func).rsplit(".", 1)[-1]
        if name in ("abort", "exit", "_exit"):
            return False
    return True


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, without those of functions or classes defined inside it."""
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                todo.append(child)


class _Reader:
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
            if isinstance(statement, ast.If) and _mentions_name(statement.test) and self.found.guard is None:
                self.found.guard = self.guard(statement)
        self.visit_block(tree.body, top_level=True, conditions=(), function=None)

    def visit_block(
        self,
        body: list[ast.stmt],
        *,
        top_level: bool,
        conditions: tuple[tuple[str, int], ...],
        function: tuple[str, bool] | None,
    ) -> None:
        for statement in body:
            self.visit_statement(statement, top_level=top_level, conditions=conditions, function=function)

    def visit_statement(
        self,
        node: ast.stmt,
        *,
        top_level: bool,
        conditions: tuple[tuple[str, int], ...],
        function: tuple[str, bool] | None,
    ) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.function(node, top_level)
            return
        if isinstance(node, ast.ClassDef):
            self.visit_block(node.body, top_level=False, conditions=conditions, function=function)
            return
        if isinstance(node, ast.Import | ast.ImportFrom) and top_level:
            self.imports(node)
        self.calls_and_headers(node, top_level=top_level, conditions=conditions, function=function)
        if isinstance(node, ast.Assign | ast.AnnAssign):
            self.assignment(node, top_level)
        if isinstance(node, ast.If):
            test = (f"if {self.text(node.test)}", node.lineno)
            self.visit_block(node.body, top_level=False, conditions=(*conditions, test), function=function)
            otherwise = (f"else of {test[0]}", node.lineno)
            self.visit_block(node.orelse, top_level=False, conditions=(*conditions, otherwise), function=function)
            return
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                self.visit_block(block, top_level=False, conditions=conditions, function=function)
        for handler in getattr(node, "handlers", []) or []:
            self.visit_block(handler.body, top_level=False, conditions=conditions, function=function)

    # --- the pieces ---

    def assignment(self, node: ast.Assign | ast.AnnAssign, top_level: bool) -> None:
        value = node.value
        if top_level and (
            isinstance(value, ast.List | ast.ListComp)
            or (isinstance(value, ast.Call) and _dotted(value.func) == "list")
        ):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            self.lists.update({t.id: node.lineno for t in targets if isinstance(t, ast.Name)})
        if not isinstance(value, ast.Call) or _dotted(value.func).rsplit(".", 1)[-1] != "Flask":
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
        runs = _evaluate(node.test, "__main__")
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
        body = tuple(self.text(s) for s in node.body if not _is_docstring(s))[:3]
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
        name = _dotted(node.func)
        if name.endswith(".run") and name.count(".") == 1:
            return RunCall(node.lineno, self.text(node), name.split(".")[0], False)
        if name.rsplit(".", 1)[-1] == "run_simple":
            return RunCall(node.lineno, self.text(node), "", False)
        return None

    def calls_and_headers(
        self,
        node: ast.stmt,
        *,
        top_level: bool,
        conditions: tuple[tuple[str, int], ...],
        function: tuple[str, bool] | None,
    ) -> None:
        """Calls in this statement (not in the blocks it holds): app.run, CORS(...), and headers set by hand."""
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
                name = _dotted(child.func)
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
                            (_dotted(target) or None) if target is not None else None,
                            self.options(child),
                            top_level,
                        )
                    )
                if function is not None:
                    self.header_call(child, conditions, function)
            if isinstance(child, ast.Assign) and function is not None:
                for target in child.targets:
                    if isinstance(target, ast.Subscript) and _dotted(target.value).endswith("headers"):
                        self.header(target.slice, child.value, child.lineno, conditions, function)

    def header_call(self, call: ast.Call, conditions: tuple[tuple[str, int], ...], function: tuple[str, bool]) -> None:
        name = _dotted(call.func)
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
        decorators = tuple((self.text(d), d.lineno) for d in node.decorator_list)
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        hook = any(
            _dotted(d.func if isinstance(d, ast.Call) else d).endswith("after_request") for d in node.decorator_list
        )
        returns: list[Return] = []
        aborts: list[tuple[int, int]] = []
        local = {
            t.id
            for child in _own_nodes(node)
            if isinstance(child, ast.Assign)
            for t in child.targets
            if isinstance(t, ast.Name)
        }
        shared: dict[str, int] = {}  # lists of the file's top level this function adds to: the first line that does
        for child in _own_nodes(node):
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in ("append", "extend", "insert", "__iadd__")
                and isinstance(child.func.value, ast.Name)
                and child.func.value.id in self.lists
                and child.func.value.id not in local
            ):
                name = child.func.value.id
                shared.setdefault(name, child.lineno)
                shared[name] = min(shared[name], child.lineno)
            if isinstance(child, ast.Return):
                returns.append(Return(child.lineno, self.text(child), _status_of(child.value)))
            if isinstance(child, ast.Call) and _dotted(child.func).rsplit(".", 1)[-1] == "abort" and child.args:
                status = literal(child.args[0])
                if isinstance(status, int) and not isinstance(status, bool):
                    aborts.append((status, child.lineno))
        self.found.shared_lists.extend(SharedList(n, self.lists[n], node.name, line) for n, line in shared.items())
        self.found.functions.append(
            Function(
                node.name,
                node.lineno,
                first,
                tuple(sorted(returns, key=lambda r: r.line)),
                _falls_off_end(node.body),
                tuple(sorted(aborts, key=lambda a: a[1])),
                top_level,
                (self.text(node.body[-1]), node.body[-1].lineno) if node.body else None,
                bool(node.body) and isinstance(node.body[-1], ast.Expr) and not _is_docstring(node.body[-1]),
            )
        )
        route_seen: tuple[str, int] | None = None
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            name = _dotted(call.func if call is not None else decorator)
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
                self.found.routes.append(
                    RouteDef(
                        name.rsplit(".", 1)[0],
                        path if isinstance(path, str) else None,
                        methods,
                        node.name,
                        decorator.lineno,
                        self.text(decorator),
                        decorators,
                        top_level,
                    )
                )
                route_seen = route_seen or (self.text(decorator), decorator.lineno)
            if method == "cross_origin":
                # Decorators apply bottom-up: one above @app.route wraps the function after Flask registered it.
                below_routes = [
                    (self.text(d), d.lineno)
                    for d in node.decorator_list[node.decorator_list.index(decorator) + 1 :]
                    if _dotted(d.func if isinstance(d, ast.Call) else d).rsplit(".", 1)[-1]
                    in ("route", "get", "post", "put", "delete", "patch")
                ]
                self.found.cors.append(
                    CorsSetup(
                        "cross_origin",
                        decorator.lineno,
                        self.text(decorator),
                        None,
                        self.options(call) if call is not None else (),
                        top_level,
                        function=node.name,
                        above_route=below_routes[0] if below_routes else None,
                    )
                )
        self.visit_block(node.body, top_level=False, conditions=(), function=(node.name, hook))


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


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
