"""The sandboxed server sees none of the grader's own package, wherever its modules live.

The sandbox shows the server the Python that runs it, prefix and all.  When
webgrade is installed into that Python (as ``pip install webgrade`` does), its
package lies inside the sandbox's view and must be covered up (``hide``).  A
cover computed from one module's folder would shrink to that module's
subpackage once modules move, and the server could read the rest of the
grader.  This test installs a copy of the package into a virtual environment
of its own, grades with that environment's Python, and asks the sandboxed
server to open every file of the copy.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from untrusted import HOSTILE, bwrap_works, grade_copy

import grader

PACKAGE = Path(grader.__file__).resolve().parent
#: What the student's server imports; copied into the environment so it runs inside the sandbox.
SERVER_PACKAGES = {
    "flask": "flask",
    "flask_cors": "flask-cors",
    "werkzeug": "werkzeug",
    "jinja2": "jinja2",
    "markupsafe": "markupsafe",
    "itsdangerous": "itsdangerous",
    "click": "click",
    "blinker": "blinker",
}


def installed_copy(root: Path) -> tuple[Path, Path]:
    """A virtual environment holding a copy of the grader package and the server's packages.

    The grader's own dependencies (pytest, psutil, ...) are reached through a
    ``.pth`` line to this environment's site-packages: only the grader reads
    them, and the sandbox does not show that folder.
    """
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    shutil.copytree(PACKAGE, site / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    for name, distribution in SERVER_PACKAGES.items():
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        shutil.copytree(Path(spec.origin).parent, site / name, ignore=shutil.ignore_patterns("__pycache__"))
        info = Path(str(importlib.metadata.distribution(distribution)._path))  # type: ignore[attr-defined]
        shutil.copytree(info, site / info.name)  # werkzeug reads its own version from it
    (site / "zz_grader_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, site / "grader"


@pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot run here (CI installs it)")
def test_the_sandboxed_server_cannot_read_any_file_of_the_installed_grader_package(tmp_path):
    python, package = installed_copy(tmp_path)
    files = sorted(str(p) for p in package.rglob("*") if p.is_file())
    assert len(files) > 20 and any("/run/" in f for f in files) and any("/check/" in f for f in files)
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
    run = grade_copy(folder, "--sandbox", "bwrap", tmp_path=tmp_path, webgrade=[str(python), "-P", "-m", "grader"])
    assert run.report["sandbox"] == "bwrap"
    assert run.report["status"] == "passed", run.report["server_log"] + str(run.report["checks"][0])
    line = next(line for line in run.report["server_log"].splitlines() if line.startswith("READABLE"))
    assert line.startswith("READABLE 0 "), line
