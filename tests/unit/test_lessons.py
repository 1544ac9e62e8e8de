"""grader.lessons: every lesson folder is complete and agrees with itself, and reading one stays light.

A lesson's points name its checks, so the two must list the same ids; its
schema must load; what it quotes of the lesson's code (the CORS line, the
template) must be what the lesson's own files say.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from grader import lessons
from grader.check.schema import load_schema
from grader.lessons import Lesson

ROOT = Path(__file__).resolve().parents[2]


def declared_check_ids(folder: Path) -> list[str]:
    """The ids of the ``@pytest.mark.check("id", ...)`` markers in a folder of checks, read from the source."""
    ids = []
    for path in sorted(folder.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "check"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                ids.append(node.args[0].value)
    return ids


def test_the_lessons_are_the_folders_and_web_server_is_the_default() -> None:
    assert lessons.names() == ["web_server"]
    assert lessons.DEFAULT in lessons.names()
    with pytest.raises(ValueError, match="no lesson named 'nope'; the lessons are: web_server"):
        lessons.load("nope")


@pytest.mark.parametrize("name", lessons.names())
def test_a_lesson_is_complete(name: str) -> None:
    lesson = lessons.load(name)
    assert isinstance(lesson, Lesson) and lesson.name == name
    assert sorted(declared_check_ids(lesson.checks_dir)) == sorted(lesson.check_ids), "points and checks differ"
    assert not set(lesson.points) & set(lesson.optional)
    assert load_schema(lesson.schema, lesson.min_records)["minItems"] == lesson.min_records
    assert lesson.api_path.startswith("/") and lesson.request_timeout > 0


def test_web_server_quotes_the_lessons_own_code() -> None:
    """The CORS line hints quote is the reference server's; the template's records carry the table's columns."""
    lesson = lessons.load("web_server")
    assert lesson.cors_setup in (ROOT / "reference_server" / "main.py").read_text(encoding="utf-8")
    assert lesson.cors_setup in (ROOT / "student_template" / "main.py").read_text(encoding="utf-8")
    assert all(set(lesson.table_columns) <= set(record) for record in lesson.template_records)


def test_reading_the_lesson_loads_no_heavy_module() -> None:
    """The CLI builds its rubric (and so reads the lesson) before the server starts: nothing heavy may come with it."""
    code = (
        "import sys, grader.rubric\n"
        "rubric = grader.rubric.Rubric()\n"
        "assert rubric.lesson.checks_dir.is_dir()\n"
        "print(' '.join(sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    loaded = set(run.stdout.split())
    assert "grader.lessons.web_server" in loaded
    heavy = {"pytest", "requests", "jsonschema", "playwright", "rich", "http.server", "grader.lessons.web_server.page"}
    assert sorted(heavy & loaded) == []
