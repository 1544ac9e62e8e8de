"""Run the check files in-process with pytest: one CheckResult per check.

``grader.grade`` calls :func:`run_checks`.  The plugin that gives checks their
fixtures (``grader.check.plugin``) is named to pytest only by its module name,
so this module never imports it, and the plugin can import ``grader.grade``
(for ``pytest --webgrade``) without an import cycle.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader.check.collector import Collector
from grader.results import CheckResult

if TYPE_CHECKING:  # grade imports this module: the type only
    from grader.grade import Grading

#: The plugin module that gives checks their fixtures and the ``check`` marker (also pytest11's entry point).
PLUGIN = "grader.check.plugin"

#: pytest's own plugins that a grading run does not need: each costs start-up time,
#: and some would write files (cacheprovider) or print (terminal, xprocess's reminder).
UNUSED_PLUGINS = (
    "cacheprovider",
    "terminal",
    "xprocess",
    "doctest",
    "junitxml",
    "pastebin",
    "stepwise",
    "faulthandler",
    "debugging",
    "setuponly",
    "setupplan",
    "unraisableexception",
    "threadexception",
    "warnings",
    "legacypath",
    "logging",
)


def run_checks(grading: Grading, paths: list[Path]) -> list[CheckResult]:
    """Run the check files in-process with pytest and return one result per check.

    pytest's cache and rootdir live in a temporary directory: nothing is
    written into the student's folder, and the student's own pytest
    configuration or conftest.py is never read.  That directory is inside the
    server's run folder (never in the sandbox's view), so it goes with it even
    when the grader is killed (see ``grader.run.server``).
    """
    collector = Collector(grading)
    with tempfile.TemporaryDirectory(prefix="webgrade-pytest-", dir=grading.server.tmp) as tmp:
        ini = Path(tmp, "pytest.ini")
        ini.write_text("[pytest]\n", encoding="utf-8")
        args = [
            *map(str, paths),
            "-c",
            str(ini),
            "--rootdir",
            tmp,
            "--import-mode=importlib",
            "-p",
            PLUGIN,
            "--capture=no",
            *(f"-pno:{name}" for name in UNUSED_PLUGINS),
        ]
        saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        # Unrelated plugins installed next to us cost start-up time and could change the run.
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        try:
            code = pytest.main(args, plugins=[collector])
        finally:
            if saved is None:
                os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
            else:
                os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    if code == pytest.ExitCode.INTERRUPTED:  # pytest swallowed Ctrl+C: never pass off a partial run as a grade
        raise KeyboardInterrupt
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR) or not collector.results:
        raise RuntimeError(f"pytest could not run the checks (exit code {int(code)})")
    return list(collector.results.values())
