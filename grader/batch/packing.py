"""Submissions and the instructor's files as bytes, for a grading machine that shares no file system.

A cluster's client reads each entry it sends (:func:`pack_entry`): a zip, .py
or .ipynb file as it is, a folder as a tar of exactly what the grader would
copy for the server (:data:`grader.find.submission.SKIP_DIRS`, hidden folders
and virtualenvs left out, symbolic links kept as links).  The rubric and
options name files on the client's machine (the rubric file, its schema,
folders of instructor checks); :func:`pack_settings` sends those along too,
and on the grading machine :func:`grade_packed` unpacks both and moves every
path to where it now is, then grades with the same
:func:`grader.batch.worker.grade_at` as the local batch, which names the student's
files by their path on the client.  A result is thus the same wherever it
was graded.

Nothing here imports Dask: :func:`grade_packed` runs in the warm worker
processes of a grading machine's pool.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from grader.batch.entries import Entry, grader_version
from grader.batch.worker import Outcome, grade_at
from grader.grade import Options
from grader.rubric import Rubric

#: The most bytes sent for one submission: more than the server's copy takes (50 MB) and a zip may
#: unpack to (200 MB), so those limits, and their messages, apply on the grading machine as here.
PACK_MAX_BYTES = 256 * 2**20
#: The most bytes of instructor's files (rubric, schema, checks) sent with every submission.
SETTINGS_MAX_BYTES = 16 * 2**20


class PackError(Exception):
    """An entry or the instructor's files cannot be sent; ``message`` says why, for the gradebook."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Settings:
    """The instructor's files the rubric and options name, as one tar, and where each was on the client."""

    data: bytes = b""
    #: The client's path of each file or folder -> its member in ``data``.
    paths: dict[str, str] = field(default_factory=dict)
    #: The client's grader package: a path inside it is a lesson's own file, found in this machine's.
    grader_root: str = ""
    digest: str = ""


@dataclass
class PackedJob:
    """One submission to grade on another machine, with everything it needs."""

    entry: Entry  #: with its path on the client, which the report names
    data: bytes
    rubric: Rubric
    options: Options
    settings: Settings
    #: The client's :func:`grader.batch.entries.grader_version`: a grading machine with other code refuses it.
    grader: str
    #: Where this machine keeps temporary folders (its Dask worker's own directory), set where it is graded.
    scratch: str = ""


# --- on the client ---


def _keep_dir(path: str, name: str) -> bool:
    """A folder the server's copy and the finder both skip is not sent (see grader.run's workspace)."""
    from grader.find.submission import SKIP_DIRS

    return not (name in SKIP_DIRS or name.startswith(".") or os.path.exists(os.path.join(path, "pyvenv.cfg")))


def _tar_folder(folder: Path, name: str, limit: int, skip: bool) -> bytes:
    """``folder`` as an uncompressed tar under ``name/`` (Dask compresses what it sends)."""
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(folder, arcname=name, recursive=False)
        for root, dirs, files in os.walk(folder):
            kept = []
            for d in sorted(dirs):
                path = os.path.join(root, d)
                if os.path.islink(path):
                    files.append(d)  # a link to a folder is sent as the link
                elif not skip or _keep_dir(path, d):
                    kept.append(d)
            dirs[:] = kept
            for d in kept:
                path = os.path.join(root, d)
                tar.add(path, arcname=f"{name}/{Path(path).relative_to(folder).as_posix()}", recursive=False)
            for f in sorted(files):
                path = os.path.join(root, f)
                if total > limit:
                    break  # full: the server's own copy stops well before, and says so
                if os.path.isfile(path) and not os.path.islink(path):
                    total += os.path.getsize(path)
                elif not os.path.islink(path):
                    continue  # a socket or a device: nothing a server reads
                tar.add(path, arcname=f"{name}/{Path(path).relative_to(folder).as_posix()}", recursive=False)
    return buffer.getvalue()


def pack_entry(entry: Entry) -> bytes:
    """The bytes a grading machine needs to grade ``entry``; :class:`PackError` when too large."""
    if entry.kind == "folder":
        return _tar_folder(entry.path, "submission", PACK_MAX_BYTES, skip=True)
    size = entry.path.stat().st_size
    if size > PACK_MAX_BYTES:
        raise PackError(
            f"the file is {size / 2**20:.0f} MB, more than the {PACK_MAX_BYTES // 2**20} MB "
            "a submission may be to be sent to a grading machine"
        )
    return entry.path.read_bytes()


