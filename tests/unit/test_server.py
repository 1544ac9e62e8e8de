"""Server before and without a start: its arguments, and what it says when nothing ran."""

from __future__ import annotations

import tempfile

import pytest

from grader.run.sandbox import Mode
from grader.run.server import Server


def test_the_sandbox_is_one_of_three(tmp_path):
    with pytest.raises(ValueError, match="sandbox must be auto, bwrap or none, not 'docker'"):
        Server(None, command="serve {port}", workdir=tmp_path, sandbox="docker")


def test_something_to_run_is_needed(tmp_path):
    with pytest.raises(ValueError, match="a submission or a command is needed"):
        Server(None, workdir=tmp_path)


def test_an_unstarted_server_says_nothing_and_leaves_nothing(tmp_path, monkeypatch):
    (tmp_path / "temp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    server = Server(None, command="serve {port}", workdir=tmp_path / "temp", sandbox="none", port=5999)
    assert server.tmp.parent == tmp_path / "temp" and server.workdir == server.tmp / "work"
    assert (server.base_url, server.requested_sandbox, server.sandbox) == ("http://127.0.0.1:5999", Mode.NONE, "none")
    assert (server.log_text(), server.log_size(), server.log_since(0)) == ("", 0, "")
    assert server.popen is None and not server.alive() and server.routes == [] and server.route_for("/") is None
    server.stop()
    assert list((tmp_path / "temp").iterdir()) == [] and server.warnings == []
