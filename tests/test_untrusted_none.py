"""The hostile corpus graded with ``--sandbox none``: where bubblewrap is missing, every failure is
still named, nothing is left behind, no secret leaks and the limits on memory and file size hold.

(Not here: the fork bomb, whose process limit cannot hold for a root grader without the sandbox,
and writing outside the folder, which only the sandbox prevents.)
"""

from __future__ import annotations

import pytest
from test_untrusted_failures import FAILURES, assert_named
from untrusted import BOUND_S, SECRETS, grade_hostile

#: The slow ones (hangs, timeouts) are the grader's own logic, the same in both modes: graded once.
NONE_MODE = sorted(set(FAILURES) - {"handler_hangs", "trickle_response", "never_binds"})


@pytest.mark.parametrize("name", NONE_MODE)
def test_each_failure_is_named_without_the_sandbox(name, tmp_path):
    args, check_id = FAILURES[name][:2]
    run = grade_hostile(name, "--sandbox", "none", *args, tmp_path=tmp_path)
    assert_named(run.check(check_id), FAILURES[name])
    assert run.report["duration_s"] < BOUND_S and run.wall_s < BOUND_S
    assert run.report["sandbox"] == "none"


def test_detached_grandchildren_are_stopped_without_the_sandbox(tmp_path):
    assert grade_hostile("detached_grandchild", "--sandbox", "none", tmp_path=tmp_path).report["status"] == "passed"


def test_a_flood_is_kept_to_its_ends_without_the_sandbox(tmp_path):
    run = grade_hostile("stdout_flood", "--sandbox", "none", tmp_path=tmp_path)
    assert run.report["status"] == "passed"
    assert len(run.report["server_log"]) < 70_000
    assert run.disk_peak < 1_000_000  # about 5 MB printed


def test_no_secret_reaches_the_server_without_the_sandbox(tmp_path):
    log = grade_hostile("prints_env", "--sandbox", "none", tmp_path=tmp_path).report["server_log"]
    assert "ENV PORT" in log
    for name, value in SECRETS.items():
        assert name not in log and value not in log
