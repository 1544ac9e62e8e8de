"""What each lesson knows: its checks, points, defaults, schema and page, one folder per lesson.

A lesson is a folder here whose ``__init__.py`` defines ``LESSON``, a
:class:`Lesson`.  A rubric picks one by the folder's name (``[assignment]
lesson = "web_server"``, the default), so a second lesson is one new folder.
The rest of the grader reads a lesson only through its :class:`Lesson`.

Import-light on purpose: the CLI reads the lesson (through the rubric) before
it starts the student's server, so nothing here, nor in a lesson's
``__init__.py``, may import pytest, requests, jsonschema or playwright.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The lesson a rubric grades when it names none.
DEFAULT = "web_server"


@dataclass(frozen=True)
class Lesson:
    """Everything one lesson knows that the grader needs, in one place."""

    #: Its folder's name, as a rubric's ``lesson = "..."`` names it.
    name: str
    #: Its built-in checks: a folder of pytest files.
    checks_dir: Path
    #: Points per built-in check, in the order the report lists them.
    points: Mapping[str, float]
    #: Built-in checks that are off unless a rubric names them (the lesson's "hacks"), with their points.
    optional: Mapping[str, float]
    #: The API route the lesson's page fetches.
    api_path: str
    #: The origin the lesson's page is served from: its fetch is cross-origin.
    origin: str
    #: The JSON Schema of the API's answer, and how many records it must hold at least.
    schema: Path
    min_records: int
    #: Seconds one HTTP request may take before a check says the handler hangs.
    request_timeout: float
    #: The record keys the page's table draws, one per column, in order.
    table_columns: tuple[str, ...]
    #: The line of the lesson's code that sets up CORS, which hints quote.
    cors_setup: str
    #: What the template the students start from returns: its home page and its records.
    template_home: str
    template_records: tuple[Mapping[str, Any], ...]

    @property
    def check_ids(self) -> list[str]:
        """Every built-in check, in report order: the graded ones, then the optional ones."""
        return [*self.points, *self.optional]


def names() -> list[str]:
    """The lessons there are: the folders of this package."""
    return sorted(path.name for path in Path(__file__).parent.iterdir() if (path / "__init__.py").is_file())


def load(name: str) -> Lesson:
    """The lesson of that name (its folder's ``LESSON``); ValueError when there is no such folder."""
    if name not in names():
        raise ValueError(f"no lesson named {name!r}; the lessons are: {', '.join(names())}")
    lesson = importlib.import_module(f"{__name__}.{name}").LESSON
    if not isinstance(lesson, Lesson):
        raise TypeError(f"{__name__}.{name}.LESSON is a {type(lesson).__name__}, not a Lesson")
    return lesson
