"""Benchmark: the floor under a whole job (its Spark start and its Delta commits) beside its bar.

Issue 16 asks the GitHub first run to take at most a quarter of the sequential crawler's time and
the Wikimedia day at most 4x DuckDB's aggregation. This measures what no implementation of the
jobs as specified (a Spark session whose Delta writer commits the tables) can go under on this
machine: a fresh process that starts the job's Spark exactly as the job does and commits the job's
tables (the same tables, row counts and kind of write, all side by side, which the
job itself cannot do since gold waits for its inputs) from rows made in the JVM, and nothing else;
for Wikimedia also the one aggregation of the hourly files that any answer needs (beside the
dimension tables' commits, as in the job). Beside it in each round, the baseline the bar is set
against: the sequential crawler on the emulator (50 ms a request), DuckDB on the same files.
Writes bench/results/spark_floor.json.

    .venv/bin/python bench/spark_floor.py [--repeat 3] [--files 24] [--lines 1000000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results_file import write_result  # noqa: E402

log = logging.getLogger("bench.spark_floor")
RESULT = ROOT / "bench" / "results" / "spark_floor.json"
ORG = "bench-org"
# Rows each table of a run takes in, as the whole-job benchmarks' runs write them (their logs).
GITHUB_ROWS = {
    "github/commits": 60_000,
    "github/new_contributors_monthly": 18_075,
    "github/contributors": 5_155,
    "github/repositories": 200,
    "github/crawl_state": 200,
}
WIKI_DIMENSION_ROWS = {
    "wikimedia/articles": 200_022,
    "wikimedia/redirects": 20_005,
    "wikimedia/category_members": 240_034,
}
WIKI_DAY_ROWS = {
    "wikimedia/pageviews_daily": 200_000,
    "wikimedia/daily_summary": 1,
    "wikimedia/daily_top_categories": 5,
    "wikimedia/daily_top_articles": 100,
}


def _rows(spark: Any, count: int, key: str, value: str) -> Any:
    """`count` rows made in the JVM: a key column `key` = `value`, a string, a hash, a timestamp."""
    from pyspark.sql import functions as sf

    return spark.range(count, numPartitions=2 if count > 10_000 else 1).select(
        sf.lit(value).alias(key),
        (sf.col("id") % 997).cast("string").alias("name"),
        sf.sha2(sf.col("id").cast("string"), 256).alias("sha"),
        sf.col("id").alias("n"),
        sf.current_timestamp().alias("at"),
    )


def _commit_all(
    spark: Any, tables: dict[str, int], key: str, value: str, merged: tuple[str, ...] = ()
) -> None:
    """Commit every table at once (a MERGE for those in `merged`, else a replaceWhere)."""
    from common import delta
    from common.settings import Settings
    from common.storage import lake_path

    settings = Settings()

    def commit(path: str) -> None:
        frame = _rows(spark, tables[path], key, value)
        uri = lake_path(settings, path)
        if path in merged:
            delta.merge(frame, uri, (key, "sha"), partition_by=(key,))
        else:
            delta.replace_where(frame, uri, f"{key} = '{value}'")

    with ThreadPoolExecutor(len(tables), thread_name_prefix="commit") as pool:
        list(pool.map(commit, tables))


def child_github() -> dict[str, float]:
    """The GitHub job's floor: its Spark (short_job) and its five commits."""
    from common.settings import Settings
    from common.spark import LazySpark

    started = time.monotonic()
    lazy = LazySpark(Settings(), "github_contributors", short_job=True)
    lazy.start()
    spark = lazy.get()
    ready = time.monotonic()
    _commit_all(spark, GITHUB_ROWS, "org", ORG, merged=("github/commits",))
    done = time.monotonic()
    spark.stop()
    return {"spark_start": ready - started, "commits": done - ready}


