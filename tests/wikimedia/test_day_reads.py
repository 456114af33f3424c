"""Where each day's read is kept: a week must not need more heap than a day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pyspark import StorageLevel

from jobs.wikimedia_pageviews.job import sums_level

pytestmark = pytest.mark.unit

WEEK = tuple(date(2026, 1, 5) + timedelta(days=i) for i in range(7))


def test_days_before_the_last_are_kept_on_disk_and_the_last_in_memory() -> None:
    for day in WEEK[:-1]:
        assert sums_level(day, WEEK) == StorageLevel.DISK_ONLY
    assert sums_level(WEEK[-1], WEEK) == StorageLevel.MEMORY_AND_DISK


def test_a_one_day_run_keeps_its_read_in_memory() -> None:
    assert sums_level(WEEK[0], WEEK[:1]) == StorageLevel.MEMORY_AND_DISK
