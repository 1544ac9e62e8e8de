"""The run's temporary folder: its layout, the capped copy of the submission, and who removes it.

Layout (one folder per :class:`~grader.run.server.Server`, ``webgrade-*`` in
the system's temporary directory)::

    work/            the copy of the submission's folder: the server's working directory
    out/             the launcher's drop box: ``started``, ``routes.json``
    launcher.py      copied from this package (run with the student's Python)
    supervisor.py    copied with it: the part of the launcher it loads from beside itself
    submission.py    the source the launcher runs (a notebook's cells, as one file)
    home/            HOME outside the sandbox (inside, HOME is the sandbox's own /tmp)
    xprocess/NAME/   pytest-xprocess's control folder: the log ``xprocess.log``

The server never runs in the student's folder.  Paths of the copy are shown
as the student's own (``main.py``), in the log and in the routes.

The folder is removed by :meth:`Workspace.remove`, and, when the grader is
killed with SIGKILL and never gets there, by whoever outlives it: outside the
sandbox the launcher's supervisor, in the sandbox the :class:`Janitor`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from grader.find.submission import SKIP_DIRS

LAUNCHER = Path(__file__).with_name("launcher.py")
#: The launcher's files, copied together: ``launcher.py`` loads ``supervisor.py`` from beside itself.
LAUNCHER_FILES = (LAUNCHER, LAUNCHER.with_name("supervisor.py"))
#: The temporary copy leaves out other people's code (virtualenvs, node_modules) and stops at this size.
COPY_MAX_BYTES = 50 * 1024 * 1024
#: The janitor's script: ``sh -c JANITOR webgrade-janitor RUN_DIR``, its standard input the pipe that
#: ends when the grader and the sandbox's supervisor are both gone.
JANITOR = """
while read -r _; do :; done
[ -e "$1" ] || exit 0
rm -rf -- "$1" 2>/dev/null || { sleep 1; rm -rf -- "$1"; }
"""


class Workspace:
    """A fresh temporary folder for one run of one submission (made now; see the module's docstring)."""

    def __init__(self, original: Path, student_root: Path | None = None) -> None:
        """``original``: the folder to copy.  ``student_root``: the folder the student names paths from."""
        self.original = original
        # Its real path: macOS's temporary folder is behind a symbolic link (/var -> /private/var) and Windows'
        # may be spelt with short names (RUNNER~1), while the server's processes see the real one (os.getcwd()).
        self.tmp = Path(os.path.realpath(tempfile.mkdtemp(prefix="webgrade-")))
        self.workdir = self.tmp / "work"
        self.out = self.tmp / "out"
        self.launcher = self.tmp / "launcher.py"
        self.launcher_files = [self.tmp / file.name for file in LAUNCHER_FILES]
        self.script = self.tmp / "submission.py"
        self.home = self.tmp / "home"
        self.xprocess = self.tmp / "xprocess"
        # How the student names the copy's folder: "" for their own folder, "api/" for a folder inside it.
        rel = "."
        if student_root is not None and original.is_relative_to(student_root):
            rel = original.relative_to(student_root).as_posix()
        self._prefix = "" if rel in ("", ".") else rel + "/"

    def copy(self, max_bytes: int = COPY_MAX_BYTES) -> str | None:
        """Copy the submission's folder to ``work/``; a warning for the report if it did not all fit."""
        total = 0

        def ignore(folder: str, names: list[str]) -> list[str]:
            nonlocal total
            if total > max_bytes:
                return names  # full: do not even walk the rest
            skipped = []
            for name in names:
                path = os.path.join(folder, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    # Someone else's code, or hidden folders (.git, .cache): the finder skips them too.
                    if name in SKIP_DIRS or name.startswith(".") or os.path.exists(os.path.join(path, "pyvenv.cfg")):
                        skipped.append(name)
                elif os.path.isfile(path) and not os.path.islink(path):
                    total += os.path.getsize(path)
                    if total > max_bytes:
                        skipped.append(name)
            return skipped

        shutil.copytree(self.original, self.workdir, symlinks=True, ignore=ignore)
        if total > max_bytes:
            return (
                f"the submission's folder holds more than {max_bytes // 2**20} MB: "
                "some files were not copied for the server"
            )
        return None

    def prepare(self, *, sandboxed: bool, uid: int | None) -> None:
        """Make the folder ready for a (re)start: an empty drop box, the launcher, and the rights the run needs.

        ``uid``: the user id a root grader's sandboxed server runs as.  It may
        write its copy and the drop box, and nothing else of the folder.
        """
        shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir()
        if not sandboxed:
            self.home.mkdir(exist_ok=True)
        if uid is not None:
            os.chmod(self.tmp, 0o711)
            for folder in (self.workdir, self.out):
                os.chown(folder, uid, uid)
                for root, dirs, files in os.walk(folder):
                    for name in dirs + files:
                        os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
        for file, copy in zip(LAUNCHER_FILES, self.launcher_files, strict=True):
            shutil.copyfile(file, copy)

    def as_student_path(self, text: str) -> str:
        """Name files of the copy as the student knows them (``main.py``, ``api/helpers.py``), on Windows too."""
        if not text:
            return text
        for separator in ("/", "\\") if os.sep == "\\" else ("/",):
            text = text.replace(f"{self.workdir}{separator}", self._prefix)
        return text.replace(str(self.workdir), self._prefix.rstrip("/") or ".")

    def remove(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class Janitor:
    """Removes a sandboxed run's folder if the grader and the sandbox's supervisor both die first.

    The supervisor cannot: in the sandbox it does not see the folder (and a
    root grader's runs as another user).  So a ``/bin/sh`` started beside
    bubblewrap, outside it, as the grader's user, waits on a pipe whose write
    end only the grader (:attr:`hold`) and the supervisor hold.  Its end reads
    end-of-file once both are gone, however they died; then it removes the
    folder if it is still there.
    """

    def __init__(self, folder: Path) -> None:
        read, self.hold = os.pipe()
        self.process: subprocess.Popen[bytes] | None
        try:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", JANITOR, "webgrade-janitor", str(folder)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                env={"PATH": os.defpath, "LC_ALL": "C"},
                start_new_session=True,  # a Ctrl+C meant for the grader must not stop it
            )
        except OSError:  # no /bin/sh: only a grader killed with SIGKILL would leave its folder
            self.process = None
        finally:
            os.close(read)  # only the janitor reads it

    def release(self) -> None:
        """We removed the folder ourselves: let the janitor see our end close, find nothing to do, and exit."""
        os.close(self.hold)
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
