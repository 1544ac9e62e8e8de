"""Untrusted submissions: every broken or hostile server in tests/hostile/ is graded quickly, and
the report names its failure with a next step.

Each grading goes through :func:`untrusted.grade_hostile`, which also asserts that no process of the
run is left, that the port is free, that the submission's folder is byte-for-byte unchanged and that
no temporary file is left.  The sandbox is ``auto`` (bubblewrap, which CI installs).
"""

from __future__ import annotations

import pytest
from untrusted import BOUND_S, bwrap_works, grade_hostile

BWRAP = bwrap_works()

#: name -> (extra arguments, the check that must name the failure, its status, words its message must hold,
#:          and what else the check must say: words of its hint or log, words its log must not hold, file, line)
FAILURES = {
    "syntax_error": (
        (),
        "server.start",
        "failed",
        ["SyntaxError in main.py, line 13", "was never closed"],
        {"hint": ["main.py at line 13"], "file": "main.py", "line": 13},
    ),
    "missing_module": (
        (),
        "server.start",
        "failed",
        ["No module named 'flask_corss'"],
        {
            "hint": ["pip install"],
            "log": ["ModuleNotFoundError: No module named 'flask_corss'"],
            "file": "main.py",
            "line": 5,
        },
    ),
    "exits_at_once": ((), "server.start", "failed", ["exit with code 3"], {}),
    "never_binds": (("--timeout", "3"), "server.start", "failed", ["without listening on any port"], {}),
    "other_port": (("--timeout", "3"), "server.start", "failed", ["listen on port", "instead"], {"hint": ["app.run"]}),
    "stdin_read": (
        (),
        "server.start",
        "failed",
        ["keyboard input", "EOFError"],
        {"hint": ["remove the input() call in main.py, line 3"]},
    ),
    "memory_hog": ((), "server.start", "failed", ["out of memory", "MemoryError"], {}),
    "file_filler": ((), "server.start", "failed", ["larger than 64 MB", "File too large"], {}),
    "crashes_after_start": ((), "api.status", "failed", ["stop while answering (exit code 4)"], {}),
    "handler_hangs": (
        (),
        "api.status",
        "failed",
        ["GET /api/data within 5 s, saw none"],
        {"hint": ["get_data (main.py, line 19)"], "file": "main.py", "line": 19},
    ),
    "trickle_response": ((), "api.status", "failed", ["GET /api/data within 5 s, saw none"], {}),
    "handler_crashes": (
        (),
        "api.status",
        "failed",
        ["500", "get_data", "ZeroDivisionError: division by zero (main.py, line 20)"],
        {
            "log": ['File "main.py", line 20, in get_data', "ZeroDivisionError: division by zero"],
            "log_excludes": ["site-packages"],
            "file": "main.py",
            "line": 20,
        },
    ),
    "huge_response": ((), "api.status", "failed", ["at most 2048 KB, saw a larger one"], {}),
    "endless_response": ((), "api.status", "failed", ["at most 2048 KB, saw a larger one"], {}),
    "not_json": ((), "api.json", "failed", ["Content-Type application/json", "text/html"], {}),
    "wrong_shape": ((), "api.schema", "failed", ['keys "people"'], {}),
}


def assert_named(check: dict, expected: tuple) -> None:
    _, _, status, words, more = expected
    assert check["status"] == status, check
    for word in words:
        assert word in check["message"], check["message"]
    for word in more.get("hint", []):
        assert word in check["hint"], check["hint"]
    for word in more.get("log", []):
        assert word in check["log"], check["log"]
    for word in more.get("log_excludes", []):
        assert word not in check["log"], check["log"]
    if "file" in more:
        assert (check.get("file"), check.get("line")) == (more["file"], more["line"])


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_each_failure_is_named(name, tmp_path):
    args, check_id = FAILURES[name][:2]
    run = grade_hostile(name, *args, tmp_path=tmp_path)
    assert_named(run.check(check_id), FAILURES[name])
    assert "Traceback" not in run.stderr
    assert run.report["duration_s"] < BOUND_S and run.wall_s < BOUND_S
    assert run.report["sandbox"] == ("bwrap" if BWRAP else "none")
