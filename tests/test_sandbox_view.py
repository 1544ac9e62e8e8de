"""The sandboxed server sees none of the grader's own package, wherever its modules live.

The sandbox covers the grader's package up (``hide``); when modules move into
subpackages, a cover computed from one module's folder would shrink to that
subpackage and the server could read the rest of the grader.  This test asks a
real sandboxed server to open every file of the package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import grader
from untrusted import HOSTILE, bwrap_works, grade_copy

PACKAGE = Path(grader.__file__).resolve().parent


@pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot run here (CI installs it)")
def test_the_sandboxed_server_cannot_read_any_file_of_the_grader_package(tmp_path):
    files = sorted(str(p) for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert len(files) > 20, "the package's files were found"
    probe = (
        f"FILES = {files!r}\n"
        "readable = []\n"
        "for name in FILES:\n"
        "    try:\n"
        "        with open(name, 'rb') as f:\n"
        "            f.read(1)\n"
        "        readable.append(name)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('READABLE', len(readable), readable[:5])\n"
    )
    folder = tmp_path / "probe"
    shutil.copytree(HOSTILE / "port_taken", folder)
    (folder / "main.py").write_text(probe + (folder / "main.py").read_text())
    run = grade_copy(folder, "--sandbox", "bwrap", tmp_path=tmp_path)
    assert run.report["sandbox"] == "bwrap"
    line = next(line for line in run.report["server_log"].splitlines() if line.startswith("READABLE"))
    assert line.startswith("READABLE 0 "), line
