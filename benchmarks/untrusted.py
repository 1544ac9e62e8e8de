"""How long grading each hostile server takes, with and without the sandbox, and what bwrap costs.

    uv run python benchmarks/untrusted.py [--runs N] [--only NAME ...]

For every folder of tests/hostile/ (plus tests/servers/debug_true), grades a
fresh copy with `webgrade check --no-browser` under `--sandbox auto`
(bubblewrap where it works) and `--sandbox none`, and prints the median wall
time of each.  The largest is the bound the README states; the slowest cases
are the ones that wait out a timeout on purpose (a handler that hangs: the
per-request timeout, 5 s; a server that never binds: --timeout 3 here).

Then the cost of the sandbox on the quick loop: the reference server graded
with bwrap and without, against the floor of benchmarks/single.py (the bare
main.py answering one GET /).
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from single import floor_once  # noqa: E402

HOSTILE = ROOT / "tests" / "hostile"
EXTRA = {"never_binds": ["--timeout", "3"], "other_port": ["--timeout", "3"], "cpu_hog": ["--timeout", "3"]}
#: Needs the sandbox: without it a root grader cannot cap the number of processes.
SANDBOX_ONLY = {"fork_happy", "writes_outside"}


def grade_once(folder: Path, sandbox: str, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / folder.name
        shutil.copytree(folder, copy)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grader",
                "check",
                str(copy),
                "--format",
                "json",
                "--no-browser",
                "--sandbox",
                sandbox,
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="grade only these corpus folders")
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "grader", quiet=1)
    folders = sorted(p for p in HOSTILE.iterdir() if p.is_dir()) + [ROOT / "tests" / "servers" / "debug_true"]
    if args.only:
        folders = [f for f in folders if f.name in args.only]
    worst = 0.0
    print(f"{'server':24} {'bwrap (auto)':>13} {'none':>8}   median of {args.runs} runs, seconds")
    for folder in folders:
        if folder.name in SANDBOX_ONLY and shutil.which("bwrap") is None:
            continue  # without the sandbox these would reach the machine
        extra = EXTRA.get(folder.name, [])
        auto = statistics.median(grade_once(folder, "auto", extra) for _ in range(args.runs))
        none = (
            statistics.median(grade_once(folder, "none", extra) for _ in range(args.runs))
            if folder.name not in SANDBOX_ONLY
            else float("nan")
        )
        worst = max(worst, auto, 0 if none != none else none)
        print(f"{folder.name:24} {auto:13.2f} {none:8.2f}")
    print(f"slowest grading of the corpus: {worst:.2f} s (tests assert < 60 s)")

    reference = ROOT / "reference_server"
    floors, with_bwrap, without = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        grade_once(reference, "auto", [])  # warm the file cache once
        for _ in range(max(5, args.runs * 3)):  # interleaved, so machine noise hits all alike
            floors.append(floor_once(Path(tmp)))
            with_bwrap.append(grade_once(reference, "auto", []))
            without.append(grade_once(reference, "none", []))
    floor = statistics.median(floors)
    print(f"floor: bare main.py + GET /                 {floor:.3f} s")
    print(
        f"webgrade check --no-browser, bwrap          {statistics.median(with_bwrap):.3f} s"
        f"  ratio {statistics.median(with_bwrap) / floor:.2f}"
    )
    print(
        f"webgrade check --no-browser, --sandbox none {statistics.median(without):.3f} s"
        f"  ratio {statistics.median(without) / floor:.2f}"
    )


if __name__ == "__main__":
    main()
