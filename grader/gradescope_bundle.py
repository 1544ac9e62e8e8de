"""``webgrade gradescope-bundle``: the autograder zip an instructor uploads to Gradescope.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once
when it builds the image (Ubuntu), and then, for each submission,
``/autograder/run_autograder`` with the student's files in
``/autograder/submission``; it reads ``/autograder/results/results.json``.

The zip holds::

    setup.sh           makes a virtual environment (.venv) with webgrade's dependencies, pinned
    run_autograder     grades /autograder/submission with webgrade --gradescope
    requirements.txt   the exact versions this bundle was made with (the ones installed here)
    python/grader/     webgrade itself, as source: nothing to build, the same code as here
    rubric/            the rubric (empty: the lesson's default) with the files it names
    checks/            instructor checks given with --checks

webgrade is copied as source rather than built into a wheel: an instructor
who installed it with pip has no build tools, and Gradescope only needs the
package on the path.  ``WEBGRADE_AUTOGRADER_ROOT`` moves ``/autograder``
elsewhere, so the zip can be tried out (and tested) on any machine.
"""

from __future__ import annotations

import importlib.metadata
import shlex
import shutil
import tempfile
import zipfile
from pathlib import Path

import grader
from grader import rubric as rubrics
from grader.errors import UsageError

SETUP = r"""#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image.
# It installs webgrade's dependencies, at the versions in requirements.txt, into .venv.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
UV="$(command -v uv || true)"
if [ -z "$UV" ]; then
    # uv finds (or fetches) a Python >= 3.11, whatever the image's python3 is.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3 python3-venv >/dev/null
    python3 -m venv "$SOURCE/.tools"
    "$SOURCE/.tools/bin/python" -m pip install --quiet uv
    UV="$SOURCE/.tools/bin/uv"
fi
"$UV" venv --quiet --python '>=3.11' "$SOURCE/.venv"
# requirements.txt lists every package, pinned: install exactly those (--no-deps), with nothing to resolve.
"$UV" pip install --quiet --no-deps --compile-bytecode --python "$SOURCE/.venv/bin/python" -r "$SOURCE/requirements.txt"
"""

RUN = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission, in /autograder: it grades
# /autograder/submission and writes /autograder/results/results.json.
set -uo pipefail
ROOT="${WEBGRADE_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
PYTHONPATH="$SOURCE/python" "$SOURCE/.venv/bin/python" -m grader check "$ROOT/submission" \
    --rubric "$SOURCE/rubric/webgrade.toml"{checks} --gradescope "$ROOT/results"
if [ ! -s "$ROOT/results/results.json" ]; then
    # webgrade could not run at all (its output above, which only the instructor sees, says why).
    cat > "$ROOT/results/results.json" <<'EOF'
{"score": 0, "execution_time": 0, "output": "The autograder itself failed on this submission: please tell your instructor.",
 "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
EOF
fi
exit 0
"""

DEFAULT_RUBRIC = "# The lesson's default rubric: see webgrade's README to change points, add checks or hide them.\n"


class BundleError(UsageError):
    """A rubric or checks folder that cannot go into the zip as it is."""


def requirements() -> list[str]:
    """``name==version`` for every package webgrade needs, as installed here (transitively)."""
    from packaging.requirements import Requirement  # pytest's own dependency
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    todo = ["webgrade"]
    while todo:
        for spec in importlib.metadata.distribution(todo.pop()).requires or []:
            req = Requirement(spec)
            name = canonicalize_name(req.name)
            if name in pins or (req.marker and not req.marker.evaluate({"extra": ""})):
                continue
            pins[name] = importlib.metadata.version(name)
            todo.append(name)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))


def _inside(path: Path, folder: Path, what: str) -> Path:
    if not path.is_relative_to(folder):
        raise BundleError(
            f"the rubric's {what} {path} is outside {folder}: the zip keeps the paths relative "
            f"to the rubric, so move it into that folder"
        )
    return path.relative_to(folder)


def build(output: Path, rubric_file: Path | None = None, checks: list[Path] | tuple[Path, ...] = ()) -> Path:
    """Write the autograder zip to ``output``; a broken rubric raises RubricError first."""
    with tempfile.TemporaryDirectory(prefix="webgrade-bundle-") as tmp:
        root = Path(tmp)
        (root / "rubric").mkdir()
        if rubric_file is None:
            (root / "rubric" / rubrics.FILENAME).write_text(DEFAULT_RUBRIC, encoding="utf-8")
        else:
            rubric = rubrics.load(rubric_file)
            folder = rubric_file.resolve().parent
            shutil.copyfile(rubric_file, root / "rubric" / rubrics.FILENAME)
            if rubric.schema is not None:
                relative = _inside(rubric.schema, folder, "schema")
                (root / "rubric" / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(rubric.schema, root / "rubric" / relative)
            for checks_dir in rubric.checks_dirs:
                _copy_tree(checks_dir, root / "rubric" / _inside(checks_dir, folder, "checks folder"))
        args = ""
        for number, checks_dir in enumerate(checks, 1):
            name = f"{number}-{checks_dir.resolve().name}"
            _copy_tree(checks_dir, root / "checks" / name)
            args += f' --checks "$SOURCE/checks/"{shlex.quote(name)}'
        _copy_tree(Path(grader.__file__).parent, root / "python" / "grader")
        (root / "requirements.txt").write_text("\n".join(requirements()) + "\n", encoding="utf-8")
        (root / "setup.sh").write_text(SETUP, encoding="utf-8")
        (root / "run_autograder").write_text(RUN.replace("{checks}", args), encoding="utf-8")

        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo.from_file(path, path.relative_to(root).as_posix())
                    executable = path.name in ("setup.sh", "run_autograder")
                    info.external_attr = (0o100755 if executable else 0o100644) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())
    return output
