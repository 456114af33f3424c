"""Benchmark: parsing an enwiki-shaped `categorylinks` SQL dump into Spark rows, against `zcat`.

The dump (2 M rows by default, legacy layout, binary sort keys; generated once under bench/work/)
is read by the job's own path, `extract.read_dump` (the `sqldump` source in jvm/), with the job's
categorylinks schema and no filter, into Spark's `noop` sink: every row is made. Spark runs on one
core (`local[1]`; a gzip stream is one task anyway). `zcat > /dev/null` beside it is the floor:
decompression alone. Wall and CPU seconds are both kept: on a shared machine the CPU
seconds (the JVM's, of the zcat process, of this process for Python) say what one core does.
The Python parser (`sqldump.iter_dump`, the reference the source is tested
against) is timed too, in this process, unless --python-runs 0. Runs are interleaved (zcat,
source, Python, repeated) after one discarded warm-up pass of each, and the medians compared.
Writes bench/results/sqldump_parse.json, with the time the real enwiki dump would take at the
measured rate.

    .venv/bin/python bench/sqldump_parse.py [--rows 2000000] [--runs 5] [--python-runs 1]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results_file import write_result  # noqa: E402
from common.settings import load_settings  # noqa: E402
from emulators.wikimedia_data import write_bench_categorylinks  # noqa: E402

log = logging.getLogger("bench.sqldump_parse")
WORK = ROOT / "bench" / "work" / "wikimedia" / "sqldump"
RESULT = ROOT / "bench" / "results" / "sqldump_parse.json"
# The real enwiki categorylinks dump, for the extrapolation: ~200 M rows (issue 16's figure).
REAL_ROWS = 200_000_000
TARGET_MB_S = 40.0


def dump_file(rows: int) -> tuple[Path, int]:
    """The generated dump and its uncompressed size (cached beside it)."""
    path = WORK / f"enwiki-categorylinks-{rows}.sql.gz"
    size_file = path.with_suffix(".size")
    if not (path.exists() and size_file.exists()):
        log.info("generating %s (%d rows)", path.name, rows)
        tmp = path.with_name(path.name + ".tmp.gz")
        size = write_bench_categorylinks(tmp, rows)
        tmp.rename(path)
        size_file.write_text(str(size))
    return path, int(size_file.read_text())


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def jvm_cpu(pid: int) -> float:
    """User + system CPU seconds of the Spark JVM so far (its task, GC and JIT threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_zcat(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `zcat > /dev/null`."""
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run(["zcat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started, children_cpu() - cpu


def time_source(spark: Any, path: Path) -> tuple[float, float]:
    """Wall and JVM CPU seconds of reading the dump into Spark rows (noop sink)."""
    from jobs.wikimedia_pageviews import extract
    from jobs.wikimedia_pageviews.dimensions import DUMP_SCHEMAS

    pid = int(spark.sparkContext._jvm.ProcessHandle.current().pid())
    frame = extract.read_dump(spark, str(path), DUMP_SCHEMAS["categorylinks"])
    cpu, started = jvm_cpu(pid), time.perf_counter()
    frame.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started, jvm_cpu(pid) - cpu


def count_source(spark: Any, path: Path) -> tuple[int, int]:
    """Rows, and rows of type page: what the check against the Python parser compares."""
    from pyspark.sql import functions as F  # noqa: N812

    from jobs.wikimedia_pageviews import extract
    from jobs.wikimedia_pageviews.dimensions import DUMP_SCHEMAS

    frame = extract.read_dump(spark, str(path), DUMP_SCHEMAS["categorylinks"])
    row = frame.agg(F.count("*"), F.sum((F.col("cl_type") == "page").cast("long"))).first()
    return int(row[0]), int(row[1])


def time_python(path: Path) -> tuple[float, float, int, int]:
    from jobs.wikimedia_pageviews.sqldump import iter_dump

    rows = pages = 0
    cpu, started = time.process_time(), time.perf_counter()
    with gzip.open(path, "rb") as stream:
        for row in iter_dump(stream, ("cl_from", "cl_to", "cl_target_id", "cl_type")):
            rows += 1
            pages += row[3] == "page"
    return time.perf_counter() - started, time.process_time() - cpu, rows, pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python-runs", type=int, default=1)
    parser.add_argument("--driver-memory", default="1g")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    path, raw_bytes = dump_file(args.rows)
    load_before = os.getloadavg()
    from common.spark import get_spark

    os.environ.setdefault("SPARK_LOG_LEVEL", "ERROR")
    settings = load_settings(spark_master="local[1]", spark_driver_memory=args.driver_memory)
    spark = get_spark(settings, "bench-sqldump-parse")
    # Warm-up, discarded: the JIT compiles the parser during the first pass; the file enters the page cache.
    time_zcat(path)
    time_source(spark, path)

    runs: dict[str, list[float]] = {"zcat": [], "sqldump_source": [], "python_parser": []}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    python_counts = (0, 0)
    for i in range(args.runs):
        for name, timed in (("zcat", time_zcat(path)), ("sqldump_source", time_source(spark, path))):
            runs[name].append(timed[0])
            cpu[name].append(timed[1])
        if i < args.python_runs:
            elapsed, used, rows, pages = time_python(path)
            runs["python_parser"].append(elapsed)
            cpu["python_parser"].append(used)
            python_counts = (rows, pages)
        log.info(
            "run %d (wall, cpu): %s",
            i + 1,
            {k: (round(v[-1], 2), round(cpu[k][-1], 2)) for k, v in runs.items() if v},
        )
    source_counts = count_source(spark, path)
    spark.stop()

    median = {k: statistics.median(v) for k, v in runs.items() if v}
    median_cpu = {k: statistics.median(v) for k, v in cpu.items() if v}
    mb = raw_bytes / 1e6
    rate = {k: round(mb / v, 1) for k, v in median.items()}
    cpu_rate = {k: round(mb / v, 1) for k, v in median_cpu.items()}
    source_rows_s = args.rows / median["sqldump_source"]
    result = {
        "dump": {
            "rows": args.rows,
            "layout": "legacy (cl_from, cl_to, cl_sortkey, cl_timestamp, cl_sortkey_prefix, ...)",
            "uncompressed_bytes": raw_bytes,
            "gzip_bytes": path.stat().st_size,
            "bytes_per_row": round(raw_bytes / args.rows, 1),
        },
        "spark_master": "local[1]",
        "spark_driver_memory": args.driver_memory,
        "columns_read": ["cl_from", "cl_to", "cl_target_id", "cl_type"],
        "runs_seconds": {k: [round(x, 3) for x in v] for k, v in runs.items() if v},
        "median_seconds": {k: round(v, 3) for k, v in median.items()},
        "mb_per_second_uncompressed": rate,
        "cpu_runs_seconds": {k: [round(x, 3) for x in v] for k, v in cpu.items() if v},
        "mb_per_cpu_second_uncompressed": cpu_rate,
        "sqldump_source_rows_per_second": round(source_rows_s),
        "sqldump_source_vs_zcat": round(median["sqldump_source"] / median["zcat"], 2),
        "target_mb_per_second": TARGET_MB_S,
        "target_met_wall": rate["sqldump_source"] >= TARGET_MB_S,
        "target_met_per_cpu_second": cpu_rate["sqldump_source"] >= TARGET_MB_S,
        "same_rows_as_python_parser": None if not runs["python_parser"] else source_counts == python_counts,
        "rows_and_page_rows": {"sqldump_source": list(source_counts), "python_parser": list(python_counts)},
        "real_enwiki_categorylinks_extrapolated": {
            "rows": REAL_ROWS,
            "uncompressed_bytes_at_this_row_size": round(REAL_ROWS * raw_bytes / args.rows),
            "seconds_one_task": round(REAL_ROWS / source_rows_s),
            # What one core does when it is not shared: the JVM's CPU seconds for the same work.
            "seconds_one_task_at_cpu_rate": round(REAL_ROWS * median_cpu["sqldump_source"] / args.rows),
            "python_parser_seconds_at_cpu_rate": (
                round(REAL_ROWS * median_cpu["python_parser"] / args.rows)
                if "python_parser" in median_cpu
                else None
            ),
            "python_parser_seconds_one_task": (
                round(REAL_ROWS * median["python_parser"] / args.rows) if "python_parser" in median else None
            ),
        },
    }
    write_result(RESULT, result, load_before)


if __name__ == "__main__":
    main()
