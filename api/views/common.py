"""What the views of every resource share: a table's rows and how its values are written in answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from api.tables import DataUnavailableError, Unreadable
from common.utc import iso


def rows(table: Any) -> list[dict[str, Any]]:
    """A table's rows; an unreadable table makes the answers built from it unavailable."""
    if isinstance(table, Unreadable):
        raise DataUnavailableError(table.message)
    found: list[dict[str, Any]] = table.to_pylist()
    return found


def iso_utc(value: Any) -> str | None:
    """A timestamp as the contract writes it (`2024-03-01T00:30:00Z`); None stays null."""
    if value is None:
        return None
    return iso(value) if isinstance(value, datetime) else str(value)


def day(value: Any) -> str:
    """A date (or the day of a timestamp) as YYYY-MM-DD."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]
