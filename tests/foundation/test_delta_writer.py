"""common.delta, the jobs' one Delta writer: new table, a partition replaced, others untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.delta import merge, read_pinned, replace_where
from common.errors import StorageError

pytestmark = pytest.mark.integration

SCHEMA = "org string, day string, n long"


def rows(spark: Any, path: str) -> list[tuple[str, str, int]]:
    df = spark.read.format("delta").load(path)
    return sorted((r["org"], r["day"], r["n"]) for r in df.collect())


@pytest.mark.parametrize("partition_by", [(), ("org",)])
def test_replace_where_creates_then_replaces_one_slice(
    spark: Any, tmp_path: Path, partition_by: tuple[str, ...]
) -> None:
    path = str(tmp_path / "t")
    first = spark.createDataFrame([("a", "d1", 1), ("a", "d2", 2)], SCHEMA)
    created = replace_where(first, path, "org = 'a'", partition_by=partition_by)
    assert (created.version, created.rows) == (0, 2)
    replace_where(
        spark.createDataFrame([("b", "d1", 10)], SCHEMA), path, "org = 'b'", partition_by=partition_by
    )
    again = replace_where(
        spark.createDataFrame([("a", "d1", 5)], SCHEMA), path, "org = 'a'", partition_by=partition_by
    )
    assert (again.version, again.rows) == (2, 1)
    assert rows(spark, path) == [("a", "d1", 5), ("b", "d1", 10)]  # org b untouched
    if partition_by:
        assert sorted(p.name for p in Path(path).iterdir() if p.name.startswith("org=")) == ["org=a", "org=b"]


def test_replace_where_refuses_rows_outside_the_predicate(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    replace_where(spark.createDataFrame([("a", "d1", 1)], SCHEMA), path, "org = 'a'")
    with pytest.raises(StorageError, match=f"cannot write {path}"):
        replace_where(spark.createDataFrame([("b", "d1", 1)], SCHEMA), path, "org = 'a'")
    assert rows(spark, path) == [("a", "d1", 1)]


def test_merge_creates_then_upserts_without_duplicates(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    created = merge(
        spark.createDataFrame([("a", "d1", 1)], SCHEMA), path, ("org", "day"), partition_by=("org",)
    )
    assert (created.version, created.rows) == (0, 1)
    batch = spark.createDataFrame([("a", "d1", 7), ("a", "d2", 2)], SCHEMA)
    merged = merge(batch, path, ("org", "day"), partition_by=("org",))
    assert (merged.version, merged.rows) == (1, 2)
    merge(batch, path, ("org", "day"))  # a rerun
    assert rows(spark, path) == [("a", "d1", 7), ("a", "d2", 2)]


def _cached_frames(spark: Any) -> set[int]:
    """Ids of the RDDs holding cached frames' blocks (not Delta's own snapshot state)."""
    infos = spark.sparkContext._jsc.sc().getRDDStorageInfo()
    return {
        int(info.id())
        for info in infos
        if info.numCachedPartitions() > 0 and not str(info.name()).startswith("Delta Table State")
    }


@pytest.mark.parametrize("pinned", [True, False])
def test_frames_cached_from_a_pinned_read_survive_a_merge_into_the_table(
    spark: Any, tmp_path: Path, pinned: bool
) -> None:
    """The GitHub job audits frames cached from its commits table while it merges into that table:
    a MERGE re-caches what reads its target at the latest version (dropping blocks a running
    query may be reading, and computing them again), never what reads it pinned."""
    path = str(tmp_path / "t")
    merge(spark.createDataFrame([("a", "d1", 1), ("a", "d2", 2)], SCHEMA), path, ("org", "day"))
    table = read_pinned(spark, path) if pinned else spark.read.format("delta").load(path)
    before = _cached_frames(spark)
    derived = table.groupBy("org").count().cache()
    assert [tuple(r) for r in derived.collect()] == [("a", 2)]
    ours = _cached_frames(spark) - before
    assert ours
    merge(spark.createDataFrame([("a", "d3", 3)], SCHEMA), path, ("org", "day"))
    assert (ours <= _cached_frames(spark)) is pinned
    assert [tuple(r) for r in derived.collect()] == [("a", 2)]  # the snapshot it was read at
    derived.unpersist()
    assert rows(spark, path)[-1] == ("a", "d3", 3)
