"""common.delta, the jobs' one Delta writer: new table, a partition replaced, others untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.delta import merge, replace_where
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
