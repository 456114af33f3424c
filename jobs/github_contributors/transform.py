"""Pure transforms from crawled commits to the monthly new-contributor series (contract definitions).

Every function takes and returns DataFrames (no I/O, no session). Months are `YYYY-MM` strings,
computed in the session time zone, which `common.spark` sets to UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf

KEY = ("org", "repo")


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _month(col: Column) -> Column:
    return sf.date_format(col, "yyyy-MM")


def with_contributor(commits: DataFrame) -> DataFrame:
    """Add `contributor`: lower(author_login), else lower(author_email) when not empty, else author_name.

    Needs `author_login`, `author_email`, `author_name` (strings, nullable).
    """
    email = sf.lower(sf.col("author_email"))
    return commits.withColumn(
        "contributor",
        sf.coalesce(
            sf.lower(sf.col("author_login")),
            sf.when(email != "", email),
            sf.col("author_name"),
        ),
    )


def first_contributions(commits: DataFrame) -> DataFrame:
    """One row per (org, repo, contributor) with `first_at`, the earliest `author_date`.

    Needs the output of `with_contributor` and `author_date` (timestamp). Commits with no identity or
    no date are ignored.
    """
    return (
        commits.where(sf.col("contributor").isNotNull() & sf.col("author_date").isNotNull())
        .groupBy(*KEY, "contributor")
        .agg(sf.min("author_date").alias("first_at"))
    )


def clamp_first_months(run_month: str) -> Callable[[DataFrame, DataFrame], DataFrame]:
    """Returns f(firsts, repos) giving (org, repo, contributor, month) with month clamped (and any
    other column of `firsts` but `first_at`).

    A first contribution before the repository's creation month counts in the creation month, one
    after `run_month` counts in `run_month`. `repos` needs org, repo, created_at (timestamp).
    """

    def clamp(firsts: DataFrame, repos: DataFrame) -> DataFrame:
        created = repos.select(*KEY, _month(sf.col("created_at")).alias("created_month"))
        month = sf.least(sf.greatest(_month(sf.col("first_at")), sf.col("created_month")), sf.lit(run_month))
        kept = [c for c in firsts.columns if c != "first_at"]
        return firsts.join(created, list(KEY), "inner").select(*kept, month.alias("month"))

    return clamp


def monthly_series(run_month: str) -> Callable[[DataFrame, DataFrame], DataFrame]:
    """Returns f(first_months, repos) giving the zero-filled series with the running total.

    Output: org, repo, month, new_contributors (long), total_contributors (long), one row per month
    from the creation month to `run_month` (both included). A repository created after the run
    month has no rows.
    """

    def series(first_months: DataFrame, repos: DataFrame) -> DataFrame:
        start = sf.to_date(sf.concat(_month(sf.col("created_at")), sf.lit("-01")))
        end = sf.to_date(sf.lit(f"{run_month}-01"))
        months = (
            repos.where(start <= end)
            .select(*KEY, sf.explode(sf.sequence(start, end, sf.expr("INTERVAL 1 MONTH"))).alias("first_day"))
            .select(*KEY, sf.date_format("first_day", "yyyy-MM").alias("month"))
        )
        counts = first_months.groupBy(*KEY, "month").agg(sf.count(sf.lit(1)).alias("new_contributors"))
        window = Window.partitionBy(*KEY).orderBy("month").rowsBetween(Window.unboundedPreceding, 0)
        return (
            months.join(counts, [*KEY, "month"], "left")
            .select(
                *KEY,
                "month",
                sf.coalesce("new_contributors", sf.lit(0)).cast("long").alias("new_contributors"),
            )
            .withColumn("total_contributors", sf.sum("new_contributors").over(window).cast("long"))
        )

    return series


def repository_totals(series: DataFrame, repos: DataFrame) -> DataFrame:
    """The repositories gold rows: repos columns plus `total_contributors` (0 when no series)."""
    totals = series.groupBy(*KEY).agg(sf.sum("new_contributors").cast("long").alias("total_contributors"))
    return repos.join(totals, list(KEY), "left").withColumn(
        "total_contributors", sf.coalesce("total_contributors", sf.lit(0)).cast("long")
    )


def new_contributors(commits: DataFrame, repos: DataFrame, run_date: date) -> tuple[DataFrame, DataFrame]:
    """Commits + repositories -> (monthly series, repositories with totals)."""
    run_month = month_of(run_date)
    firsts = first_contributions(with_contributor(commits))
    months = clamp_first_months(run_month)(firsts, repos)
    series = monthly_series(run_month)(months, repos)
    return series, repository_totals(series, repos)
