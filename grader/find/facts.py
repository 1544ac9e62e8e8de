"""The facts of one source, as :func:`grader.find.source.read` finds them: apps, routes, functions, CORS.

Plain frozen records, so hints can compare and quote them; :class:`Source`
holds them all, with the look-ups hints need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
