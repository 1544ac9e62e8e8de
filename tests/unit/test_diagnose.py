"""diagnose: why a server did not start, read from a given log and exit code."""

from __future__ import annotations

from pathlib import Path

from grader.find.submission import Submission
from grader.run import diagnose
from grader.run.limits import Limits

SUBMISSION = Submission(Path("/s"), Path("/s"), Path("/s/main.py"), None, "")


def crash(*frames: tuple[str, int], last: str) -> str:
    lines = ["Traceback (most recent call last):"]
    for file, line in frames:
        lines += [f'  File "{file}", line {line}, in <module>', "    code()"]
    return "\n".join([*lines, last]) + "\n"


def test_a_syntax_error_names_the_file_and_line():
    log = crash(("main.py", 3), last="SyntaxError: invalid syntax")
    problem = diagnose.exited(1, log, SUBMISSION)
    assert (problem.kind, problem.file, problem.line) == ("syntax-error", "main.py", 3)
    assert problem.message == "expected Python that runs, saw a SyntaxError in main.py, line 3: invalid syntax"
    assert "`python main.py`" in problem.hint
    assert problem.log_tail == log.rstrip()


def test_the_students_frame_wins_over_the_libraries():
    log = crash(("main.py", 7), ("/usr/lib/python3/site-packages/flask_cors/core.py", 90), last="KeyError: 'x'")
    problem = diagnose.exited(1, log, SUBMISSION)
    assert (problem.kind, problem.file, problem.line) == ("crashed", "main.py", 7)


def test_a_missing_module_says_its_pip_name():
    problem = diagnose.exited(1, crash(("main.py", 2), last="ModuleNotFoundError: No module named 'flask_cors'"), None)
    assert problem.kind == "missing-module"
    assert "pip install flask-cors" in problem.hint


def test_input_is_reading_the_keyboard():
    problem = diagnose.exited(1, crash(("main.py", 5), last="EOFError: EOF when reading a line"), SUBMISSION)
    assert problem.kind == "reads-input" and "input() call in main.py, line 5" in problem.hint


def test_limits_are_named_with_their_numbers():
    limits = Limits(memory_mb=100, cpu_s=7)
    assert diagnose.exited(1, crash(("main.py", 1), last="MemoryError"), SUBMISSION, limits).kind == "out-of-memory"
    cpu = diagnose.exited(128 + 24, "", SUBMISSION, limits)
    assert cpu.kind == "cpu-time" and "7 s of CPU time" in cpu.message


def test_exits_without_an_exception():
    assert diagnose.exited(128 + 9, "", SUBMISSION).kind == "exited"
    assert "SIGKILL" in diagnose.exited(128 + 9, "", SUBMISSION).message
    assert "code 2" in diagnose.exited(2, "bye\n", SUBMISSION).message
    assert diagnose.exited(1, "OSError: [Errno 98] Address already in use\n", SUBMISSION).kind == "port-taken"
    finished = "webgrade: main.py finished without starting a server, and it defines no Flask app to serve.\n"
    assert diagnose.exited(3, finished, SUBMISSION).kind == "no-server"


def test_never_ready_says_where_it_listened():
    assert diagnose.never_ready(5, 5000, {5001}, "").kind == "other-port"
    assert "port 5001 instead" in diagnose.never_ready(5, 5000, {5001}, "").message
    assert diagnose.never_ready(5, 5000, {5000}, "").kind == "no-http"
    assert diagnose.never_ready(5, 5000, set(), "", serving=True).kind == "no-http"
    assert diagnose.never_ready(5, 5000, set(), "").kind == "timeout"


def test_student_traceback_keeps_only_the_students_frames():
    flask = "/usr/lib/python3/site-packages/flask/app.py"
    log = "starting\n" + crash((flask, 80), ("main.py", 7), (flask, 90), last="KeyError: 'x'") + "after\n"
    assert diagnose.student_traceback(log).splitlines() == [
        "Traceback (most recent call last):",
        '  File "main.py", line 7, in <module>',
        "    code()",
        '  File "flask/app.py", line 90, in <module>',  # where it was raised, by the library's own name
        "KeyError: 'x'",
    ]


def test_tail_is_the_last_lines():
    assert diagnose.tail("a\nb\nc\n\n", lines=2) == "b\nc"
