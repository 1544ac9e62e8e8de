"""server_log: the tail, what came since an offset, and the text kept once the file is gone."""

from __future__ import annotations

from pathlib import Path

from grader.run.server_log import ServerLog


def log_of(path: Path, data: bytes) -> ServerLog:
    path.write_bytes(data)
    return ServerLog(path, lambda text: text.replace("/tmp/work/", ""))


def test_the_tail_names_the_students_files(tmp_path):
    log = log_of(tmp_path / "log", b'File "/tmp/work/main.py", line 3\n')
    assert log.tail() == 'File "main.py", line 3\n'
    assert log.size() == len(b'File "/tmp/work/main.py", line 3\n')


def test_a_long_log_is_cut_and_says_so(tmp_path):
    log = log_of(tmp_path / "log", b"a" * 3000 + b"b" * 2048)
    assert log.tail(2048) == "[webgrade: the server printed more: only its last 2 KB are shown]\n" + "b" * 2048


def test_a_log_that_fits_is_not_cut(tmp_path):
    assert log_of(tmp_path / "log", b"b" * 2048).tail(2048) == "b" * 2048
    assert log_of(tmp_path / "log", b"a" + b"b" * 2048).tail(2048).startswith("[webgrade: the server printed more")


def test_since_reads_what_came_after(tmp_path):
    log = log_of(tmp_path / "log", b"before\n")
    offset = log.size()
    with open(log.path, "ab") as f:
        f.write(b"after\n")
    assert log.since(offset) == "after\n"
    assert log.since(offset, limit=3) == "er\n"  # at most the last bytes
    assert log.since(10_000, limit=3) == "er\n"  # the file was rewritten shorter: its end


def test_frozen_text_outlives_the_file(tmp_path):
    log = log_of(tmp_path / "log", b"x" * 10 + b"last words\n")
    log.freeze()
    (tmp_path / "log").unlink()
    assert log.frozen
    assert log.tail() == "x" * 10 + "last words\n"
    assert log.tail(11) == "last words\n"
    assert log.size() == 0 and log.since(0) == ""


def test_no_file_reads_as_nothing(tmp_path):
    log = ServerLog(tmp_path / "missing", str)
    assert (log.tail(), log.since(0), log.size()) == ("", "", 0)
