"""Benchmark of the pageviews aggregation stage against `zcat > /dev/null` and DuckDB.

Same files, same work: read the gzip hourly files, keep the wiki's domain codes, sum the views per
title and day (Spark: the job's one read, `extract.sum_hourly`, which also keeps each title's
mobile and per-hour views for the signals). Spark start-up is excluded: the session is built, then
one discarded pass of each engine warms it. Runs are interleaved (zcat, DuckDB, Spark, repeated)
so a noisy shared machine hits all three alike; the medians are compared. Writes
bench/results/wikimedia_aggregate.json.

    .venv/bin/python bench/wikimedia_aggregate.py [--files 24] [--lines 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results_file import write_result  # noqa: E402
from common.settings import load_settings  # noqa: E402
from emulators.wikimedia_data import hourly_relative, write_bench_file  # noqa: E402

log = logging.getLogger("bench.wikimedia_aggregate")
WORK = ROOT / "bench" / "work" / "wikimedia" / "tree"
RESULT = ROOT / "bench" / "results" / "wikimedia_aggregate.json"
START = datetime(2026, 1, 5, 1)
CODES = ("en", "en.m")


def bench_files(count: int, lines: int) -> dict[date, list[str]]:
    """The generated files (cached under bench/work/), grouped by the UTC day they belong to."""
    by_day: dict[date, list[str]] = {}
    for i in range(count):
        ts = START + timedelta(hours=i)
        path = WORK / f"{lines}" / hourly_relative(ts)
        if not path.exists():
            log.info("generating %s (%d lines)", path.name, lines)
            tmp = path.with_name(path.name + ".tmp")
            write_bench_file(tmp, lines, seed=i)
            tmp.rename(path)
        day = (ts - timedelta(hours=1)).date()  # a file's timestamp is the end of its hour
        by_day.setdefault(day, []).append(str(path))
    return by_day


def time_zcat(paths: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(["zcat", *paths], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def time_duckdb(by_day: dict[date, list[str]], threads: int) -> tuple[float, int, int]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    parts = []
    for day, paths in by_day.items():
        files = ", ".join(f"'{p}'" for p in paths)
        parts.append(
            f"SELECT DATE '{day}' AS day, title, views FROM read_csv([{files}], delim=' ', header=false, "
            "quote='', escape='', compression='gzip', ignore_errors=true, auto_detect=false, "
            "columns={'code': 'VARCHAR', 'title': 'VARCHAR', 'views': 'BIGINT', 'size': 'BIGINT'}) "
            f"WHERE code IN ({', '.join(repr(c) for c in CODES)})"
        )
    union = " UNION ALL ".join(parts)
    query = (
        "CREATE OR REPLACE TEMP TABLE agg AS "
        f"SELECT day, title, sum(views) AS views FROM ({union}) GROUP BY day, title"
    )
    started = time.perf_counter()
    con.execute(query)
    elapsed = time.perf_counter() - started
    rows, total = con.execute("SELECT count(*), sum(views) FROM agg").fetchone()  # type: ignore[misc]
    con.close()
    return elapsed, int(rows), int(total)


def time_spark(spark: Any, by_day: dict[date, list[str]]) -> tuple[float, int, int]:
    from pyspark.sql import functions as F  # noqa: N812

    from jobs.wikimedia_pageviews.extract import sum_hourly
    from jobs.wikimedia_pageviews.transform import daily_title_views

    hours = {day: dict(enumerate(paths)) for day, paths in by_day.items()}
    aggregated = daily_title_views(sum_hourly(spark, hours, CODES))
    started = time.perf_counter()
    aggregated.write.format("noop").mode("overwrite").save()
    elapsed = time.perf_counter() - started
    check = aggregated.where(F.col("title").isNotNull()).agg(F.count("*"), F.sum("views")).first()
    return elapsed, int(check[0]), int(check[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--driver-memory", default="2g")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    by_day = bench_files(args.files, args.lines)
    paths = [p for ps in by_day.values() for p in ps]
    gz_bytes = sum(Path(p).stat().st_size for p in paths)
    load_before = os.getloadavg()

    from common.spark import get_spark
    from jobs.wikimedia_pageviews.job import SESSION_OPTIONS, tune_session

    os.environ.setdefault("SPARK_LOG_LEVEL", "ERROR")
    settings = load_settings(spark_master=f"local[{args.cores}]", spark_driver_memory=args.driver_memory)
    # The job's own JVM options and session tuning, nothing more.
    spark = get_spark(settings, "bench-wikimedia-aggregate", **SESSION_OPTIONS)
    spark.conf.set("spark.sql.shuffle.partitions", str(args.cores * 2))
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    tune_session(spark)
    # Warm-up: one whole pass of each, discarded. Start-up is not what we measure: the JVM's JIT
    # compiles the generated code and its heap grows to its working size during the first full
    # pass (measured 10-40% slower than the next ones), and the files enter the page cache.
    time_zcat(paths)
    time_duckdb(by_day, args.cores)
    time_spark(spark, by_day)

    runs: dict[str, list[float]] = {"zcat": [], "duckdb": [], "spark": []}
    checks: dict[str, tuple[int, int]] = {}
    for i in range(args.repeat):
        runs["zcat"].append(time_zcat(paths))
        elapsed, rows, total = time_duckdb(by_day, args.cores)
        runs["duckdb"].append(elapsed)
        checks["duckdb"] = (rows, total)
        elapsed, rows, total = time_spark(spark, by_day)
        runs["spark"].append(elapsed)
        checks["spark"] = (rows, total)
        log.info("run %d: %s", i + 1, {k: round(v[-1], 2) for k, v in runs.items()})
    spark.stop()

    median = {k: statistics.median(v) for k, v in runs.items()}
    total_lines = args.files * args.lines
    result = {
        "files": args.files,
        "lines_per_file": args.lines,
        "gzip_bytes": gz_bytes,
        "cores": args.cores,
        "spark_master": f"local[{args.cores}]",
        "spark_driver_memory": args.driver_memory,
        "spark_executor_memory": "local mode: executors run inside the driver JVM (driver memory)",
        "duckdb_threads": args.cores,
        "runs_seconds": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "median_seconds": {k: round(v, 3) for k, v in median.items()},
        "spark_vs_zcat": round(median["spark"] / median["zcat"], 2),
        "spark_vs_duckdb": round(median["spark"] / median["duckdb"], 2),
        "targets": {"spark_vs_zcat": 3.0, "spark_vs_duckdb": 1.5},
        "spark_rows_per_second_per_core": round(total_lines / median["spark"] / args.cores),
        "duckdb_rows_per_second_per_core": round(total_lines / median["duckdb"] / args.cores),
        "zcat_rows_per_second": round(total_lines / median["zcat"]),
        "same_answer": checks["spark"] == checks["duckdb"],
        "groups_and_views": {k: list(v) for k, v in checks.items()},
    }
    write_result(RESULT, result, load_before)


if __name__ == "__main__":
    main()
