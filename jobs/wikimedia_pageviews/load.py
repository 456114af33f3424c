"""Load: Delta writes that replace exactly what a run rebuilt (a wiki's days, or a wiki's dimensions)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def days_predicate(wiki: str, days: Sequence[date]) -> str:
    """`replaceWhere` predicate of the run's days (the wiki name was validated by the CLI)."""
    first, last = min(days).isoformat(), max(days).isoformat()
    return f"wiki = '{wiki}' AND day >= DATE'{first}' AND day <= DATE'{last}'"


def wiki_predicate(wiki: str) -> str:
    return f"wiki = '{wiki}'"


def replace(df: DataFrame, uri: str, predicate: str, partition_by: Sequence[str] = ()) -> None:
    """Atomically replace the rows matching `predicate` with `df` (creates the table when new).

    A rerun writes the same rows again; a run killed before the commit leaves the old version.
    """
    writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(uri)
    log.info("wrote %s (%s)", uri, predicate)
