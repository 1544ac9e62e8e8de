"""No import cycle in grader/, counting the imports inside functions.

Many imports are inside functions on purpose (the CLI starts the student's
server before it imports pytest), and a cycle hides well there: each module
runs alone, and the loop bites only in the order some run happens to import
them.  So the graph is read from the source with :mod:`ast`: every ``import``
and ``from ... import`` anywhere in a module (relative ones resolved, and
``from grader.x import y`` counted as importing the module ``grader.x.y`` when
there is one), except under ``if TYPE_CHECKING:``, which never runs.

Importing ``a.b.c`` runs the packages ``a`` and ``a.b`` first, so they count
too, but never a module's own packages (``import grader`` in
``grader.run.server``): Python has always begun importing those before the
module runs, whatever imported it, so they cannot make a loop that depends
on import order.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "grader"

Graph = dict[str, set[str]]


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by its dotted name; a package is its ``__init__.py``."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


class _Imports(ast.NodeVisitor):
    """The grader modules one module imports, wherever the import statement is."""

    def __init__(self, module: str, is_package: bool, known: set[str]) -> None:
        self.module, self.is_package, self.known = module, is_package, known
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:  # only the else branch runs
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".")
            if not self.is_package:
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.known:  # from grader.check import schema: the module grader.check.schema
                self._add(submodule)
            else:  # a name defined in base
                self._add(base)

    def _add(self, name: str) -> None:
        while name and name not in self.known:  # not a grader module (os, pytest), or a name inside one
            name = name.rpartition(".")[0]
        while name:  # the module, then the packages it is in
            if not self.module.startswith(name + "."):  # not one of this module's own packages
                self.found.add(name)
            name = name.rpartition(".")[0]


def imports_of(source: str, module: str, known: set[str], is_package: bool = False) -> set[str]:
    """The modules of ``known`` that ``source`` (the text of ``module``) imports, itself excluded."""
    visitor = _Imports(module, is_package, known)
    visitor.visit(ast.parse(source))
    return visitor.found - {module}


def import_graph(package: Path = PACKAGE) -> Graph:
    modules = module_names(package)
    known = set(modules)
    return {
        name: imports_of(path.read_text(encoding="utf-8"), name, known, path.name == "__init__.py")
        for name, path in modules.items()
    }


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of the graph, as the path that ends where it starts; None if there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done or node not in graph:
            return None
        path.append(node)
        for target in sorted(graph[node]):
            if (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if (cycle := visit(start)) is not None:
            return cycle
    return None


def test_grader_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_imports_inside_functions_and_submodules_named_by_from() -> None:
    graph = import_graph()
    assert "grader.check.runner" in graph["grader.grade"], "grade() imports the runner inside the function"
    assert "grader.rubric" in graph["grader.check.plugin"], "from grader import rubric is the module grader.rubric"
    assert "grader.find.notebook" in graph["grader.find.submission"]


def test_relative_imports_type_checking_and_packages() -> None:
    known = {"pkg", "pkg.a", "pkg.sub", "pkg.sub.b", "pkg.sub.c"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import c\n"
        "from .. import a\n"
        "if TYPE_CHECKING:\n"
        "    import pkg.sub.c\n"
        "else:\n"
        "    import os\n"
        "def f():\n"
        "    from pkg.sub.c import thing\n"
    )
    assert imports_of(source, "pkg.sub.b", known) == {"pkg.sub.c", "pkg.a"}
    assert imports_of("from .sub import b\n", "pkg", known, is_package=True) == {"pkg.sub.b", "pkg.sub"}
    typed_only = "import typing\nif typing.TYPE_CHECKING:\n    from pkg import a\n"
    assert imports_of(typed_only, "pkg.sub.b", known) == set()
    assert imports_of("import pkg.sub.b\n", "pkg.a", known) == {"pkg.sub.b", "pkg.sub"}
    own_packages = "import pkg\nfrom pkg.sub import c\nfrom pkg import sub\n"
    assert imports_of(own_packages, "pkg.sub.b", known) == {"pkg.sub.c"}


def test_find_cycle_names_the_loop() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y2"}, "y2": {"y"}}) == ["y", "y2", "y"]
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) is None
