"""Grading one submission against its floor, measured in the same run.

    uv run python benchmarks/single.py [--runs N]

Floor: start the reference server's main.py bare (its port rewritten to a
free one) and get one answer from /.  Cost, end to end, in the same run: the
default `webgrade check reference_server` (the browser check on, as wherever
Chromium is installed: it launches Chromium while the server boots) and
`--no-browser` (the quick loop).  Also: how long after a crash at import the
grader reports it, in both modes (the grader's wall time minus the time the
bare script takes to crash): with the browser on, the launch begun beside the
server must not be waited for.  Prints medians and ratios; targets are from the
harness issue (<= 2.5x the floor without the browser; crash reported within
0.5 s) and the browser issue (<= 4x with it, aim 2.5x).
"""

from __future__ import annotations

import argparse
import compileall
import http.client
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grader.run.server import free_port  # noqa: E402

REFERENCE = ROOT / "reference_server"
CRASH = ROOT / "tests" / "servers" / "crash_import"


def floor_once(folder: Path) -> float:
    port = free_port()
    script = folder / "bare_main.py"
    script.write_text((REFERENCE / "main.py").read_text().replace("port=5001", f"port={port}"))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                conn.getresponse().read()
                return time.perf_counter() - started
            except OSError:
                time.sleep(0.002)
                if proc.poll() is not None or time.perf_counter() - started > 30:
                    raise RuntimeError("the bare server did not answer") from None
    finally:
        proc.kill()
        proc.wait()


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    grade = [sys.executable, "-m", "grader", "check", "--format", "json", "--no-browser"]
    default = [sys.executable, "-m", "grader", "check", "--format", "json"]  # the browser check on: Chromium is here
    floors, grades, browsers, crashes, browser_crashes, bare_crashes = [], [], [], [], [], []
    # An installed webgrade has its bytecode compiled (uv compiles at install);
    # a source checkout under PYTHONDONTWRITEBYTECODE would not, so do it here.
    compileall.compile_dir(ROOT / "grader", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        crash_copy = Path(tmp) / "crash"
        shutil.copytree(CRASH, crash_copy)
        timed(default + [str(REFERENCE)])  # warm the file cache once (Chromium's too)
        for _ in range(runs):  # interleaved, so machine noise hits all alike
            floors.append(floor_once(Path(tmp)))
            browsers.append(timed(default + [str(REFERENCE)]))
            grades.append(timed(grade + [str(REFERENCE)]))
            bare_crashes.append(timed([sys.executable, str(crash_copy / "main.py")]))
            crashes.append(timed(grade + [str(crash_copy)]))
            browser_crashes.append(timed(default + [str(crash_copy)]))
    floor, cost, browser_cost = statistics.median(floors), statistics.median(grades), statistics.median(browsers)
    bare_crash = statistics.median(bare_crashes)
    print(f"runs                                    {runs} (medians)")
    print(f"floor: bare main.py + GET /             {floor:.3f} s")
    print(f"webgrade check (default: browser on)    {browser_cost:.3f} s")
    print(f"  ratio to the floor                    {browser_cost / floor:.2f}  (target <= 4, aim 2.5)")
    print(f"webgrade check --no-browser             {cost:.3f} s")
    print(f"  ratio to the floor                    {cost / floor:.2f}  (target <= 2.5)")
    print(
        f"crash at import reported after          {statistics.median(crashes) - bare_crash:.3f} s past the crash "
        "with --no-browser  (target <= 0.5)"
    )
    with_browser = statistics.median(browser_crashes) - bare_crash
    print(f"{'':40}{with_browser:.3f} s with the browser on")


if __name__ == "__main__":
    main()
