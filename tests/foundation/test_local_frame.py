"""common.schema.local_frame: the driver's few rows as a DataFrame, built from Arrow in the JVM."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from common.schema import local_frame, struct

pytestmark = pytest.mark.unit

SCHEMA = struct("org string!, created_at timestamp!, day date, n long, ok boolean!")


def test_rows_keep_the_schema_its_nullability_and_utc_instants(spark: Any) -> None:
    instant = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # a DST change in Europe: no shift
    rows = [("a", instant, date(2026, 3, 29), 7, True), ("b", instant, None, None, False)]
    frame = local_frame(spark, rows, SCHEMA)
    assert frame.schema == SCHEMA
    got = frame.orderBy("org").collect()
    assert [tuple(r) for r in got] == [
        ("a", instant.replace(tzinfo=None), date(2026, 3, 29), 7, True),
        ("b", instant.replace(tzinfo=None), None, None, False),
    ]  # the session's zone is UTC: the instant reads back as its UTC wall time


def test_no_rows_is_an_empty_frame_of_the_schema(spark: Any) -> None:
    frame = local_frame(spark, [], SCHEMA)
    assert frame.schema == SCHEMA and frame.count() == 0


def test_a_row_of_the_wrong_width_fails(spark: Any) -> None:
    with pytest.raises(ValueError):
        local_frame(spark, [("a", datetime.now(UTC))], SCHEMA)
