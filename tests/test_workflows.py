"""The GitHub Actions workflows we ship are valid, as a real linter reads them.

The linter is check-jsonschema (PyPI, in the dev group) with its vendored
copy of SchemaStore's ``github-workflow`` schema (``--builtin-schema
vendor.github-workflows``): offline, no download.  It checks the workflow's
structure (keys, required keys, types, the ``on:`` events), not expressions
such as ``${{ steps.x.outputs.y }}``.

Every ``*.yml``/``*.yaml`` in ``student_template/.github/workflows/`` and, when
it exists, the repository's own ``.github/workflows/`` is linted.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT


def workflows(root: Path) -> list[Path]:
    """The workflow files under ``root``: the student template's, and the repository's own if it has any."""
    folders = [root / "student_template" / ".github" / "workflows", root / ".github" / "workflows"]
    return sorted(path for folder in folders for pattern in ("*.yml", "*.yaml") for path in folder.glob(pattern))


WORKFLOWS = workflows(ROOT)


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--verbose",
            "--builtin-schema",
            "vendor.github-workflows",
            str(path),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_every_workflow_is_found(tmp_path):
    names = {path.relative_to(ROOT).as_posix() for path in WORKFLOWS}
    assert {
        "student_template/.github/workflows/classroom.yml",
        "student_template/.github/workflows/webgrade.yml",
    } <= names
    # The repository's own workflows too, once it has some.
    for name in ("student_template/.github/workflows/a.yml", ".github/workflows/ci.yml", ".github/workflows/b.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(VALID)
    (tmp_path / ".github" / "workflows" / "notes.md").write_text("")
    assert [path.relative_to(tmp_path).as_posix() for path in workflows(tmp_path)] == [
        ".github/workflows/b.yaml",
        ".github/workflows/ci.yml",
        "student_template/.github/workflows/a.yml",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_workflow_is_valid(path):
    result = lint(path)
    assert result.returncode == 0, f"{path.relative_to(ROOT)}:\n{result.stdout}{result.stderr}"
    assert "validation done" in result.stdout


VALID = """\
    name: fine
    on: [push]
    jobs:
      grade:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - run: webgrade check .
"""

#: How to break the valid workflow, and what the linter then says.
BROKEN = {
    "a typo for steps": (lambda text: text.replace("steps:", "step:"), "'step' was unexpected"),
    "no runs-on": (lambda text: text.replace("    runs-on: ubuntu-latest\n", ""), "'runs-on' is a required property"),
    "uses and run in one step": (
        lambda text: text.replace("- run: webgrade", "  run: webgrade"),
        "is valid under each of",
    ),
    "an unknown event": (lambda text: text.replace("on: [push]", "on: [pushh]"), "'pushh' is not one of"),
    "not YAML": (lambda text: text.replace("jobs:", "jobs: [\n\t"), "Failed to parse"),
}


def test_a_valid_workflow_passes_the_linter(tmp_path):
    (tmp_path / "fine.yml").write_text(textwrap.dedent(VALID))
    result = lint(tmp_path / "fine.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("broken", BROKEN)
def test_the_linter_catches_a_broken_workflow(broken, tmp_path):
    breaking, said = BROKEN[broken]
    valid = textwrap.dedent(VALID)
    text = breaking(valid)
    assert text != valid, "the workflow was broken"
    (tmp_path / "broken.yml").write_text(text)
    result = lint(tmp_path / "broken.yml")
    assert result.returncode != 0, f"the linter accepted a workflow with {broken}:\n{text}"
    assert said in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_a_broken_copy_of_each_workflow_fails_the_linter(path, tmp_path):
    text = path.read_text()
    broken = "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("runs-on:"))
    assert broken != text, "every job of ours says where it runs"
    (tmp_path / path.name).write_text(broken)
    result = lint(tmp_path / path.name)
    assert result.returncode != 0 and "'runs-on' is a required property" in result.stdout, result.stdout
