"""workspace: the capped copy, what it leaves out, student paths, and the janitor."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.run.workspace import Janitor, Workspace


@pytest.fixture
def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Workspace]]:
    """Workspaces made in tmp_path (not the system's temporary folder), removed after the test."""
    (tmp_path / "temp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    made: list[Workspace] = []

    def workspace(original: Path, student_root: Path | None = None) -> Workspace:
        made.append(Workspace(original, student_root))
        return made[-1]

    yield workspace
    for each in made:
        each.remove()


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def test_the_copy_leaves_out_other_peoples_code(tmp_path, make):
    folder = tmp_path / "submission"
    for name in ("main.py", "static/page.html", ".git/HEAD", "node_modules/x.js", "env2/pyvenv.cfg", "env2/lib.py"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    (folder / "link.py").symlink_to("main.py")
    workspace = make(folder)
    assert workspace.copy() is None
    assert files(workspace.workdir) == {"main.py", "static", "static/page.html", "link.py"}
    assert (workspace.workdir / "link.py").is_symlink()
    assert files(folder) >= {".git/HEAD", "main.py"}  # the original is untouched


def test_the_copy_stops_at_its_cap(tmp_path, make):
    folder = tmp_path / "submission"
    (folder / "data").mkdir(parents=True)
    for name in ("a.bin", "b.bin", "data/c.bin"):
        (folder / name).write_bytes(b"x" * 600)
    workspace = make(folder)
    warning = workspace.copy(max_bytes=1000)
    assert warning == "the submission's folder holds more than 0 MB: some files were not copied for the server"
    copied = [p for p in workspace.workdir.rglob("*.bin")]
    assert len(copied) == 1
    assert make(folder).copy(max_bytes=2000) is None


def test_paths_of_the_copy_are_the_students(tmp_path, make):
    own = make(tmp_path)
    assert own.as_student_path(f'File "{own.workdir}/main.py", line 3') == 'File "main.py", line 3'
    assert own.as_student_path(f"cwd: {own.workdir}") == "cwd: ."
    assert own.as_student_path("") == ""
    (tmp_path / "api").mkdir()
    inside = make(tmp_path / "api", student_root=tmp_path)
    assert inside.as_student_path(f"{inside.workdir}/main.py and {inside.workdir}") == "api/main.py and api"


def test_prepare_gives_a_fresh_drop_box_and_the_launcher(tmp_path, make):
    (tmp_path / "submission").mkdir()
    workspace = make(tmp_path / "submission")
    workspace.copy()
    workspace.prepare(sandboxed=False, uid=None)
    (workspace.out / "routes.json").write_text("[]")
    workspace.prepare(sandboxed=False, uid=None)
    assert list(workspace.out.iterdir()) == []
    assert workspace.launcher.exists() and workspace.home.is_dir()
    assert [file.name for file in workspace.launcher_files] == ["launcher.py", "supervisor.py"]
    assert all(file.exists() for file in workspace.launcher_files)


def test_the_janitor_removes_the_folder_once_every_holder_is_gone(tmp_path):
    folder = tmp_path / "webgrade-run"
    folder.mkdir()
    janitor = Janitor(folder)
    assert janitor.process is not None
    os.close(janitor.hold)  # as if the grader was killed (and the supervisor, which holds it too)
    assert janitor.process.wait(timeout=30) == 0
    assert not folder.exists()


def test_a_released_janitor_exits_by_itself(tmp_path):
    """The grader removed its folder itself, then lets go: the janitor finds nothing to do."""
    folder = tmp_path / "webgrade-run"
    folder.mkdir()
    janitor = Janitor(folder)
    shutil.rmtree(folder)
    janitor.release()
    assert janitor.process is not None and janitor.process.returncode == 0
