"""Batch grading against its floor, measured in the same run.

    uv run python benchmarks/batch.py [-n N] [-j J] [--runs R] [--sandbox auto|none]

Makes N synthetic submissions in a temporary folder: half the reference
server, half broken ones from tests/servers/ (wrong route, bad records, no
CORS, a crash at import, a syntax error, ...).  Floor: start each one's
main.py bare (its port rewritten to a free one) and GET / once (or see it
crash), J at a time.  Cost: `webgrade batch` over the folder with -j J, end
to end (the batch's own start, its workers, every output file), in both
modes: the default (the browser check on, as wherever Chromium is installed:
one Chromium per worker, every page's picture kept) and --no-browser.  Runs are
interleaved so machine noise hits all alike; prints medians, throughput and
the ratios (targets: <= 2 with the browser, from the browser issue, aim 1.3;
<= 2 without, from the batch issue).  The floor has no browser in it: the
ratio with the browser is what the browser check costs a class.
"""

from __future__ import annotations

import argparse
import compileall
import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grader.batch import default_jobs  # noqa: E402
from grader.run.server import free_port  # noqa: E402

SERVERS = ROOT / "tests" / "servers"
#: Broken submissions that a bare `python main.py` still runs (or crashes) like a student would.
BROKEN = [
    "route_renamed",
    "missing_key",
    "cars_string",
    "no_cors",
    "cors_no_credentials",
    "html_api",
    "home_no_title",
    "unknown_page_200",
    "crash_import",
    "syntax_error",
]


def make_class(folder: Path, n: int) -> list[Path]:
    """N submissions named s000.., every other one the reference server."""
    made = []
    for i in range(n):
        source = ROOT / "reference_server" if i % 2 == 0 else SERVERS / BROKEN[(i // 2) % len(BROKEN)]
        target = folder / f"s{i:03d}"
        target.mkdir()
        shutil.copyfile(source / "main.py", target / "main.py")
        made.append(target)
    return made


def floor_once(submission: Path, scratch: Path) -> None:
    """Start main.py bare on a free port and GET / once; a crash counts as soon as it is seen."""
    port = free_port()
    script = scratch / f"bare_{submission.name}.py"
    script.write_text((submission / "main.py").read_text().replace("port=5001", f"port={port}"))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=submission, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                conn.getresponse().read()
                return
            except OSError:
                time.sleep(0.002)
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"{submission.name}: the bare server did not answer") from None
    finally:
        proc.kill()
        proc.wait()


def floor(submissions: list[Path], jobs: int, scratch: Path) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda s: floor_once(s, scratch), submissions))
    return time.perf_counter() - started


def batch(folder: Path, jobs: int, out: Path, sandbox: str, browser: bool) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "batch",
            str(folder),
            "--out",
            str(out),
            "-j",
            str(jobs),
            *([] if browser else ["--no-browser"]),
            "--sandbox",
            sandbox,
            "-q",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def browser_memory(report: Path) -> str:
    """The per-worker browser memory report.html shows (the first worker's row), for the record."""
    match = re.search(r'<table id="browser-memory">.*?<tbody><tr><td>.*?</td>(.*?)</tr>', report.read_text(), re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()) if match else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="submissions in the class")
    parser.add_argument("-j", type=int, default=default_jobs(), help="in parallel (default: the batch's default)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sandbox", default="auto", choices=["auto", "none"], help="the batch's --sandbox")
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "grader", quiet=1)  # as an installed webgrade would be (see single.py)
    floors, browsers, batches = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder, scratch, out = Path(tmp, "class"), Path(tmp, "scratch"), Path(tmp, "out")
        folder.mkdir()
        scratch.mkdir()
        submissions = make_class(folder, args.n)
        batch(folder, args.j, out, args.sandbox, browser=True)  # warm the file cache once (Chromium's too)
        for _ in range(args.runs):
            floors.append(floor(submissions, args.j, scratch))
            browsers.append(batch(folder, args.j, out, args.sandbox, browser=True))
            memory = browser_memory(out / "report.html")
            batches.append(batch(folder, args.j, out, args.sandbox, browser=False))
    base, with_browser, cost = statistics.median(floors), statistics.median(browsers), statistics.median(batches)
    print(
        f"submissions                        {args.n} (half correct, half broken), -j {args.j}, "
        f"sandbox {args.sandbox}, {args.runs} runs (medians)"
    )
    print(f"floor: bare servers + GET /        {base:.2f} s  ({args.n / base:.1f} per second)")
    print(f"webgrade batch (default: browser)  {with_browser:.2f} s  ({args.n / with_browser:.1f} per second)")
    print(f"  ratio to the floor               {with_browser / base:.2f}  (target <= 2, aim 1.3)")
    print(f"webgrade batch --no-browser        {cost:.2f} s  ({args.n / cost:.1f} per second)")
    print(f"  ratio to the floor               {cost / base:.2f}  (target <= 2)")
    print(f"a worker's Chromium, at its most   {memory or 'not reported'}  (PSS, summed RSS, processes)")


if __name__ == "__main__":
    main()
