"""What importing the grader loads, in a fresh interpreter (as click's tests/test_imports.py pins click's).

``webgrade check`` starts the student's server before it imports pytest,
requests, jsonschema, playwright or rich, so their import time overlaps the
server's start.  The imports inside functions that make this so are easy to
undo with one import at the top of a module; these tests notice.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Imported only once the server is starting: each costs tens of milliseconds.
HEAVY = ("pytest", "_pytest", "xprocess", "requests", "jsonschema", "playwright", "rich")


def loaded_by(statement: str) -> set[str]:
    """The modules that ``statement`` adds to a fresh interpreter's (beyond what Python itself loads)."""

    def modules(code: str) -> set[str]:
        listing = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
        run = subprocess.run(
            [sys.executable, "-c", listing], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
        )
        return set(run.stdout.split())

    return modules(statement) - modules("pass")


def heavy(modules: set[str]) -> list[str]:
    """The heavy packages among ``modules``, by top-level name."""
    return sorted({name.split(".")[0] for name in modules} & set(HEAVY))


@pytest.mark.parametrize(
    "statement",
    [
        "import grader.cli",
        # What `webgrade check` has imported by the time it starts the student's server.
        "import grader.cli, grader.grade, grader.rubric, grader.find.submission",
        # jsonschema comes with the first schema loaded, not with the module.
        "import grader.check.schema",
    ],
)
def test_start_up_imports_leave_the_heavy_modules_for_later(statement: str) -> None:
    assert heavy(loaded_by(statement)) == []


def test_import_grader_is_light() -> None:
    """``from grader import Failure`` (every check does it) loads the standard library only."""
    loaded = loaded_by("import grader")
    assert sorted(name for name in loaded if name.split(".")[0] == "grader") == [
        "grader",
        "grader.errors",
        "grader.failures",
    ]
    outside = {name.split(".")[0] for name in loaded} - set(sys.stdlib_module_names) - {"grader"}
    assert sorted(outside) == []
