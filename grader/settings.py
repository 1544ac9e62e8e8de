"""What ``webgrade check``'s options mean for a grading, for the commands that grade as it does.

``%webgrade`` (the notebook) and ``webgrade watch`` take the check command's own
options, parsed by the check command's own click parameters
(:func:`grading_params`, given the ``check`` command: this module never
imports the CLI): one declaration, so their names, types, checks and help
cannot drift from ``check``'s.  :func:`rubric_and_options` turns the
parsed values into the rubric and :class:`~grader.grade.Options` exactly as
``check`` does.

Import-light: click only; the rubric and the grader load when a grading starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from grader.grade import Options
    from grader.results import Report
    from grader.rubric import Rubric, RubricError

#: Options of ``check`` that write outputs for CI and scripts: not for a person watching a scorecard.
NOT_FOR_PEOPLE = frozenset({"fmt", "junit", "gradescope_dir", "classroom"})


def grading_params(check: click.Command) -> list[click.Parameter]:
    """``check``'s arguments and options that say what to grade and how: PATH, --entry, -v, --origin, ..."""
    return [param for param in check.params if param.name not in NOT_FOR_PEOPLE]


def rubric_and_options(path: Path, params: Mapping[str, Any]) -> tuple[Rubric, Options]:
    """The rubric and Options that ``webgrade check PATH`` would grade with, given its parsed ``params``.

    Raises click's ``BadParameter`` for a bad value and ``grader.errors.UsageError`` (a
    ``RubricError``) for a mistake in the rubric, as ``check`` does.
    """
    from grader import rubric as rubrics
    from grader.grade import Options

    api_path, schema = params.get("api_path"), params.get("schema")
    if api_path is not None and not api_path.startswith("/"):
        raise click.BadParameter("expected a path starting with /, like /api/data", param_hint="--api-path")
    if schema is not None:
        from grader.check.schema import load_schema

        try:
            load_schema(schema)
        except Exception as error:  # JSON syntax or an invalid JSON Schema
            raise click.BadParameter(f"{schema} is not a usable JSON Schema: {error}", param_hint="--schema") from None
    rubric_file = params.get("rubric_file") or rubrics.find(path)
    rubric = rubrics.load(rubric_file) if rubric_file else rubrics.Rubric()
    extra_checks = [folder.resolve() for folder in params.get("checks_dirs") or ()]
    if not extra_checks and not rubric.checks_dirs:  # only built-in checks: a typo'd id is known now
        errors = rubric.unknown_checks(set(rubric.lesson.check_ids))
        if errors:
            raise errors[0]
    rubric = rubric.with_overrides(origin=params.get("origin"), api_path=api_path, schema=schema)
    defaults = Options()
    options = Options(
        timeout=params.get("timeout", defaults.timeout),
        python=params.get("python") or defaults.python,
        command=params.get("command"),
        port=params.get("port"),
        browser_check=params.get("browser_check"),
        extra_checks=extra_checks,
        sandbox=params.get("sandbox") or defaults.sandbox,
        time_limit=params.get("time_limit", defaults.time_limit),
    )
    return rubric, options


def unknown_checks(rubric: Rubric, report: Report) -> list[RubricError]:
    """The rubric's ``[checks."id"]`` tables that name no check graded (typos), known once instructor checks ran."""
    return rubric.unknown_checks({check.id for check in report.checks})
