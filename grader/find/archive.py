"""Unpack a student's .zip safely, into a folder of ours.

A zip is data from a stranger: a member may be named ``../../.bashrc`` or
``/etc/passwd`` (zip-slip), be a symbolic link to anything on the machine,
or expand a few kilobytes into gigabytes (a zip bomb).  The standard
library's ``extractall`` strips ``..`` and leading slashes but still writes
whatever it unpacks and trusts the sizes a member declares; here an unsafe
member refuses the whole archive with a message saying which one, and the
bytes actually written are counted, since a member's declared size can lie.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from grader.errors import UsageError

#: A lesson's server is a few kilobytes; a zip with a virtualenv inside is still far below these.
MAX_BYTES = 200 * 1024 * 1024
MAX_FILES = 20_000
_CHUNK = 1024 * 1024
#: Folders and files that archivers add and that are never the student's work.
_LITTER = ("__MACOSX/",)
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(UsageError):
    """The zip cannot be graded; ``message`` and ``hint`` say why in the student's terms."""


_REZIP = "zip the folder that holds your server's files again (for example with your file manager's 'Compress')"


def extract(archive: Path, target: Path, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES) -> None:
    """Unpack ``archive`` into ``target`` (created), or raise :class:`ArchiveError` and leave no file behind."""
    name = archive.name
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.filename.startswith(_LITTER)]
            if len(members) > max_files:
                raise ArchiveError(
                    f"{name} holds {len(members)} files; expected at most {max_files}",
                    "leave out virtual environments and downloaded packages, then " + _REZIP,
                )
            for member in members:
                _check_member(name, member)
            target.mkdir(parents=True)
            written = 0
            for member in members:
                written += _write(zf, member, target, max_bytes - written)
    except _TooBig:
        shutil.rmtree(target, ignore_errors=True)
        raise ArchiveError(
            f"{name} unpacks to more than {max_bytes / 2**20:g} MB",
            "leave out large data files and virtual environments, then " + _REZIP,
        ) from None
    except ArchiveError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        EOFError,
        OSError,
        zlib.error,
    ) as error:
        # RuntimeError: a password-protected member; NotImplementedError: an unusual compression method.
        shutil.rmtree(target, ignore_errors=True)
        raise ArchiveError(f"{name} could not be unpacked: {error}", _REZIP) from None


def _check_member(name: str, member: zipfile.ZipInfo) -> None:
    path = member.filename.replace("\\", "/")
    parts = PurePosixPath(path).parts
    if path.startswith("/") or _DRIVE.match(path) or ".." in parts or "\0" in path:
        raise ArchiveError(f"{name} holds the path {member.filename!r}, which points outside the zip's folder", _REZIP)
    if stat.S_ISLNK(member.external_attr >> 16):
        raise ArchiveError(
            f"{name} holds a symbolic link, {member.filename!r}; expected only files and folders",
            "replace the link with the file itself, then " + _REZIP,
        )


class _TooBig(Exception):
    pass


def _write(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Write one member under ``target``; return the bytes written, never more than ``budget``."""
    dest = target.joinpath(*PurePosixPath(member.filename.replace("\\", "/")).parts)
    if member.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        return 0
    if member.file_size > budget:
        raise _TooBig
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(member) as source, open(dest, "wb") as out:  # new files: the zip's permission bits are ignored
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > budget:  # the declared size lied
                raise _TooBig
            out.write(chunk)
    return written
