"""The jobs' Delta writes: replace the rows a run rebuilt (`replaceWhere`), replace a whole table
(`overwrite`), or upsert on a key (MERGE). Each creates the table when it is new, fails with one
StorageError line naming the table, and says which table version it committed, so a run can
record what it produced.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.errors import StorageError, one_line
from common.storage import is_delta

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    """One commit of a write: the table, the version it made, how many rows it took in."""

    path: str
    version: int
    rows: int | None  # the rows written (or, for a MERGE, the source rows); None if Delta did not say


def replace_where(df: DataFrame, path: str, predicate: str, *, partition_by: Sequence[str] = ()) -> Written:
    """Atomically replace the rows matching `predicate` with `df`; creates the table when new.

    Rows outside the predicate are untouched; a row of `df` outside it fails the write (Delta
    checks), so a wrong predicate cannot drop data. A rerun writes the same rows again; a run
    killed before the commit leaves the previous version.
    """
    try:
        writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(path)
        written = _last_commit(df.sparkSession, path, "numOutputRows")
    except Exception as exc:
        raise StorageError(f"cannot write {path}: {one_line(exc)}") from exc
    log.info("wrote %s (%s): version %d, %s rows", path, predicate, written.version, written.rows)
    return written


def overwrite(df: DataFrame, path: str) -> Written:
    """Atomically replace the whole table (and its schema) with `df`: one commit, readers see the
    previous version until it lands."""
    try:
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
        written = _last_commit(df.sparkSession, path, "numOutputRows")
    except Exception as exc:
        raise StorageError(f"cannot write {path}: {one_line(exc)}") from exc
    log.info("overwrote %s: version %d, %s rows", path, written.version, written.rows)
    return written


def merge(
    df: DataFrame,
    path: str,
    key: Sequence[str],
    *,
    partition_by: Sequence[str] = (),
    target_where: str | None = None,
) -> Written:
    """Upsert `df` on `key` (its rows must be unique on it): a rerun never duplicates a row.

    `target_where` (on the target's columns, alias `t`) bounds the rows `df` may match: Delta then
    reads only the partitions and files that can hold them, not the whole table. A new table is
    created with `df` as its first version.
    """
    from delta.tables import DeltaTable

    spark = df.sparkSession
    try:
        if not is_delta(spark, path):
            writer = df.write.format("delta").mode("append")
            if partition_by:
                writer = writer.partitionBy(*partition_by)
            writer.save(path)
            written = _last_commit(spark, path, "numOutputRows")
        else:
            condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
            if target_where:
                condition = f"({target_where}) AND {condition}"
            (
                DeltaTable.forPath(spark, path)
                .alias("t")
                .merge(df.alias("s"), condition)
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )
            written = _last_commit(spark, path, "numSourceRows")
    except Exception as exc:
        raise StorageError(f"cannot write {path}: {one_line(exc)}") from exc
    log.info("merged into %s on %s: version %d, %s rows", path, ", ".join(key), written.version, written.rows)
    return written


def read_pinned(spark: SparkSession, path: str) -> DataFrame:
    """The table as of its latest version, pinned there (`versionAsOf`).

    A MERGE, or a `replaceWhere` overwrite, drops the blocks of every cached frame that reads its
    table at the latest version, under any query reading them at that moment, and they are
    computed again. A pinned read is not that plan, so frames cached from it stay as they are
    while the same session writes the table.
    """
    spark.read.format("delta").load(path)  # resolving it brings the log to the latest version
    version = _snapshot_version(spark, path)
    return spark.read.format("delta").option("versionAsOf", version).load(path)


def _snapshot_version(spark: SparkSession, path: str) -> int:
    """The version of the table's snapshot this JVM last read or committed (no Spark job)."""
    jvm: Any = spark.sparkContext._jvm
    return int(
        jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
        .unsafeVolatileSnapshot()
        .version()
    )


def _last_commit(spark: SparkSession, path: str, metric: str) -> Written:
    """The newest commit of the table (a job is the only writer of its rows, so its own).

    Read from the snapshot the commit left in this JVM and its one commit file: `history()`
    would cost a Spark job per write, on the critical path of every job's publish.
    """
    jvm: Any = spark.sparkContext._jvm
    version = _snapshot_version(spark, path)
    if version < 0:
        raise StorageError(f"{path}: no commit after the write")
    commit = jvm.org.apache.hadoop.fs.Path(f"{path.rstrip('/')}/_delta_log/{version:020d}.json")
    stream = commit.getFileSystem(spark._jsc.hadoopConfiguration()).open(commit)
    try:
        text = str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()
    info: dict[str, Any] = next(
        (json.loads(line)["commitInfo"] for line in text.splitlines() if '"commitInfo"' in line), {}
    )
    rows = (info.get("operationMetrics") or {}).get(metric)
    return Written(path, version, int(rows) if rows is not None else None)
