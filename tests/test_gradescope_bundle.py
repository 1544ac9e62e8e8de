"""``webgrade gradescope-bundle``: the zip, unpacked as Gradescope lays out /autograder, set up and run.

Gradescope unpacks the zip into /autograder/source, runs setup.sh once, then
for each submission copies run_autograder to /autograder, puts the student's
files in /autograder/submission and reads /autograder/results/results.json.
Here /autograder is a temporary folder (WEBGRADE_AUTOGRADER_ROOT).

setup.sh installs what the bundle's requirements.txt pins, so the test provisions
exactly that, once per module: pip (run by ``uv tool run`` on the interpreter
setup.sh's ``uv venv`` will pick, so compiled wheels match it) downloads a wheel
for every pin, with no dependencies and no source distributions, from the
registries pip is configured with.  setup.sh then runs offline (UV_OFFLINE) with
that folder as its only source (UV_FIND_LINKS), a uv cache of its own in the
test's temporary folder (UV_CACHE_DIR: a developer's warm cache hides nothing,
as it did when the test read uv's cache alone) and none of the developer's uv
settings (every other UV_* variable dropped, UV_NO_CONFIG).  The cache and the
wheels are deleted as soon as setup.sh is done, the whole folder after the
module's tests.  A pin with no wheel for that interpreter fails the test and
says so: on Gradescope setup.sh would have to build it from source.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, SERVERS, WEBGRADE
from gradescope_spec import check_gradescope_fields

UV = os.environ.get("UV") or shutil.which("uv")


def unpack(bundle: Path, target: Path) -> None:
    """Extract as unzip does, with the files' modes (zipfile alone drops them)."""
    with zipfile.ZipFile(bundle) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, target))
            mode = info.external_attr >> 16
            if mode:
                path.chmod(stat.S_IMODE(mode))


def offline_env(root: Path) -> dict[str, str]:
    """What setup.sh and run_autograder run with: no network, and none of the developer's uv settings."""
    keep = {"UV_PYTHON_INSTALL_DIR"}  # where the developer's uv-managed Pythons are, if any
    env = {name: value for name, value in os.environ.items() if not name.startswith("UV_") or name in keep}
    env.update(
        {
            "WEBGRADE_AUTOGRADER_ROOT": str(root),
            "UV_OFFLINE": "1",
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "PATH": f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}",
            "NO_COLOR": "1",
        }
    )
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def pins(lines: list[str] | str) -> dict[str, str]:
    """``name==version`` lines as {normalised name: version}."""
    from packaging.utils import canonicalize_name

    if isinstance(lines, str):
        lines = lines.splitlines()
    return {
        canonicalize_name(name): version
        for name, version in (line.strip().split("==") for line in lines if line.strip())
    }


