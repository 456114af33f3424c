"""Quality gates of the Wikipedia gold rows (see common.gates), checked before anything is published."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

from common import gates
from common.gates import Violation, offending, planted

JOB = "wikimedia_pageviews"


def hours_in_range(summary: DataFrame) -> Violation | None:
    """`0 <= hours <= 24`, and `complete` exactly when `hours == 24`."""
    bad = summary.where(
        (F.col("hours") < 0) | (F.col("hours") > 24) | (F.col("complete") != (F.col("hours") == 24))
    )
    return offending("0 <= hours <= 24 and complete = (hours = 24)", bad, ["wiki", "day"])


def most_at_least_least(summary: DataFrame) -> Violation | None:
    """`most_views >= least_views >= 1` on a day with views (both answers present or both absent)."""
    bad = summary.where(
        (F.col("most_views").isNull() != F.col("least_views").isNull())
        | (F.col("least_views") < 1)
        | (F.col("most_views") < F.col("least_views"))
    )
    return offending("most_views >= least_views >= 1", bad, ["wiki", "day"])


def ranks_and_views(top: DataFrame) -> Violation | None:
    """Ranks of a day are 1..n (n <= 5) and views do not increase with the rank."""
    by_rank = Window.partitionBy("wiki", "day").orderBy("rank")
    checked = top.withColumn("_position", F.row_number().over(by_rank)).withColumn(
        "_previous", F.lag("views").over(by_rank)
    )
    bad = checked.where(
        (F.col("rank") != F.col("_position"))
        | (F.col("rank") > 5)
        | (F.col("_previous").isNotNull() & (F.col("views") > F.col("_previous")))
    )
    return offending("ranks 1..5 with non-increasing views", bad, ["wiki", "day", "rank"])


def no_hidden_category(top: DataFrame, members: DataFrame) -> Violation | None:
    """No top category is hidden (`members`: title, category, hidden)."""
    hidden = members.where(F.col("hidden")).select("category").distinct()
    bad = top.join(hidden, "category")
    return offending("no hidden category", bad, ["wiki", "day", "category"])


def audit(summary: DataFrame, top: DataFrame, members: DataFrame) -> None:
    """Raise GateError (one line) unless every gate passes."""
    gates.audit(
        JOB,
        [
            lambda: hours_in_range(summary),
            lambda: most_at_least_least(summary),
            lambda: ranks_and_views(top),
            lambda: no_hidden_category(top, members),
        ],
    )


def plant(fault: str | None, summary: DataFrame) -> DataFrame:
    """QUALITY_FAULT=wikimedia_pageviews.hours_over_24: every day claims 25 hourly files."""
    if not planted(fault, JOB, "hours_over_24"):
        return summary
    return summary.withColumn("hours", F.lit(25).cast("int"))
