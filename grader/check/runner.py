"""Run the check files in-process with pytest: one CheckResult per check.

``grader.grade`` calls :func:`run_checks`.  The plugin that gives checks their
fixtures (``grader.check.plugin``) is named to pytest only by its module name,
so this module never imports it, and the plugin can import ``grader.grade``
(for ``pytest --webgrade``) without an import cycle.

A process that grades again (``webgrade watch``, a batch's workers) pays for
pytest's session each time, so each one does only what a session needs: once
pytest has loaded the plugin, later sessions are handed the module itself
(``-p NAME`` would search every installed package's entry points for a plugin
of that name first), and the session's ini file is written into the run's
folder, with no folder of its own to make and remove.
"""

from __future__ import annotations

import os
import sys
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

    pytest's rootdir is the server's run folder, with an empty ini file of
    ours in it: nothing is written into the student's folder, pytest writes
    nothing (no cache), and the student's own pytest configuration or
    conftest.py is never read.  That folder is never in the sandbox's view,
    and goes with the server even when the grader is killed (see
    ``grader.run.server``).
    """
    collector = Collector(grading)
    tmp = grading.server.tmp
    # A new file of a name no one could guess: without the sandbox the student's server runs as this user.
    handle, ini = tempfile.mkstemp(prefix="webgrade-pytest-", suffix=".ini", dir=tmp)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write("[pytest]\n")
    loaded = sys.modules.get(PLUGIN)  # loaded by an earlier session: handed over as it is
    args = [
        *map(str, paths),
        "-c",
        ini,
        "--rootdir",
        str(tmp),
        "--import-mode=importlib",
        *(("-p", PLUGIN) if loaded is None else ()),
        "--capture=no",
        *(f"-pno:{name}" for name in UNUSED_PLUGINS),
    ]
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    # Unrelated plugins installed next to us cost start-up time and could change the run.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        # Registered after the collector, as `-p` registers it: the same hooks, in the same order.
        code = pytest.main(args, plugins=[collector] if loaded is None else [collector, loaded])
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