def child_wikimedia(files: int, lines: int) -> dict[str, float]:
    """The Wikimedia job's floor: its Spark, the aggregation beside the dimensions' commits, then
    the day's four commits."""
    from bench.wikimedia_aggregate import CODES, bench_files
    from common.settings import Settings
    from common.spark import get_spark
    from jobs.wikimedia_pageviews.extract import read_hourly
    from jobs.wikimedia_pageviews.job import SESSION_OPTIONS, tune_session
    from jobs.wikimedia_pageviews.transform import daily_title_views

    by_day = bench_files(files, lines)
    started = time.monotonic()
    spark = get_spark(Settings(), "wikimedia_pageviews", **SESSION_OPTIONS)
    tune_session(spark)
    ready = time.monotonic()
    with ThreadPoolExecutor(1, thread_name_prefix="dimensions") as side:
        dimensions = side.submit(_commit_all, spark, WIKI_DIMENSION_ROWS, "wiki", "enwiki")
        daily_title_views(read_hourly(spark, by_day, CODES)).write.format("noop").mode("overwrite").save()
        aggregated = time.monotonic()
        dimensions.result()
    _commit_all(spark, WIKI_DAY_ROWS, "wiki", "enwiki")
    done = time.monotonic()
    spark.stop()
    return {
        "spark_start": ready - started,
        "aggregate": aggregated - ready,
        "commits_after": done - aggregated,
    }


def run_child(job: str, lake: Path, args: argparse.Namespace) -> dict[str, float]:
    """One floor process, timed whole (interpreter, imports, JVM exit included)."""
    shutil.rmtree(lake, ignore_errors=True)
    env = {**os.environ, "LAKE_ROOT": str(lake)}
    command = [
        sys.executable,
        __file__,
        "--child",
        job,
        "--files",
        str(args.files),
        "--lines",
        str(args.lines),
    ]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"the {job} floor failed: {done.stderr.strip().splitlines()[-1:]}")
    parts = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall": round(wall, 2), **{k: round(v, 2) for k, v in parts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--child", choices=("github", "wikimedia"))
    args = parser.parse_args()
    if args.child:
        logging.disable(logging.WARNING)
        parts = child_github() if args.child == "github" else child_wikimedia(args.files, args.lines)
        print(json.dumps(parts))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from bench.github_crawl import TOKEN, sequential_crawl
    from bench.wikimedia_aggregate import bench_files, time_duckdb
    from emulators import github as emulator
    from emulators.github_data import generate_org

    work = Path(tempfile.mkdtemp(prefix="bench-spark-floor-"))
    generate_org(work / "data", ORG, repos=200, commits=60_000, seed=42, skew=0.9, empty=0, gone=0)
    api = emulator.start(work / "data", latency=0.05, tokens=[TOKEN])
    by_day = bench_files(args.files, args.lines)
    time_duckdb(by_day, 2)  # warm-up: the files enter the page cache
    load_before = os.getloadavg()
    runs: dict[str, list[Any]] = {"sequential": [], "github_floor": [], "duckdb": [], "wikimedia_floor": []}
    try:
        for index in range(args.repeat):
            runs["sequential"].append(sequential_crawl(api.url, ORG)["seconds"])
            runs["github_floor"].append(run_child("github", work / "lake", args))
            runs["duckdb"].append(round(time_duckdb(by_day, 2)[0], 2))
            runs["wikimedia_floor"].append(run_child("wikimedia", work / "lake", args))
            log.info("round %d: %s", index + 1, json.dumps({k: v[-1] for k, v in runs.items()}))
    finally:
        api.stop()
        shutil.rmtree(work, ignore_errors=True)

    def median(kind: str) -> float:
        values = [r["wall"] if isinstance(r, dict) else r for r in runs[kind]]
        return round(statistics.median(values), 2)

    github_bar = median("sequential") / 4.0
    wikimedia_bar = 4.0 * median("duckdb")
    result = {
        "what": "a fresh process: the job's Spark start, its Delta commits (Wikimedia: and the aggregation)",
        "rows": {**GITHUB_ROWS, **WIKI_DIMENSION_ROWS, **WIKI_DAY_ROWS},
        "runs": runs,
        "median_seconds": {k: median(k) for k in runs},
        "github": {
            "bar_seconds": round(github_bar, 2),
            "floor_seconds": median("github_floor"),
            "left_for_list_crawl_transform_audit": round(github_bar - median("github_floor"), 2),
        },
        "wikimedia": {
            "bar_seconds": round(wikimedia_bar, 2),
            "floor_seconds": median("wikimedia_floor"),
            "left_for_land_dumps_resolve_rank_audit": round(wikimedia_bar - median("wikimedia_floor"), 2),
        },
    }
    write_result(RESULT, result, load_before)


if __name__ == "__main__":
    main()
