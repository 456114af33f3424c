"""Builds the driver JVM's class archive (`make setup`): one representative local Spark run whose
JVM writes, at exit, every class it loaded; later drivers map them instead of loading them
(see `common.spark.class_archive`).

    .venv/bin/python -m common.class_archive
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from common.settings import Settings, load_settings
from common.spark import CLASS_ARCHIVE_DIR, class_archive, get_spark

# Archives of other checkouts (or older jars) kept beside this one's; each is ~200 MB.
KEEP_OTHERS = 2


def _workload(folder: Path) -> None:
    """The classes a job loads: Delta writes, merge and replaceWhere, reads, history, JSON and CSV
    sources, aggregations, windows, and an RDD's mapPartitions (the GitHub crawl)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812 - the usual alias
    from pyspark.sql.window import Window

    from common import delta

    spark = SparkSession.getActiveSession()
    assert spark is not None
    table = str(folder / "table")
    rows = spark.range(2000).select(
        F.col("id"),
        (F.col("id") % 7).alias("day"),
        F.lit("x").alias("title"),
        F.current_timestamp().alias("t"),
    )
    delta.merge(rows, table, ["id"], partition_by=["day"])
    delta.merge(rows, table, ["id"], partition_by=["day"])
    delta.replace_where(rows.where("day = 1"), table, "day = 1", partition_by=["day"])
    read = spark.read.format("delta").load(table)
    ranked = read.withColumn("rank", F.row_number().over(Window.partitionBy("day").orderBy(F.desc("id"))))
    ranked.groupBy("day").agg(F.count("*"), F.max("rank")).collect()
    read.write.mode("overwrite").json(str(folder / "json"))
    spark.read.json(str(folder / "json")).count()
    read.write.mode("overwrite").option("header", "true").csv(str(folder / "csv"))
    spark.read.option("header", "true").option("multiLine", "true").csv(str(folder / "csv")).count()
    spark.sparkContext.parallelize(range(100), 2).mapPartitions(lambda part: [sum(part)]).collect()
    _s3a_workload(spark)


def _s3a_workload(spark: Any) -> None:
    """S3A's classes (~2,500: its SDK client, a request, its failure, Delta over it), which every
    start on a MinIO or S3 lake loads: a Delta read of a bucket served by a closed local port,
    tried once, so no store is needed and it fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = spark._jsc.hadoopConfiguration()
    bucket = "class-archive"
    for key, value in {
        "endpoint": f"http://127.0.0.1:{port}",
        "connection.ssl.enabled": "false",
        "path.style.access": "true",
        "endpoint.region": "us-east-1",
        "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "access.key": "class-archive",
        "secret.key": "class-archive",
        "attempts.maximum": "1",
        "retry.limit": "0",
    }.items():
        conf.set(f"fs.s3a.bucket.{bucket}.{key}", value)
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    for logger in ("org.apache.spark.sql.delta", "org.apache.hadoop.fs.s3a"):  # the failure is expected
        log4j.core.config.Configurator.setLevel(logger, log4j.Level.OFF)
    with contextlib.suppress(Exception):
        spark.read.format("delta").load(f"s3a://{bucket}/table").count()


def build(settings: Settings) -> Path:
    """This checkout's archive, built when missing (idempotent); older ones pruned."""
    from pyspark import SparkContext

    target = class_archive(settings)
    if target.is_file():
        return target
    CLASS_ARCHIVE_DIR.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="class-archive-") as folder:
        spark = get_spark(settings, "class-archive", dump_class_archive=partial)
        _workload(Path(folder))
        gateway = SparkContext._gateway
        spark.stop()
        # The JVM writes the archive while it exits, which it does when its stdin closes.
        process = getattr(gateway, "proc", None)
        if process is not None and process.stdin is not None:
            process.stdin.close()
            process.wait(timeout=300)
    if not partial.is_file() or partial.stat().st_size == 0:
        raise ConfigError("class archive", f"the JVM wrote no archive at {partial}")
    os.replace(partial, target)  # a driver never maps a half-written archive
    others = sorted(
        (p for p in CLASS_ARCHIVE_DIR.glob("spark-*") if p != target), key=lambda p: p.stat().st_mtime
    )
    for stale in others[: max(0, len(others) - KEEP_OTHERS)]:
        stale.unlink(missing_ok=True)
    return target


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        path = build(load_settings(spark_master="local[2]"))
    except ConfigError as exc:
        print(f"class archive: {exc}", file=sys.stderr)
        return 2
    print(f"class archive: {path} ({path.stat().st_size // 2**20} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
