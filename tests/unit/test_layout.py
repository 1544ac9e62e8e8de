"""The README's "Layout" section stays true: every path it names exists, and it names every module.

The block is a tree, two spaces per level, each line a name and what it is
for.  Modules inside a lesson's ``checks/`` folder are the lesson's checks,
listed by the README's checks table instead.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layout_paths() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block, "the Layout section holds a ```text block"
    paths: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, folder) of the folders above this line
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        name = line.split()[0]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "".join(folder for _, folder in stack) + name
        paths.append(path)
        if name.endswith("/"):
            stack.append((indent, name))
    return paths


def test_every_path_the_layout_names_exists():
    missing = [p for p in layout_paths() if not (ROOT / p).exists()]
    assert not missing, f"README's Layout names paths that do not exist: {missing}"


def test_the_layout_names_every_module_and_folder_of_the_package():
    named = set(layout_paths())
    package = ROOT / "grader"
    wanted = set()
    for path in package.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if "__pycache__" in path.parts:
            continue
        if path.is_dir():
            wanted.add(rel + "/")
        elif path.suffix == ".py" and path.name not in ("__init__.py", "__main__.py"):
            if path.parent.name == "checks" and path.parent.parent.parent.name == "lessons":
                continue  # a lesson's checks: the README's checks table lists them
            wanted.add(rel)
    assert not sorted(wanted - named), f"README's Layout leaves out: {sorted(wanted - named)}"
