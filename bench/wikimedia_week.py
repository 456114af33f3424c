"""Benchmark: the Wikimedia job over a 7-day week of real-size hours, once, beside DuckDB.

The week is 168 hourly files of ~6 M lines (~10 GB of gzip): the real-size day of
bench/realsize_files.py served under each of the seven days' names (hard links: the same bytes,
so the week costs no more disk than a day). The job runs as a user runs it, a process of its own
on an empty local lake, `--days 7`; DuckDB sums the same files per day and title. Recorded: wall
and CPU seconds, the job's stages, how often each landed file was opened, and the peak resident
memory of the job's process tree, and its anonymous part (heap, buffers: what it needs; the rest
is file pages the kernel reclaims), beside those of a one-day run on the same files after it;
then the week and the day again, each on the smallest driver memory it runs in (SMALL_DRIVERS;
the issue's bar: a week must not need more than a day). Writes bench/results/wikimedia_week.json.

    .venv/bin/python bench/wikimedia_week.py
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.realsize_files import REAL_LINES  # noqa: E402
from bench.realsize_files import WORK as REALSIZE_WORK  # noqa: E402
from bench.results_file import write_result  # noqa: E402
from bench.wikimedia_aggregate import time_duckdb  # noqa: E402
from bench.wikimedia_job import LAKES, bench_tree, run_job  # noqa: E402
from emulators import wikimedia as emulator  # noqa: E402
from emulators.wikimedia_data import hourly_relative  # noqa: E402
from jobs.wikimedia_pageviews.extract import day_file_times  # noqa: E402

log = logging.getLogger("bench.wikimedia_week")
RESULT = ROOT / "bench" / "results" / "wikimedia_week.json"
DAYS = 7
# The smallest driver memory each was seen to complete in (local mode): the week ran out of heap
# on 768m (in the resolve, after its reads), a day did not.
SMALL_DRIVERS = {"week": "1g", "day": "768m"}


def week_tree() -> tuple[Path, dict[date, list[str]]]:
    """The week's root: the real-size day's files linked under each day's names, and its dumps."""
    day_root, by_day = bench_tree(24, REAL_LINES, realsize=True)
    first = min(by_day)
    root = REALSIZE_WORK / f"week-{REAL_LINES}"
    week: dict[date, list[str]] = {}
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        for source, ts in zip(by_day[first], day_file_times(first), strict=True):
            target = root / hourly_relative(ts + timedelta(days=offset))
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(source, target)
            week.setdefault(day, []).append(str(target))
    for dump in (day_root / "enwiki").rglob("*.sql.gz"):
        target = root / dump.relative_to(day_root)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(dump, target)
    return root, week


def small_drivers(url: str, lake: Path, first: date) -> dict[str, object]:
    """The week and a day each on the smallest driver memory it was seen to run in
    (SMALL_DRIVERS): seconds and peak memory of each; both must complete."""
    out: dict[str, object] = {}
    before = os.environ.get("SPARK_DRIVER_MEMORY")
    try:
        for name, days in (("week", DAYS), ("day", 1)):
            os.environ["SPARK_DRIVER_MEMORY"] = SMALL_DRIVERS[name]
            shutil.rmtree(lake, ignore_errors=True)
            elapsed, cpu, stages, _ = run_job(url, lake, first, days=days)
            out[name] = {
                "driver_memory": SMALL_DRIVERS[name],
                "seconds": round(elapsed, 1),
                "cpu_seconds": round(cpu, 1),
                "peak_anon_mb": stages.get("peak_anon_mb"),
            }
            log.info("%s on %s: %.1fs", name, SMALL_DRIVERS[name], elapsed)
    finally:
        if before is None:
            os.environ.pop("SPARK_DRIVER_MEMORY", None)
        else:
            os.environ["SPARK_DRIVER_MEMORY"] = before
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("SPARK_MASTER", "local[2]")
    root, week = week_tree()
    load_before = os.getloadavg()
    started = time.perf_counter()
    duckdb_seconds = time_duckdb(week, 2)[0]
    log.info("duckdb %.1fs (%.1fs with its first read)", duckdb_seconds, time.perf_counter() - started)
    server = emulator.start(root)
    lake = LAKES / "week"
    shutil.rmtree(lake, ignore_errors=True)
    try:
        elapsed, cpu, stages, tail = run_job(server.url, lake, min(week), days=DAYS)
        shutil.rmtree(lake, ignore_errors=True)
        day = run_job(server.url, lake, min(week), days=1)[2]  # its memory, in the same settings
        small = small_drivers(server.url, lake, min(week))
    finally:
        server.stop()
        shutil.rmtree(lake, ignore_errors=True)
    log.info("job %.1fs: %s", elapsed, stages or tail)
    result = {
        "days": DAYS,
        "files": sum(len(v) for v in week.values()),
        "gzip_gb": round(sum(Path(p).stat().st_size for ps in week.values() for p in ps) / 1e9, 2),
        "spark_master": os.environ["SPARK_MASTER"],
        "driver_memory": os.environ.get("SPARK_DRIVER_MEMORY", "2g (the default)"),
        "job_seconds": round(elapsed, 1),
        "job_cpu_seconds": round(cpu, 1),
        "duckdb_seconds": round(duckdb_seconds, 1),
        "job_vs_duckdb": round(elapsed / duckdb_seconds, 2),
        "stage_seconds": stages,
        "peak_rss_mb": {"week": stages.get("peak_rss_mb"), "day": day.get("peak_rss_mb")},
        "peak_anon_mb": {"week": stages.get("peak_anon_mb"), "day": day.get("peak_anon_mb")},
        "smallest_drivers": small,
    }
    write_result(RESULT, result, load_before)


if __name__ == "__main__":
    main()
