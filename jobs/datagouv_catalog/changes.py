"""What changed since the previous run: each run's matching set, and its difference with the last one.

Pure transforms (DataFrames in and out). The matching set of a run date is kept in
`datagouv/matches`; from it, `changes` derives, for a run date, the datasets added, removed and
changed (title, organization or followers) since the previous run date in the lake. A run's
matching set enters the difference of two run dates only: its own and its successor's (whose
previous run date it is), so a run recomputes those two (`affected_run_dates`); the other run
dates' rows cannot have moved. Given every run date's matches, the same transforms recompute the
whole history (what a run does when the lake's changes tables lag its matches).
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf

from jobs.datagouv_catalog.transform import MATCH_COLUMNS, mentions_mobility_column

# The fields whose difference makes a dataset "changed", in the order the answers list them.
COMPARED = ("title", "organization", "followers")
MATCHES_COLUMNS = (
    "run_date",
    "dataset_id",
    "title",
    "organization_id",
    "organization",
    "followers",
    "matched",
)


def _col(name: str) -> Column:
    return sf.col(f"`{name}`")


def matches(matching: DataFrame, organizations: DataFrame, run_date: str) -> DataFrame:
    """The run's matching datasets as `datagouv/matches` rows; `matched` lists which of title,
    description and tags mention mobility/transport (the matcher's own test, field by field).

    Needs the matching datasets (`id`, `title`, `description`, `tags`, `organization_id`,
    `metric.followers`) and the organizations export (`id`, `name`); a dataset of an organization
    the export does not list keeps a null `organization`.
    """
    spark = matching.sparkSession
    matched = sf.filter(
        sf.array(*[sf.when(mentions_mobility_column(spark, _col(c)), sf.lit(c)) for c in MATCH_COLUMNS]),
        lambda c: c.isNotNull(),
    )
    followers = sf.coalesce(_col("metric.followers").try_cast("double").cast("long"), sf.lit(0).cast("long"))
    names = organizations.groupBy(_col("id").alias("organization_id")).agg(  # a repeated id: one name
        sf.min(_col("name")).alias("organization")
    )
    rows = matching.select(
        _col("id").alias("dataset_id"),
        _col("title").alias("title"),
        _col("organization_id").alias("organization_id"),
        followers.alias("followers"),
        matched.alias("matched"),
    ).where(sf.col("dataset_id").isNotNull())
    joined = rows.join(sf.broadcast(names), "organization_id", "left")
    return joined.select(sf.lit(run_date).alias("run_date"), *MATCHES_COLUMNS[1:])


def affected_run_dates(known: Iterable[str], run_date: str) -> list[tuple[str, str | None]]:
    """(run_date, previous_run_date) of the run dates whose changes depend on `run_date`'s
    matching set, among the `known` run dates: `run_date` itself, and the next run date if any."""
    dates = sorted({*known, run_date})
    at = dates.index(run_date)
    rows: list[tuple[str, str | None]] = [(run_date, dates[at - 1] if at else None)]
    if at + 1 < len(dates):
        rows.append((dates[at + 1], run_date))
    return rows


def run_dates(all_matches: DataFrame, runs: DataFrame | None = None) -> DataFrame:
    """(run_date, previous_run_date) of every run date; the first has a null previous one.

    `runs` (a `run_date` column) adds run dates whose matching set was empty."""
    dates = all_matches.select("run_date")
    if runs is not None:
        dates = dates.unionByName(runs.select("run_date"))
    order = Window.orderBy("run_date")  # one small partition: a row per run date
    return dates.distinct().withColumn("previous_run_date", sf.lag("run_date").over(order))


def changes(all_matches: DataFrame, dates: DataFrame) -> DataFrame:
    """`datagouv/changes` rows: run_date, previous_run_date, dataset_id, change (`added` | `removed`
    | `changed`), fields (the compared fields that differ; empty unless `changed`), title (the
    dataset's on the run date; a removed one's on the previous run date).

    On the first run date every dataset is `added`. Needs `matches` rows of every run date and
    `run_dates`' output.
    """
    current = all_matches.join(dates, "run_date").select(
        "run_date",
        "previous_run_date",
        "dataset_id",
        sf.lit(True).alias("c_here"),
        *[sf.col(c).alias(f"c_{c}") for c in COMPARED],
    )
    following = dates.where(sf.col("previous_run_date").isNotNull()).select(
        sf.col("run_date").alias("next_run_date"), sf.col("previous_run_date").alias("p_run_date")
    )
    previous = all_matches.join(following, all_matches["run_date"] == following["p_run_date"]).select(
        sf.col("next_run_date").alias("run_date"),
        sf.col("p_run_date"),
        "dataset_id",
        sf.lit(True).alias("p_here"),
        *[sf.col(c).alias(f"p_{c}") for c in COMPARED],
    )
    both = current.join(previous, ["run_date", "dataset_id"], "full_outer")
    differ = sf.filter(
        sf.array(*[sf.when(~sf.col(f"c_{c}").eqNullSafe(sf.col(f"p_{c}")), sf.lit(c)) for c in COMPARED]),
        lambda c: c.isNotNull(),
    )
    change = (
        sf.when(sf.col("p_here").isNull(), "added")
        .when(sf.col("c_here").isNull(), "removed")
        .otherwise("changed")
    )
    out = both.select(
        "run_date",
        sf.coalesce("previous_run_date", "p_run_date").alias("previous_run_date"),
        "dataset_id",
        change.alias("change"),
        sf.when(change == "changed", differ).otherwise(sf.array().cast("array<string>")).alias("fields"),
        sf.coalesce("c_title", "p_title").alias("title"),
    )
    return out.where((sf.col("change") != "changed") | (sf.size("fields") > 0))


def run_summary(all_matches: DataFrame, dates: DataFrame, diff: DataFrame) -> DataFrame:
    """`datagouv/change_runs` rows: run_date, previous_run_date, matching, added, removed, changed
    (longs), one per run date, so a run date with nothing to list is still known."""
    sizes = all_matches.groupBy("run_date").agg(sf.count(sf.lit(1)).alias("matching"))
    kinds = ("added", "removed", "changed")
    counts = diff.groupBy("run_date").agg(
        *[sf.count(sf.when(sf.col("change") == k, True)).alias(k) for k in kinds]
    )
    return (
        dates.join(sizes, "run_date", "left")
        .join(counts, "run_date", "left")
        .select(
            "run_date",
            "previous_run_date",
            *[sf.coalesce(sf.col(c), sf.lit(0)).cast("long").alias(c) for c in ("matching", *kinds)],
        )
    )
