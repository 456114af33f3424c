"""Quality gates of the GitHub gold rows (see common.gates), checked before anything is published.

Each gate is a pure function of DataFrames returning a Violation or None.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as sf

from common import gates
from common.gates import Violation, offending, planted
from jobs.github_contributors.transform import first_contributions, month_of, with_contributor

JOB = "github_contributors"
KEY = ("org", "repo")


def non_negative_new(series: DataFrame) -> Violation | None:
    """`new_contributors >= 0` in every month."""
    return offending("new_contributors >= 0", series.where(sf.col("new_contributors") < 0), [*KEY, "month"])


def running_total(series: DataFrame) -> Violation | None:
    """`total_contributors` is the running sum of `new_contributors` in month order."""
    window = Window.partitionBy(*KEY).orderBy("month").rowsBetween(Window.unboundedPreceding, 0)
    checked = series.withColumn("_sum", sf.sum("new_contributors").over(window))
    bad = checked.where(~sf.col("_sum").eqNullSafe(sf.col("total_contributors")))
    return offending("total_contributors = running sum of new_contributors", bad, [*KEY, "month"])


def contiguous(series: DataFrame, repos: DataFrame, run_date: date) -> Violation | None:
    """Every repository's series runs over each month from its creation month to the run month.

    `repos` holds the repositories that must have a series (org, repo, created_at); one created
    after the run month has none.
    """
    run_month = month_of(run_date)
    created = sf.date_format("created_at", "yyyy-MM")
    start = sf.to_date(sf.concat(created, sf.lit("-01")))
    end = sf.to_date(sf.lit(f"{run_month}-01"))
    expected = repos.select(
        *KEY,
        created.alias("first"),
        sf.when(start <= end, sf.months_between(end, start).cast("int") + 1).otherwise(0).alias("expected"),
    )
    actual = series.groupBy(*KEY).agg(
        sf.count(sf.lit(1)).alias("rows"),
        sf.countDistinct("month").alias("months"),
        sf.min("month").alias("lo"),
        sf.max("month").alias("hi"),
    )
    joined = expected.join(actual, list(KEY), "full_outer").fillna(0, ["rows", "months", "expected"])
    bad = joined.where(
        (sf.col("rows") != sf.col("expected"))
        | (sf.col("months") != sf.col("rows"))
        | ((sf.col("rows") > 0) & ((sf.col("lo") != sf.col("first")) | (sf.col("hi") != sf.lit(run_month))))
    )
    return offending(f"series contiguous from the creation month to {run_month}", bad, list(KEY))


def last_total_is_distinct_contributors(series: DataFrame, commits: DataFrame) -> Violation | None:
    """The last `total_contributors` of a series equals the distinct contributors of its silver commits.

    `commits` are the silver commits of the repositories with a series (org, repo, author_*).
    """
    people = (
        first_contributions(with_contributor(commits)).groupBy(*KEY).agg(sf.count(sf.lit(1)).alias("people"))
    )
    last = Window.partitionBy(*KEY).orderBy(sf.col("month").desc())
    totals = (
        series.withColumn("_n", sf.row_number().over(last))
        .where(sf.col("_n") == 1)
        .select(*KEY, "total_contributors")
    )
    bad = totals.join(people, list(KEY), "left").where(
        sf.col("total_contributors") != sf.coalesce(sf.col("people"), sf.lit(0))
    )
    return offending("last total_contributors = distinct contributors of the commits", bad, list(KEY))


def audit(series: DataFrame, repos: DataFrame, commits: DataFrame, run_date: date) -> None:
    """Raise GateError (one line) unless every gate passes; see the module docstring."""
    checks: list[Callable[[], Violation | None]] = [
        lambda: non_negative_new(series),
        lambda: running_total(series),
        lambda: contiguous(series, repos, run_date),
        lambda: last_total_is_distinct_contributors(series, commits),
    ]
    gates.audit(JOB, checks)


def plant(fault: str | None, series: DataFrame) -> DataFrame:
    """QUALITY_FAULT=github_contributors.negative_new: one month of the first repository at -1."""
    if not planted(fault, JOB, "negative_new"):
        return series
    first = series.select(*KEY, "month").orderBy(*KEY, "month").limit(1).collect()
    if not first:
        return series
    hit = (sf.col("repo") == first[0]["repo"]) & (sf.col("month") == first[0]["month"])
    return series.withColumn(
        "new_contributors", sf.when(hit, sf.lit(-1).cast("long")).otherwise(sf.col("new_contributors"))
    )
