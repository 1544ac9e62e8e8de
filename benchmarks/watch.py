"""How fast ``webgrade watch`` regrades after a save, against its floor, measured in the same run.

    uv run python benchmarks/watch.py [--runs N] [--browser]

The watch's engine (``grader.watch.Watcher``, run in this process exactly as
the command runs it in its own) grades a copy of the reference server once
(the start-up, not counted), then, ``--runs`` times: main.py is saved (its
content alternating, so every save is a real change), the watcher notices it
and waits for it to settle, and regrades.  The regrade is timed from the save
being noticed (settled) to the scorecard written: the target is at most 1.5x
the floor.  Also shown: from the save to the watcher noticing it (its polling
and settling, not part of the target).

Floor: benchmarks/single.py's, measured interleaved with the regrades: start
the reference server's main.py bare (its port rewritten to a free one) and get
one answer from /.  The browser check is off, as the floor has no browser;
``--browser`` adds runs with one shared Chromium, for comparison.
"""

from __future__ import annotations

import argparse
import compileall
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from single import floor_once  # noqa: E402

from grader.watch import Watcher  # noqa: E402

REFERENCE = ROOT / "reference_server"


def regrades(folder: Path, runs: int, browser: bool, floors: list[float], scratch: Path) -> tuple[list, list]:
    """(noticed -> scorecard, save -> noticed) for each of ``runs`` saves; a floor measured before each."""
    main = folder / "main.py"
    original = main.read_text(encoding="utf-8")
    costs, detections = [], []
    with Watcher(folder, {"browser_check": browser}, io.StringIO()) as watcher:
        first = watcher.regrade()  # imports, and Chromium's launch with --browser: paid once per session
        assert first.report is not None and first.report.status == "passed", first.screen
        for n in range(runs):
            floors.append(floor_once(scratch))
            main.write_text(original + ("\n# saved again\n" if n % 2 == 0 else ""), encoding="utf-8")
            saved = time.monotonic()
            noticed = watcher.wait_for_change()
            run = watcher.regrade(noticed)
            assert run.report is not None and run.report.status == "passed", run.screen
            costs.append(run.latency)
            detections.append(noticed - saved)
    return costs, detections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--browser", action="store_true", help="also measure with the browser check (shared)")
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "grader", quiet=1)  # as an installed webgrade has it (see single.py)
    floors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "server"
        shutil.copytree(REFERENCE, folder)
        scratch = Path(tmp) / "floor"
        scratch.mkdir()
        floor_once(scratch)  # warm the file cache once
        costs, detections = regrades(folder, args.runs, False, floors, scratch)
        if args.browser:
            browser_costs, _ = regrades(folder, args.runs, True, floors, scratch)
    floor, cost = statistics.median(floors), statistics.median(costs)
    print(f"runs                                   {args.runs}  (load average {os.getloadavg()[0]:.1f})")
    print(f"floor: bare main.py + GET /            {floor:.3f} s")
    print(f"regrade: save noticed -> scorecard     {cost:.3f} s  (fastest {min(costs):.3f}, slowest {max(costs):.3f})")
    print(f"ratio regrade/floor                    {cost / floor:.2f}  (target <= 1.5)")
    print(f"save -> noticed (polling, settling)    {statistics.median(detections):.3f} s")
    if args.browser:
        with_browser = statistics.median(browser_costs)
        print(f"regrade with the shared browser        {with_browser:.3f} s  (ratio {with_browser / floor:.2f})")


if __name__ == "__main__":
    main()
