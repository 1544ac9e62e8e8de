"""`webgrade batch --shard I/N` and `webgrade merge`: a class graded in slices is the class graded whole.

Every grader here runs from one copy of the package taken when the module
starts: the settings a merge compares include a hash of the grader's own
files, which an edit made while the module runs would change between slices.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SERVERS, WEBGRADE

from grader import __version__
from grader.batch import entries as batches
from grader.batch import shard
from grader.grade import Options
from grader.rubric import Rubric

#: Where this module's graders run from: see :func:`frozen_grader`.
CWD = ROOT


@pytest.fixture(scope="module", autouse=True)
def frozen_grader(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every grader of this module runs one copy of the package, taken when the module starts."""
    global CWD
    CWD = tmp_path_factory.mktemp("frozen")
    shutil.copytree(ROOT / "grader", CWD / "grader", symlinks=True)
    yield CWD
    CWD = ROOT


def webgrade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WEBGRADE, *args],
        cwd=CWD,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )


def rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))))


def results(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {r["entry"]: r for r in map(json.loads, lines)}


@dataclass
class Graded:
    subs: Path
    whole: Path
    slices: list[Path]
    merged: Path
    merge_run: subprocess.CompletedProcess[str]
    args: list[str]


#: Slices of two (shard.slice_of): each name below lands in the one said, so both slices hold several.
CLASS = {
    "alice": 2,
    "bob.zip": 2,
    "carol.ipynb": 2,
    "eve": 2,
    "pat one": 2,  # and "pat_one", in the other slice, would both be feedback/pat_one.md in a slice's own view
    "dave.py": 1,
    "ivan": 1,
    "kim": 1,
    "lee.zip": 1,
    "pat_one": 1,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    tmp = tmp_path_factory.mktemp("shards")
    subs = tmp / "subs"
    subs.mkdir()
    shutil.copytree(ROOT / "reference_server", subs / "alice")
    with zipfile.ZipFile(subs / "bob.zip", "w") as zf:
        zf.write(SERVERS / "missing_key" / "main.py", "bob/main.py")
    shutil.copyfile(SERVERS / "notebook" / "lesson.ipynb", subs / "carol.ipynb")
    shutil.copytree(SERVERS / "no_cors", subs / "eve")
    shutil.copytree(ROOT / "reference_server", subs / "pat one")
    shutil.copyfile(SERVERS / "crash_import" / "main.py", subs / "dave.py")
    shutil.copytree(SERVERS / "route_renamed", subs / "ivan")
    shutil.copytree(ROOT / "reference_server", subs / "kim")
    with zipfile.ZipFile(subs / "lee.zip", "w") as zf:  # hostile: a member that points outside
        zf.write(ROOT / "reference_server" / "main.py", "main.py")
        zf.writestr("../../escaped.txt", "escaped")
    shutil.copytree(ROOT / "reference_server", subs / "pat_one")
    (subs / "README.md").write_text("not a submission\n")
    roster = tmp / "roster.csv"
    roster.write_text("entry,name,id\nalice,Alice,1\ndave,Dave,4\nkim,Kim,11\nzoe,Zoe Absent,26\n")
    assert {name: shard.slice_of(name, 2) for name in CLASS} == CLASS
    args = ["--no-browser", "--timeout", "5", "--roster", str(roster), "-j", "2"]

    whole = webgrade("batch", str(subs), "--out", str(tmp / "whole"), *args)
    assert whole.returncode == 0, whole.stderr
    slices = []
    for index in (1, 2):
        run = webgrade("batch", str(subs), "--out", str(tmp / f"slice{index}"), *args, "--shard", f"{index}/2")
        assert run.returncode == 0, run.stderr
        slices.append(tmp / f"slice{index}")
    merged = webgrade("merge", *map(str, slices), "--out", str(tmp / "merged"))
    return Graded(subs, tmp / "whole", slices, tmp / "merged", merged, args)


def _without_duration(table: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "duration"} for row in table]


def test_two_slices_merged_are_the_whole_batch_row_for_row(graded):
    assert graded.merge_run.returncode == 0, graded.merge_run.stderr
    assert "merged 2 outputs: 10 submissions" in graded.merge_run.stdout
    sliced = [sorted(r["entry"] for r in rows(out)) for out in graded.slices]
    assert sliced == [sorted(n for n, i in CLASS.items() if i == index) for index in (1, 2)]  # disjoint, each its own
    whole, merged = rows(graded.whole), rows(graded.merged)
    assert list(whole[0]) == list(merged[0])  # the same columns, in the same order
    assert _without_duration(merged) == _without_duration(whole)
    # The same feedback files, by the same names (pat one and pat_one were in different slices), saying the same.
    names = sorted(p.name for p in (graded.whole / "feedback").iterdir())
    assert sorted(p.name for p in (graded.merged / "feedback").iterdir()) == names
    assert {"pat_one.md", "pat_one-2.md"} <= set(names)
    for name in names:
        assert (graded.merged / "feedback" / name).read_text() == (graded.whole / "feedback" / name).read_text()
    # Every full report, and the report page with what only the whole folder knows.
    whole_results, merged_results = results(graded.whole), results(graded.merged)
    assert sorted(merged_results) == sorted(whole_results) == sorted(CLASS)
    for entry, result in merged_results.items():
        expected = whole_results[entry]
        assert (result["status"], result["score"], result["feedback"]) == (
            expected["status"],
            expected["score"],
            expected["feedback"],
        )
        assert result["settings"] == expected["settings"]
    page = (graded.merged / "report.html").read_text()
    assert "Zoe Absent" in page and "README.md" in page
    manifest = json.loads((graded.merged / "batch.json").read_text())
    assert manifest["shard"] is None and sorted(manifest["graded"]) == sorted(CLASS)


def test_merge_refuses_outputs_graded_otherwise_overlapping_or_in_place(graded, tmp_path):
    other = tmp_path / "slice2-slower"
    run = webgrade("batch", str(graded.subs), "--out", str(other), *graded.args, "--timeout", "9", "--shard", "2/2")
    assert run.returncode == 0, run.stderr
    refused = webgrade("merge", str(graded.slices[0]), str(other), "--out", str(tmp_path / "merged"))
    assert refused.returncode == 2 and "different settings" in refused.stderr and "Traceback" not in refused.stderr
    assert "--timeout" in refused.stderr  # what may differ, when the grader is the same
    assert not (tmp_path / "merged").exists()
    overlapping = webgrade("merge", str(graded.slices[0]), str(graded.whole), "--out", str(tmp_path / "merged"))
    assert overlapping.returncode == 2 and "in both" in overlapping.stderr
    in_place = webgrade("merge", str(graded.slices[0]), str(graded.slices[1]), "--out", str(graded.slices[0]))
    assert in_place.returncode == 2 and "apart from the outputs" in in_place.stderr
    not_a_batch = webgrade("merge", str(graded.subs), "--out", str(tmp_path / "merged"))
    assert not_a_batch.returncode == 2 and "batch.json" in not_a_batch.stderr


def test_merge_says_which_submissions_no_slice_graded(graded, tmp_path):
    alone = webgrade("merge", str(graded.slices[0]), "--out", str(tmp_path / "merged"))
    assert alone.returncode == 1, alone.stderr
    missing = sorted(n for n, i in CLASS.items() if i == 2)
    assert f"{len(missing)} submission(s) are in no output" in alone.stderr
    assert all(name in alone.stderr for name in missing)
    assert sorted(r["entry"] for r in rows(tmp_path / "merged")) == sorted(n for n, i in CLASS.items() if i == 1)


def test_a_slice_is_chosen_by_the_entry_alone_and_every_entry_is_in_exactly_one():
    entries = [batches.Entry(f"student-{n}", Path(f"/s/{n}"), "folder") for n in range(200)]
    slices = [shard.select(entries, index, 3) for index in (1, 2, 3)]
    assert sorted(e.name for s in slices for e in s) == sorted(e.name for e in entries)
    assert all(40 < len(s) < 95 for s in slices)  # about a third each
    # A late submission moves no one: every other entry stays in its slice.
    more = [*entries, batches.Entry("late", Path("/s/late"), "folder")]
    for index in (1, 2, 3):
        assert [e.name for e in shard.select(more, index, 3) if e.name != "late"] == [e.name for e in slices[index - 1]]


@pytest.mark.parametrize("spec", ["0/2", "3/2", "1/0", "2", "a/b", "-1/2"])
def test_a_shard_must_be_i_of_n(spec, tmp_path):
    with pytest.raises(shard.ShardError):
        shard.parse(spec)
    run = webgrade("batch", str(tmp_path), "--out", str(tmp_path / "out"), "--shard", spec)
    assert run.returncode == 2 and "--shard" in run.stderr and "Traceback" not in run.stderr


def test_the_graders_own_files_are_part_of_its_version_and_of_the_settings(tmp_path, monkeypatch):
    package = tmp_path / "grader"
    shutil.copytree(ROOT / "grader", package, ignore=shutil.ignore_patterns("__pycache__"))
    before = batches.version_of(package)
    assert before.startswith(f"{__version__}+") and batches.version_of(package) == before
    (package / "grade.py").write_text((package / "grade.py").read_text() + "\n# a fix\n")
    assert batches.version_of(package) != before  # a new webgrade, even with the same version number
    rubric, options = Rubric(), Options()
    settings = batches.settings_hash(rubric, options)
    monkeypatch.setattr(batches, "grader_version", lambda: "0.1.0+another")
    assert batches.settings_hash(rubric, options) != settings  # so --resume regrades everything