def download_wheels(requirements: Path, wheelhouse: Path, env: dict[str, str], cwd: Path) -> None:
    """A wheel of every pin in ``requirements``, for the Python setup.sh's ``uv venv --python '>=3.11'`` picks."""
    found = subprocess.run(
        [UV, "python", "find", "--system", "--no-project", ">=3.11"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )
    assert found.returncode == 0, found.stderr
    python = found.stdout.strip()
    # pip, run on that interpreter, picks the wheels its tags accept; uv has no "pip download".  This step is
    # the only one that reaches a registry: with the developer's own settings, as `uv sync` does.
    fetch_env = {name: value for name, value in os.environ.items() if name not in ("VIRTUAL_ENV", "PYTHONPATH")}
    download = subprocess.run(
        [
            UV,
            "tool",
            "run",
            "--quiet",
            "--python",
            python,
            "--from",
            "pip",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--requirement",
            str(requirements),
            "--dest",
            str(wheelhouse),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=fetch_env,
    )
    assert download.returncode == 0, (
        f"could not download a wheel of every pin in requirements.txt for {python}; a pin with no wheel would be "
        f"built from source by setup.sh on Gradescope, which this test does not do:\n{download.stdout}{download.stderr}"
    )


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Iterator[Path]:
    """A bundle made with the example rubric (instructor checks, a hidden one), unpacked and set up."""
    if UV is None:
        pytest.skip("uv is not installed (the README's commands install it)")
    tmp = tmp_path_factory.mktemp("gradescope")
    try:
        yield set_up(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def set_up(tmp: Path) -> Path:
    bundle = tmp / "autograder.zip"
    made = subprocess.run(
        [*WEBGRADE, "gradescope-bundle", "--rubric", str(ROOT / "examples" / "webgrade.toml"), "-o", str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
    )
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in archive.infolist()}
    assert {
        "setup.sh",
        "run_autograder",
        "requirements.txt",
        "rubric/webgrade.toml",
        "rubric/instructor_checks/test_names.py",
        "python/grader/cli.py",
    } <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert not [n for n in names if "__pycache__" in n]

    root = tmp / "autograder"
    source = root / "source"
    unpack(bundle, source)
    wheelhouse, cache = tmp / "wheelhouse", tmp / "uv-cache"
    env = {**offline_env(root), "UV_CACHE_DIR": str(cache)}
    try:
        download_wheels(source / "requirements.txt", wheelhouse, env, source)
        setup = subprocess.run(
            ["bash", str(source / "setup.sh")],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=source,
            env={**env, "UV_FIND_LINKS": str(wheelhouse)},
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
    finally:
        shutil.rmtree(wheelhouse, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    return root


def run_autograder(root: Path, submission: Path) -> dict:
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.copytree(submission, root / "submission")
    run = subprocess.run(
        [str(root / "run_autograder")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env=offline_env(root),
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    check_gradescope_fields(results)
    return results


def test_setup_installs_exactly_the_pinned_versions(autograder):
    """.venv holds requirements.txt's pins and nothing else, and those are the versions installed here."""
    from grader.gradescope_bundle import requirements

    pinned = pins((autograder / "source" / "requirements.txt").read_text())
    assert pinned == pins(requirements()), "the bundle pins the versions installed where it was made"
    script = "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'] + '==' + d.version)"
    listed = subprocess.run(
        [str(autograder / "source" / ".venv" / "bin" / "python"), "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=offline_env(autograder),
    )
    assert listed.returncode == 0, listed.stderr
    assert pins(listed.stdout) == pinned


def test_bundle_grades_a_passing_submission(autograder):
    results = run_autograder(autograder, ROOT / "examples" / "solution")
    tests = {t["name"].rsplit("(", 1)[1].rstrip(")"): t for t in results["tests"]}
    assert {"server.start", "api.schema", "hacks.own_record", "names.route", "names.lookup", "names.unknown"} <= set(
        tests
    )
    assert all(t["status"] == "passed" for t in tests.values() if not t["name"].endswith("(browser.table)"))
    assert results["score"] == sum(t["max_score"] for t in tests.values() if t["status"] == "passed")
    assert tests["names.lookup"]["max_score"] == 3, "the rubric's points, over the check's own"
    assert tests["names.unknown"]["visibility"] == "after_published", "hidden, as the rubric's [gradescope] says"
    assert "1 hidden check worth 1 point" in results["output"]


def test_bundle_grades_a_failing_submission_with_its_own_rubric_ignored(autograder, tmp_path):
    submission = tmp_path / "route_renamed"
    shutil.copytree(SERVERS / "route_renamed", submission)
    (submission / "webgrade.toml").write_text('[checks."api.status"]\npoints = 100\n')  # a student's try
    results = run_autograder(autograder, submission)
    tests = {t["name"].rsplit("(", 1)[1].rstrip(")"): t for t in results["tests"]}
    assert tests["api.status"]["status"] == "failed" and tests["api.status"]["max_score"] == 2
    assert "saw 404 Not Found" in tests["api.status"]["output"] and "/api/shaurya" in tests["api.status"]["output"]
    assert tests["names.route"]["status"] == "failed"
    assert 0 < results["score"] < sum(t["max_score"] for t in results["tests"])


def test_bundle_explains_a_submission_it_cannot_grade(autograder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("I forgot my code")
    results = run_autograder(autograder, empty)
    assert results["score"] == 0 and results["tests"] == [] and "no Flask app found" in results["output"]


def test_bundle_refuses_a_broken_rubric(tmp_path):
    rubric = tmp_path / "webgrade.toml"
    rubric.write_text("[checks.\"api.status\"]\npoints = 'many'\n")
    made = subprocess.run(
        [*WEBGRADE, "gradescope-bundle", "--rubric", str(rubric), "-o", str(tmp_path / "b.zip")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 2 and "webgrade.toml, line 2" in made.stderr and "Traceback" not in made.stderr
    assert not (tmp_path / "b.zip").exists()


def test_requirements_pin_every_package_webgrade_needs():
    from grader.gradescope_bundle import requirements

    pins = dict(line.split("==") for line in requirements())
    assert {"flask", "flask-cors", "pytest", "pytest-xprocess", "jsonschema", "werkzeug", "click"} <= set(pins)
    assert "webgrade" not in pins and "pytest-xdist" not in pins, "only what grading needs, not the dev tools"
