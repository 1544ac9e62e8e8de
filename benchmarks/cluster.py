"""The same class through the local pool and through a Dask cluster of the same size, in one run.

    uv run python benchmarks/cluster.py [-n N] [-j J] [--runs R] [--sandbox auto|none]

Makes N synthetic submissions (half the reference server, half broken ones,
as benchmarks/batch.py does).  Local: `webgrade batch -j J`, end to end.
Cluster: a `distributed.LocalCluster` on 127.0.0.1 started once in this
process (one worker of J slots: the webgrade pool of the same size), then
`webgrade batch --scheduler tcp://...` end to end for each run; started once
because a cluster's workers are long-lived, so what is measured is what the
engine adds per batch and per submission (sending each submission as bytes,
the scheduler's round trips, counting attempts), the cost that one machine
can show.  Also, for the record, `--scheduler local`, which starts (and
stops) its own cluster in every run.  Runs are interleaved so machine noise
hits all alike; prints each run (with the gradings' own summed time, which
shows what the machine's load did to them), medians, and the ratio
cluster/local, of the medians and run by run (target from issue 15: <= 1.2).
The browser check is off, as in benchmarks/batch.py.  Everything runs a copy
of the grader taken at the start (see :func:`freeze`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers"
#: Broken submissions, as benchmarks/batch.py takes them.
BROKEN = ["route_renamed", "missing_key", "cars_string", "no_cors", "cors_no_credentials", "html_api"]
BROKEN += ["home_no_title", "unknown_page_200", "crash_import", "syntax_error"]


def make_class(folder: Path, n: int) -> None:
    """N submissions named s000.., every other one the reference server (as in benchmarks/batch.py)."""
    for i in range(n):
        source = ROOT / "reference_server" if i % 2 == 0 else SERVERS / BROKEN[(i // 2) % len(BROKEN)]
        (folder / f"s{i:03d}").mkdir()
        shutil.copyfile(source / "main.py", folder / f"s{i:03d}" / "main.py")


def freeze(into: Path) -> Path:
    """A copy of the grader, run by everything here: a grader's version is a hash of its files, and an edit
    made during the benchmark would otherwise make the cluster's worker and the batch two different graders."""
    shutil.copytree(ROOT / "grader", into / "grader", symlinks=True)
    return into


def batch(cwd: Path, folder: Path, out: Path, jobs: int, sandbox: str, *extra: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    remote = "--scheduler" in extra and "local" not in extra  # a cluster's workers set their own -j
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--no-browser"]
        + ["--sandbox", sandbox, "-q", *extra]
        + ([] if remote else ["-j", str(jobs)]),
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=cwd,
    )
    return time.perf_counter() - started


def grading_time(out: Path) -> float:
    """The gradings' own time, summed (each report's duration): what the machine's load did to the gradings."""
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(json.loads(line)["duration_s"] for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="submissions in the class")
    parser.add_argument("-j", type=int, help="gradings at once, in both (default: the batch's default)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sandbox", default="auto", choices=["auto", "none"])
    args = parser.parse_args()
    times: dict[str, list[float]] = {"local": [], "cluster": [], "local-cluster": []}
    graded: dict[str, list[float]] = {key: [] for key in times}
    local = ("--scheduler", "local")
    with tempfile.TemporaryDirectory() as tmp:
        frozen = freeze(Path(tmp, "frozen"))
        sys.path.insert(0, str(frozen))
        # Dask's workspace (and everything else) in ours, removed with it.
        os.environ["TMPDIR"] = tempfile.tempdir = str(Path(tmp, "t"))
        Path(tmp, "t").mkdir()
        from grader.batch import default_jobs
        from grader.batch.cluster import local_cluster

        jobs = args.j or default_jobs()
        folder = Path(tmp, "class")
        folder.mkdir()
        make_class(folder, args.n)
        out = Path(tmp, "out")
        with local_cluster(jobs) as cluster:
            address = cluster.scheduler_address
            batch(frozen, folder, out, jobs, args.sandbox)  # warm the file cache (and bytecode) once
            batch(frozen, folder, out, jobs, args.sandbox, "--scheduler", address)
            for run in range(args.runs):
                for key, extra in (("local", ()), ("cluster", ("--scheduler", address)), ("local-cluster", local)):
                    times[key].append(batch(frozen, folder, out, jobs, args.sandbox, *extra))
                    graded[key].append(grading_time(out))
                print(
                    f"run {run + 1}: "
                    + ", ".join(f"{k} {times[k][-1]:.2f} s (gradings {graded[k][-1]:.1f} s)" for k in times),
                    flush=True,
                )
    local_s, cluster_s, started = (statistics.median(times[k]) for k in ("local", "cluster", "local-cluster"))
    n = args.n
    print(f"submissions                          {n} (half correct, half broken), -j {jobs}, sandbox {args.sandbox}")
    print(f"runs                                 {args.runs}, interleaved; medians")
    print(f"local pool      webgrade batch       {local_s:.2f} s  ({n / local_s:.1f} per second)")
    print(f"Dask cluster    --scheduler tcp://   {cluster_s:.2f} s  ({n / cluster_s:.1f} per second)")
    print(f"                --scheduler local    {started:.2f} s  (starts its own cluster each run)")
    paired = [c / lo for c, lo in zip(times["cluster"], times["local"], strict=True)]
    print(f"ratio cluster/local                  {cluster_s / local_s:.2f}  (target <= 1.2)")
    each = ", ".join(f"{r:.2f}" for r in paired)
    print(f"  run by run (same load)             {each}; median {statistics.median(paired):.2f}")
    print(f"                --scheduler local    {started / local_s:.2f}")


if __name__ == "__main__":
    main()
