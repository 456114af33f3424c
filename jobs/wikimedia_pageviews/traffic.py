"""Suspicious traffic in the daily tops: signals of the top articles and the flags they raise.

The dumps do not label automated traffic. For the `TOP_N` articles of each day this module
computes, from the hourly files, three signals and flags an article when one crosses its
documented threshold:

- `peak_hour`: the share of the day's views in its busiest hour is at least `PEAK_HOUR_SHARE`
  (an evenly read article has ~1/24; a crawler hammering one page for an hour has most of it),
  on a day the article has at least `PEAK_HOUR_MIN_VIEWS` views (with a handful of views, half of
  them in one hour is chance, not a crawler);
- `mobile_share`: its mobile share (`en.m` / both) is at least `MOBILE_DEVIATION` away from the
  median of the day's top articles (scripts rarely browse like the day's readers do);
- `spike`: its views are at least `SPIKE_RATIO` times its own mean over the run's previous days
  (0 on a day it had none); not computed on the run's first day.

Per-hour and mobile views come from the same read as the day's totals (`extract.sum_hourly`):
each raw title's row carries its mobile views and its views per file (an hour), and keeps them
when it is resolved to its article; only the rows of the top articles (`top_rows`) are decoded.
DataFrames in and out; `signals` sums its hundred articles a day on the driver (see there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

from common.schema import local_frame, struct

TOP_N = 100
SERVED_TOP = 25  # how many the API's day answer lists
PEAK_HOUR_SHARE = 0.5
PEAK_HOUR_MIN_VIEWS = 100
MOBILE_DEVIATION = 0.4
SPIKE_RATIO = 10.0
FLAGS = ("peak_hour", "mobile_share", "spike")


def top_articles(views: DataFrame, n: int = TOP_N) -> DataFrame:
    """The `n` most viewed articles of each day, ranked as `most_requested` (views desc, title asc).

    Needs `day`, `title`, `views`; returns `day`, `rank` (int, 1..n), `title`, `views`.
    """
    order = Window.partitionBy("day").orderBy(F.col("views").desc(), F.col("title").asc())
    ranked = views.withColumn("rank", F.row_number().over(order).cast("int"))
    return ranked.where(F.col("rank") <= n).select("day", "rank", "title", "views")


def top_rows(resolved: DataFrame, top: DataFrame) -> DataFrame:
    """The rows of `transform.resolve_titles`' output (over `extract.sum_hourly`'s rows) that
    count towards a top article that day, as (`day`, `article`, `views`, `mobile`, `hours`).

    Needs those rows and `top_articles`' output (a hundred rows a day, broadcast).
    """
    wanted = F.broadcast(top.select("day", "title"))
    return resolved.join(wanted, ["day", "title"], "left_semi").select(
        "day", F.col("title").alias("article"), "views", "mobile", "hours"
    )


def signals(top: DataFrame, sums: DataFrame, daily: DataFrame, days: Sequence[date]) -> DataFrame:
    """The top articles with `mobile_share`, `peak_hour_share`, `views_vs_previous`, `flags` and
    `suspicious`.

    Needs `top_articles`' output, `top_rows`' output, `daily` (`day`, `title`, `views`) of every
    day of the run, and the run's `days`, for the article's own previous days. Shares are over
    the summed views (the same lines as `views`); an article without any has null shares and no
    flag from them.

    A hundred articles a day: their rows are collected and summed on the driver (`_counts`, in
    integers), then the shares, the ratio and the flags are Spark expressions over those counts.
    As a dozen small shuffles (hours exploded and grouped, the median, the run's earlier days
    joined) the same answers took ~30 Spark jobs, ~3 s of a real-size day when its JVM is cold.
    """
    spark = top.sparkSession
    frame = local_frame(spark, _counts(top, sums, daily, days), COUNTS)
    mean = F.coalesce(F.col("_previous"), F.lit(0)) / F.col("_days")
    relative = F.when(F.col("_days") > 0, F.col("views") / F.greatest(mean, F.lit(1.0)))
    rows = frame.select(
        "day",
        "rank",
        "title",
        "views",
        (F.col("_peak") / F.col("_total")).alias("peak_hour_share"),
        (F.col("_mobile") / F.col("_total")).alias("mobile_share"),
        "_median",
        relative.alias("views_vs_previous"),
    )
    raised = F.array(
        F.when(
            (F.col("peak_hour_share") >= PEAK_HOUR_SHARE) & (F.col("views") >= PEAK_HOUR_MIN_VIEWS),
            F.lit("peak_hour"),
        ),
        F.when(F.abs(F.col("mobile_share") - F.col("_median")) >= MOBILE_DEVIATION, F.lit("mobile_share")),
        F.when(F.col("views_vs_previous") >= SPIKE_RATIO, F.lit("spike")),
    )
    flags = F.filter(raised, lambda f: f.isNotNull())
    return rows.select(
        "day",
        "rank",
        "title",
        F.col("views").cast("long").alias("views"),
        F.round("mobile_share", 4).alias("mobile_share"),
        F.round("peak_hour_share", 4).alias("peak_hour_share"),
        F.round("views_vs_previous", 4).alias("views_vs_previous"),
        flags.alias("flags"),
        (F.size(flags) > 0).alias("suspicious"),
    )


# What `_counts` gives per top article: its totals over its rows (null without any), its views
# in its busiest hour, the run's days before its day and its views on them (null when none), and
# the median mobile share of its day's top.
COUNTS = struct(
    "day date, rank int, title string, views long, _total long, _mobile long, _peak long, _days int, "
    "_previous long, _median double"
)


def _counts(top: DataFrame, sums: DataFrame, daily: DataFrame, days: Sequence[date]) -> list[tuple[Any, ...]]:
    """A row of `COUNTS` per top article, from the collected rows of `top` and `sums`, and the
    days of `daily` with the top titles' views on them (`_run_days`; only when the run has several
    `days`).

    Exact: sums in Python integers; the shares' median is Spark's `percentile(x, 0.5)` (the two
    middle shares weighted 0.5 each, in the same double arithmetic)."""
    ranked = top.select("day", "rank", "title", "views").collect()
    totals: dict[tuple[date, str], tuple[int, int]] = {}  # (views, mobile views)
    hours: dict[tuple[date, str], dict[str, int]] = {}
    for row in sums.select("day", "article", "views", "mobile", "hours").collect():
        key = (row["day"], row["article"])
        views, mobile = totals.get(key, (0, 0))
        totals[key] = (views + row["views"], mobile + row["mobile"])
        per_hour = hours.setdefault(key, {})
        for pair in filter(None, (row["hours"] or "").split(",")):
            hour, hour_views = pair.split(":")
            per_hour[hour] = per_hour.get(hour, 0) + int(hour_views)
    shares: dict[date, list[float]] = {}
    for row in ranked:
        views, mobile = totals.get((row["day"], row["title"]), (0, 0))
        if views:
            shares.setdefault(row["day"], []).append(mobile / views)  # in doubles, as Spark divides
    # A run of one day has no earlier day: its top is all of `daily` there is (no query).
    run_days, previous = _run_days(top, daily) if len(days) > 1 else (sorted({r["day"] for r in ranked}), {})
    out = []
    for row in ranked:
        day, title = row["day"], row["title"]
        summed = totals.get((day, title))  # None: no row of the article (null shares)
        peak = max(hours[(day, title)].values(), default=None) if (day, title) in hours else None
        before = [d for d in run_days if d < day]
        earlier = [previous[(d, title)] for d in before if (d, title) in previous]
        median = _median(shares.get(day, []))
        out.append(
            (
                day,
                row["rank"],
                title,
                row["views"],
                *(summed or (None, None)),
                peak,
                len(before),
                sum(earlier) if earlier else None,
                median,
            )
        )
    return out


def _run_days(top: DataFrame, daily: DataFrame) -> tuple[list[date], dict[tuple[date, str], int]]:
    """The days of `daily` and the views on them of the titles of `top`, in one query (the top
    titles, a hundred a day, broadcast to the daily views; the others summed away per day)."""
    titles = F.broadcast(top.select(F.col("title").alias("_top")).distinct())
    rows = (
        daily.join(titles, F.col("title") == F.col("_top"), "left")
        .groupBy("day", "_top")
        .agg(F.sum("views").alias("views"))
        .collect()
    )
    views = {(row["day"], row["_top"]): row["views"] for row in rows if row["_top"] is not None}
    return sorted({row["day"] for row in rows}), views


def _median(values: list[float]) -> float | None:
    """Spark's `percentile(x, 0.5)` of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * 0.5
    lower, higher = math.floor(position), math.ceil(position)
    if lower == higher or ordered[lower] == ordered[higher]:
        return ordered[lower]
    return (higher - position) * ordered[lower] + (position - lower) * ordered[higher]


def most_unflagged(flagged: DataFrame) -> DataFrame:
    """`day`, `most_unflagged_title`, `most_unflagged_views`: the best-ranked top article without a flag
    (absent when all `TOP_N` are flagged)."""
    order = Window.partitionBy("day").orderBy("rank")
    clean = flagged.where(~F.col("suspicious")).withColumn("_rn", F.row_number().over(order))
    return clean.where(F.col("_rn") == 1).select(
        "day", F.col("title").alias("most_unflagged_title"), F.col("views").alias("most_unflagged_views")
    )
