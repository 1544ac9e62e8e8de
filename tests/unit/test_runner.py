"""grader.check.runner.run_checks: the pytest session it asks for, without running one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from grader.check import runner
from grader.results import CheckResult


def sessions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runs: int) -> list[tuple[list[str], list[Any]]]:
    """The (args, plugins) of ``runs`` gradings' pytest sessions, each ending with one passed check."""
    asked: list[tuple[list[str], list[Any]]] = []

    def main(args: list[str], plugins: list[Any]) -> pytest.ExitCode:
        ini = Path(args[args.index("-c") + 1])
        assert ini.parent == tmp_path and ini.name.startswith("webgrade-pytest-") and ini.suffix == ".ini"
        assert ini.read_text(encoding="utf-8") == "[pytest]\n"
        asked.append((args, plugins))
        plugins[0].results["server.start"] = CheckResult("server.start", "starts", "passed", 1, 1)
        return pytest.ExitCode.OK

    monkeypatch.setattr(pytest, "main", main)
    grading = SimpleNamespace(server=SimpleNamespace(tmp=tmp_path))
    for _ in range(runs):
        assert runner.run_checks(grading, [tmp_path / "checks"])[0].status == "passed"  # type: ignore[arg-type]
    return asked


def test_the_plugin_is_named_until_loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delitem(sys.modules, runner.PLUGIN, raising=False)
    [(args, plugins)] = sessions(monkeypatch, tmp_path, 1)
    assert args[args.index("-p") + 1] == runner.PLUGIN
    assert len(plugins) == 1  # the collector alone


def test_a_loaded_plugin_is_handed_over_not_searched_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``-p NAME`` makes pytest read every installed package's entry points first: a warm process skips that."""
    module = importlib.import_module(runner.PLUGIN)
    asked = sessions(monkeypatch, tmp_path, 2)
    for args, plugins in asked:
        assert runner.PLUGIN not in args
        assert plugins[1] is module  # after the collector, where `-p` registers it
        assert args[args.index("--rootdir") + 1] == str(tmp_path)
    assert len(list(tmp_path.iterdir())) == 2, "one ini file per session, in the run's folder, and no folder"
