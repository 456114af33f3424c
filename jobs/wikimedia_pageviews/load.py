"""Load: Delta writes that replace exactly what a run rebuilt (a wiki's days, or a wiki's dimensions)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame

from common.delta import Written, replace_where

log = logging.getLogger(__name__)


def days_predicate(wiki: str, days: Sequence[date]) -> str:
    """`replaceWhere` predicate of the run's days (the wiki name was validated by the CLI)."""
    first, last = min(days).isoformat(), max(days).isoformat()
    return f"wiki = '{wiki}' AND day >= DATE'{first}' AND day <= DATE'{last}'"


def wiki_predicate(wiki: str) -> str:
    return f"wiki = '{wiki}'"


def replace(df: DataFrame, uri: str, predicate: str, partition_by: Sequence[str] = ()) -> Written:
    """Atomically replace the rows matching `predicate` with `df` (see common.delta.replace_where)."""
    return replace_where(df, uri, predicate, partition_by=partition_by)
