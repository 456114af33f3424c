"""UTC, the one zone the platform stores, answers and compares times in.

delta-rs reads a timestamp column without a zone (its values are UTC), and a source's text may
lack one; a value that carries a zone is converted: every "make this timestamp UTC" is here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Where a row without a timestamp sorts: before every real one.
EARLIEST = datetime.min.replace(tzinfo=UTC)
SECONDS = "%Y-%m-%dT%H:%M:%SZ"
MICROSECONDS = "%Y-%m-%dT%H:%M:%S.%fZ"


def as_utc(value: datetime) -> datetime:
    """A naive value is UTC already; an aware one is converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sort_key(value: Any) -> datetime:
    """A timestamp column's value for choosing the newest row; a missing one counts as the earliest."""
    return as_utc(value) if isinstance(value, datetime) else EARLIEST


def iso(value: datetime, fmt: str = SECONDS) -> str:
    """ISO 8601 in UTC with `Z` (to the second unless `fmt` says otherwise)."""
    return as_utc(value).strftime(fmt)


def now() -> datetime:
    return datetime.now(UTC)
