"""Every part of the grader small enough to read at once: no module over 600 lines, no class over 300.

The limits of the architecture issue; a module that grows past one is split by
concept (see CONTRIBUTING.md), not given an exception here.
"""

from __future__ import annotations

import ast
from pathlib import Path

GRADER = Path(__file__).resolve().parents[2] / "grader"
MODULE_LINES = 600
CLASS_LINES = 300


def sizes(path: Path) -> tuple[int, dict[str, int]]:
    """The module's line count and each class's, by name."""
    text = path.read_text(encoding="utf-8")
    classes = {
        node.name: (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.ClassDef)
    }
    return len(text.splitlines()), classes


def test_no_module_or_class_is_too_long_to_read_at_once() -> None:
    too_long = []
    for path in sorted(GRADER.rglob("*.py")):
        lines, classes = sizes(path)
        name = path.relative_to(GRADER.parent).as_posix()
        if lines > MODULE_LINES:
            too_long.append(f"{name}: {lines} lines")
        too_long += [f"{name}: class {c} {n} lines" for c, n in classes.items() if n > CLASS_LINES]
    assert not too_long


def test_the_sizes_are_measured(tmp_path: Path) -> None:
    """The measure itself: a class's lines from its first to its last, the module's every line."""
    module = tmp_path / "m.py"
    module.write_text("x = 1\n\n\nclass A:\n    a = 1\n\n    def f(self):\n        return 2\n", encoding="utf-8")
    assert sizes(module) == (8, {"A": 5})
