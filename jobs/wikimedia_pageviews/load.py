"""Load: what the Delta writes (common.delta.replace_where) replace: a wiki's days, or a wiki's
dimensions; and the stage each write is timed as."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from common.tables import Table


def days_predicate(wiki: str, days: Sequence[date]) -> str:
    """`replaceWhere` predicate of the run's days (the wiki name was validated by the CLI)."""
    first, last = min(days).isoformat(), max(days).isoformat()
    return f"wiki = '{wiki}' AND day >= DATE'{first}' AND day <= DATE'{last}'"


def wiki_predicate(wiki: str) -> str:
    return f"wiki = '{wiki}'"


def write_stage(table: Table) -> str:
    """The run's stage that times the write of `table`: `write_<its last path segment>`."""
    return f"write_{table.name}"
