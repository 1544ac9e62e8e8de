"""A class's submissions: what SUBMISSIONS holds, and what each result depends on.

The entries of the folder (:func:`find_entries`), a hash of each entry's
files (:func:`content_hash`) and of everything else a grading depends on
(:func:`settings_hash`, :func:`grader_version`): together they are the
resume key of ``--resume``, the identity ``webgrade merge`` checks, and the
version a cluster's worker must share.  Read in the batch process; no grading
happens here.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from grader import __version__
from grader.grade import Options
from grader.rubric import Rubric

#: What an entry of SUBMISSIONS can be, by suffix; any folder is one too.
KINDS = {".zip": "zip", ".py": "py", ".ipynb": "ipynb"}


@dataclass
class Entry:
    """One entry of the SUBMISSIONS folder: a student's folder, .zip, .py or .ipynb."""

    name: str
    path: Path
    kind: str  #: "folder", "zip", "py" or "ipynb"
    hash: str = ""
    commit: str | None = None


def find_entries(folder: Path, out: Path | None = None) -> tuple[list[Entry], list[tuple[str, str]]]:
    """The submissions in ``folder``, and the entries skipped with the reason why."""
    entries, skipped = [], []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        name = path.name
        if name.startswith(".") or name == "__MACOSX":
            skipped.append((name, "hidden"))
        elif out is not None and path.resolve() == out:
            skipped.append((name, "the output folder"))
        elif path.is_dir():
            entries.append(Entry(name, path.resolve(), "folder"))
        elif path.is_file() and path.suffix.lower() in KINDS:
            entries.append(Entry(name, path.resolve(), KINDS[path.suffix.lower()]))
        else:
            skipped.append((name, "not a submission: expected a folder, a .zip, a .py or a .ipynb file"))
    return entries, skipped


def content_hash(path: Path) -> str:
    """A hash of the submission's files and their names; a repository's .git is left out (its packing changes)."""
    digest = hashlib.sha256()
    if path.is_file():
        files = [(path.name, path)]
    else:
        files = []
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            files += [(Path(root, n).relative_to(path).as_posix(), Path(root, n)) for n in sorted(names)]
    for rel, file in files:
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        try:
            if file.is_symlink():
                digest.update(b"link\0" + os.readlink(file).encode("utf-8", "surrogateescape"))
            else:
                with open(file, "rb") as f:
                    digest.update(hashlib.file_digest(f, "sha256").digest())
        except OSError as error:
            digest.update(f"unreadable: {error.strerror}".encode())
    return digest.hexdigest()


def git_commit(folder: Path) -> str | None:
    """The commit checked out in a repository (as ``gh classroom clone`` makes them), read without running git."""
    git = folder / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head or None
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip() or None
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None


#: What else a grading's outcome depends on: the packages webgrade runs checks and servers with.
DEPENDENCIES = ("flask", "flask-cors", "requests", "pytest", "pytest-xprocess", "jsonschema", "playwright")


@lru_cache(maxsize=1)
def grader_version() -> str:
    """Which grader grades: its version, and a hash of its own files, Python and the packages it checks with.

    A hash of the files, not just ``__version__``: a fixed bug or a changed
    message changes results without a new version number, so ``--resume``
    regrades, ``webgrade merge`` refuses to mix, and a cluster's worker with
    other code is never handed a grading (``grader.batch.cluster``).  Read
    once per process: the files a process runs are those it started with.
    """
    return version_of(Path(__file__).resolve().parent.parent)


def version_of(package: Path) -> str:
    """:func:`grader_version` of the grader package at ``package``."""
    digest = hashlib.sha256(f"python {platform.python_version()}\0".encode())
    for name in DEPENDENCIES:
        try:
            digest.update(f"{name} {importlib.metadata.version(name)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name} none\0".encode())
    for root, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if not name.endswith((".pyc", ".pyo")):
                path = Path(root, name)
                digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:12]}"


def settings_hash(rubric: Rubric, options: Options, files: Sequence[Path | None] = ()) -> str:
    """What a result depends on besides the submission: --resume regrades everything when it changes.

    The grader itself (:func:`grader_version`), the rubric and options, the
    rubric file, its schema and its folders of instructor checks.
    """
    digest = hashlib.sha256(f"{grader_version()}\0{rubric!r}\0{options!r}".encode())
    for path in [*files, rubric.schema, *rubric.checks_dirs, *options.extra_checks]:
        if path is not None:
            digest.update(content_hash(Path(path)).encode())
    return digest.hexdigest()
