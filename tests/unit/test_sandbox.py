"""sandbox: the choice before the start, and after bubblewrap failed; the modes as the CLI and reports spell them."""

from __future__ import annotations

import json

import pytest

from grader.run import sandbox
from grader.run.sandbox import Choice, Mode


@pytest.fixture
def unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    """bubblewrap cannot be used here (restored after the test, as is what after_failure marks)."""
    monkeypatch.setattr(sandbox, "_unusable", "bubblewrap is not installed")


@pytest.fixture
def usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_unusable", None)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: f"/usr/bin/{name}")


def test_modes_are_the_strings_the_cli_takes_and_reports_show():
    assert [mode.value for mode in Mode] == ["auto", "bwrap", "none"]
    assert json.dumps({"sandbox": Mode.BWRAP}) == '{"sandbox": "bwrap"}'
    assert f"sandbox: {Mode.NONE}" == "sandbox: none" and Mode.NONE == "none"


def test_none_is_never_a_sandbox(usable):
    assert sandbox.choose(Mode.NONE) == Choice(Mode.NONE, "--sandbox none")


@pytest.mark.usefixtures("usable")
@pytest.mark.parametrize("requested", [Mode.AUTO, Mode.BWRAP])
def test_the_sandbox_where_it_may_work(requested):
    assert sandbox.choose(requested) == Choice(Mode.BWRAP)


def test_auto_goes_without_and_says_why(unusable):
    assert sandbox.choose(Mode.AUTO) == Choice(Mode.NONE, "bubblewrap is not installed")


def test_bwrap_is_required(unusable):
    choice = sandbox.choose(Mode.BWRAP)
    assert (choice.mode, choice.note) == (Mode.NONE, "bubblewrap is not installed")
    assert choice.problem is not None and choice.problem.kind == "sandbox"


def test_after_a_failure_auto_falls_back_once_for_all(usable):
    choice = sandbox.after_failure(Mode.AUTO, "bwrap: No permissions to create new namespace")
    note = "bubblewrap is installed but cannot start a sandbox here (bwrap: No permissions to create new namespace)"
    assert choice == Choice(Mode.NONE, note)
    assert sandbox.choose(Mode.AUTO) == Choice(Mode.NONE, note)  # not tried again in this process


def test_after_a_failure_bwrap_gives_up(usable):
    choice = sandbox.after_failure(Mode.BWRAP, "bwrap: setting up uid map: Permission denied")
    assert choice.note == "bubblewrap could not start a sandbox here (bwrap: setting up uid map: Permission denied)"
    assert choice.problem is not None and choice.note in choice.problem.message
    assert sandbox.choose(Mode.BWRAP) == Choice(Mode.BWRAP)  # it may work for another run
