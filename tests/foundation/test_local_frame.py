"""common.schema.local_frame: the driver's few rows as a DataFrame, built from Arrow in the JVM."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pyspark.sql import functions as sf

from common.schema import local_frame, struct

pytestmark = pytest.mark.unit

SCHEMA = struct("org string!, created_at timestamp!, day date, n long, ok boolean!")


def test_rows_keep_the_schema_its_nullability_and_utc_instants(spark: Any) -> None:
    instant = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # a DST change in Europe: no shift
    naive = instant.replace(tzinfo=None)  # read as UTC, whatever this machine's zone
    rows = [("a", instant, date(2026, 3, 29), 7, True), ("b", naive, None, None, False)]
    frame = local_frame(spark, rows, SCHEMA)
    assert frame.schema == SCHEMA
    # Compared as epoch seconds and as text in the session's zone (UTC): Python's datetimes from
    # collect() are in the machine's zone.
    got = frame.select(
        "org",
        sf.col("created_at").cast("long").alias("epoch"),
        sf.date_format("created_at", "yyyy-MM-dd HH:mm").alias("text"),
        "day",
        "n",
        "ok",
    ).orderBy("org")
    epoch = int(instant.timestamp())
    assert [tuple(r) for r in got.collect()] == [
        ("a", epoch, "2026-03-29 01:30", date(2026, 3, 29), 7, True),
        ("b", epoch, "2026-03-29 01:30", None, None, False),
    ]


def test_no_rows_is_an_empty_frame_of_the_schema(spark: Any) -> None:
    frame = local_frame(spark, [], SCHEMA)
    assert frame.schema == SCHEMA and frame.count() == 0


def test_a_row_of_the_wrong_width_fails(spark: Any) -> None:
    with pytest.raises(ValueError):
        local_frame(spark, [("a", datetime.now(UTC))], SCHEMA)
