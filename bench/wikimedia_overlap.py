"""Benchmark: the real-size day over a slow link, its hourly files read in batches as they land.

The emulator serves the real-size day (bench/realsize_files.py: 24 files of ~6 M lines, ~60 MB of
gzip each) with each answer's body sent at no more than `--bandwidth` MB/s (the job downloads 8
files at once, so the link carries up to 8x that). The whole job runs as a process, as a user runs
it, alternately over that slow link and over an unthrottled one, on an emptied lake each time.
Kept per run: the landing's seconds, the batches the files were read in (`reads`), the
aggregation's seconds, and `wait_for_aggregate`, how long the job waited for the reads once the
landing was over: on the unthrottled link the files land before Spark is up, so the whole
aggregation comes after the landing; on the slow one only the last batch should. Medians in
bench/results/wikimedia_overlap.json.

    .venv/bin/python bench/wikimedia_overlap.py [--bandwidth 4] [--repeat 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.realsize_files import REAL_LINES  # noqa: E402
from bench.results_file import write_result  # noqa: E402
from bench.wikimedia_job import LAKES, bench_tree, run_job  # noqa: E402
from emulators import wikimedia as emulator  # noqa: E402

log = logging.getLogger("bench.wikimedia_overlap")
RESULT = ROOT / "bench" / "results" / "wikimedia_overlap.json"
KEPT = ("land", "spark_start", "aggregate", "wait_for_aggregate", "reads", "job_total", "file_opens_max")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bandwidth", type=float, default=4.0, help="MB/s per download (default 4)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("SPARK_MASTER", "local[2]")
    root, by_day = bench_tree(24, REAL_LINES, True)
    day = min(by_day)
    server = emulator.start(root, match="pageviews-")
    load_before = os.getloadavg()
    links = {"slow_link": args.bandwidth * 1e6, "unthrottled": 0.0}
    runs: dict[str, list[dict[str, float]]] = {link: [] for link in links}
    try:
        for i in range(args.repeat):
            for link, bandwidth in links.items():
                server.faults.set(bandwidth=bandwidth)
                lake = LAKES / f"overlap-{link}"
                shutil.rmtree(lake, ignore_errors=True)
                elapsed, cpu, stages, _ = run_job(server.url, lake, day)
                kept = {k: stages[k] for k in KEPT if k in stages}
                runs[link].append({"wall": round(elapsed, 2), "cpu": round(cpu, 2), **kept})
                log.info("round %d %s: %s", i + 1, link, runs[link][-1])
                shutil.rmtree(lake, ignore_errors=True)
    finally:
        server.stop()
    median = {
        link: {key: round(statistics.median(r.get(key, 0.0) for r in rs), 2) for key in rs[0]}
        for link, rs in runs.items()
    }
    result = {
        "files": 24,
        "lines_per_file": REAL_LINES,
        "day": day.isoformat(),
        "spark_master": os.environ["SPARK_MASTER"],
        "bandwidth_mb_s_per_download": args.bandwidth,
        "download_workers": 8,
        "runs": runs,
        "median": median,
        "aggregation_left_after_landing_seconds": {
            link: m.get("wait_for_aggregate", 0.0) for link, m in median.items()
        },
    }
    write_result(RESULT, result, load_before)


if __name__ == "__main__":
    main()