def map_paths(value: Any, move: Callable[[Path], Path]) -> Any:
    """``value`` with every path in it (in dataclass fields, lists, tuples, sets, dicts) replaced by ``move(path)``.

    Generic on purpose: a new path in the rubric or options travels without a change here.
    """
    if isinstance(value, PurePath):
        return move(Path(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: map_paths(getattr(value, f.name), move) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, list):
        return [map_paths(v, move) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(map_paths(v, move) for v in value)
    if isinstance(value, set | frozenset):
        return type(value)(map_paths(v, move) for v in value)
    if isinstance(value, dict):
        return {k: map_paths(v, move) for k, v in value.items()}
    return value


def _grader_root() -> Path:
    return Path(__file__).resolve().parent.parent


def pack_settings(rubric: Rubric, options: Options) -> Settings:
    """Every file or folder the rubric and options name, outside the grader itself, as one tar."""
    root = _grader_root()
    members: dict[Path, str] = {}  # resolved path -> its member
    paths: dict[str, str] = {}  # each path as the rubric or options hold it -> its member

    def collect(path: Path) -> Path:
        resolved = path.resolve()
        if resolved.is_relative_to(root) or not resolved.exists():
            return path
        if resolved not in members:
            members[resolved] = f"{len(members)}/{resolved.name or 'root'}"
        paths[str(path)] = members[resolved]
        return path

    map_paths((rubric, options), collect)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, member in members.items():
            if path.is_dir():
                for info, content in _members(path, member):
                    tar.addfile(info, content)
            else:
                tar.add(path, arcname=member)
    data = buffer.getvalue()
    if len(data) > SETTINGS_MAX_BYTES:
        raise PackError(
            f"the rubric's files (schema, instructor checks) hold {len(data) / 2**20:.0f} MB, more than the "
            f"{SETTINGS_MAX_BYTES // 2**20} MB sent with each submission"
        )
    return Settings(data, paths, str(root), hashlib.sha256(data).hexdigest())


def _dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info


def _members(folder: Path, name: str) -> list[tuple[tarfile.TarInfo, io.BytesIO | None]]:
    """The tar members of ``folder`` under ``name``, caches left out."""
    found: list[tuple[tarfile.TarInfo, io.BytesIO | None]] = [(_dir_info(name), None)]
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".git", ".pytest_cache"))
        for d in dirs:
            found.append((_dir_info(f"{name}/{Path(root, d).relative_to(folder).as_posix()}"), None))
        for f in sorted(files):
            path = Path(root, f)
            if path.is_file() and not path.is_symlink() and not f.endswith(".pyc"):
                data = path.read_bytes()
                info = tarfile.TarInfo(f"{name}/{path.relative_to(folder).as_posix()}")
                info.size, info.mode = len(data), 0o644
                found.append((info, io.BytesIO(data)))
    return found


# --- on the grading machine ---


def _unpack(data: bytes, into: Path) -> None:
    """A tar this module made, unpacked with the standard library's safe ``tar`` filter."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        tar.extractall(into, filter="tar")


def _settings_here(settings: Settings, scratch: Path) -> Path:
    """The instructor's files unpacked once per grading machine and batch, shared by its worker processes."""
    target = scratch / f"settings-{settings.digest[:16]}"
    if not target.exists():
        partial = Path(tempfile.mkdtemp(prefix="settings-", dir=scratch))
        _unpack(settings.data, partial)
        try:
            os.rename(partial, target)
        except OSError:  # another worker process unpacked it first
            shutil.rmtree(partial, ignore_errors=True)
    return target


def localize(rubric: Rubric, options: Options, settings: Settings, scratch: Path) -> tuple[Rubric, Options]:
    """The rubric and options with every path moved to this machine: lessons to this grader, the rest unpacked."""
    client_root = Path(settings.grader_root)
    here_root = _grader_root()
    unpacked = _settings_here(settings, scratch) if settings.paths else scratch

    def move(path: Path) -> Path:
        if path.is_relative_to(client_root):
            return here_root / path.relative_to(client_root)
        member = settings.paths.get(str(path))
        return unpacked / member if member else path

    moved = map_paths((rubric, options), move)
    # The batch has no --python: the client's interpreter means nothing here, this machine's grades.
    return moved[0], dataclasses.replace(moved[1], python=sys.executable)


def grade_packed(job: PackedJob) -> Outcome:
    """Grade a submission sent from another machine: in a warm worker process of this machine's pool."""
    if job.grader != grader_version():  # the worker's resources keep this from happening; said plainly if it does
        raise RuntimeError(f"this grading machine runs webgrade {grader_version()}, the batch {job.grader}")
    scratch = Path(job.scratch or tempfile.gettempdir())
    rubric, options = localize(job.rubric, job.options, job.settings, scratch)
    entry = job.entry
    with tempfile.TemporaryDirectory(prefix="received-", dir=scratch) as tmp:
        if entry.kind == "folder":
            _unpack(job.data, Path(tmp))
            source = Path(tmp, "submission")
        else:
            source = Path(tmp, entry.name)
            source.write_bytes(job.data)
        return grade_at(entry, source, rubric, options, prefix="grading-", scratch=scratch)
