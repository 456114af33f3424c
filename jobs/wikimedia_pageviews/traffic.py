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
Pure transforms: DataFrames in and out.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

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


def signals(top: DataFrame, sums: DataFrame, daily: DataFrame) -> DataFrame:
    """The top articles with `mobile_share`, `peak_hour_share`, `views_vs_previous`, `flags` and
    `suspicious`.

    Needs `top_articles`' output, `top_rows`' output, and `daily` (`day`, `title`, `views`)
    of every day of the run, for the article's own previous days. Shares are over the summed views
    (the same lines as `views`); an article without any has null shares and no flag from them.
    """
    with_shares = top.join(_shares(sums), ["day", "title"], "left")
    median = with_shares.groupBy("day").agg(F.percentile("mobile_share", 0.5).alias("_median"))
    history = _with_history(with_shares, top, daily)
    mean = F.coalesce(F.col("_previous"), F.lit(0)) / F.col("_days")
    relative = F.when(F.col("_days") > 0, F.col("views") / F.greatest(mean, F.lit(1.0)))
    rows = history.join(median, "day", "left").withColumn("views_vs_previous", relative)
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


def _shares(sums: DataFrame) -> DataFrame:
    """(`day`, `title`, `peak_hour_share`, `mobile_share`) of each article with views in `sums`
    (`top_rows`' output): its views per hour are those of its titles' `hours` pairs."""
    pairs = sums.select("day", "article", F.explode(F.split("hours", ",")).alias("_pair"))
    per_hour = (
        pairs.select("day", "article", F.split("_pair", ":").alias("_p"))
        .groupBy("day", "article", F.col("_p")[0].alias("hour"))
        .agg(F.sum(F.col("_p")[1].cast("long")).alias("hour_views"))
    )
    peaks = per_hour.groupBy("day", "article").agg(F.max("hour_views").alias("peak"))
    totals = sums.groupBy("day", "article").agg(
        F.sum("views").alias("total"), F.sum("mobile").alias("mobile_views")
    )
    return totals.join(peaks, ["day", "article"]).select(
        "day",
        F.col("article").alias("title"),
        (F.col("peak") / F.col("total")).alias("peak_hour_share"),
        (F.col("mobile_views") / F.col("total")).alias("mobile_share"),
    )


def _with_history(rows: DataFrame, top: DataFrame, daily: DataFrame) -> DataFrame:
    """`rows` (a top article a day) with `_days`, the run's days before theirs, and `_previous`,
    the article's views over them (null when none)."""
    days = daily.select("day").distinct()
    earlier = days.alias("d").join(days.alias("p"), F.col("p.day") < F.col("d.day"))
    previous_days = earlier.groupBy(F.col("d.day").alias("day")).agg(F.count(F.lit(1)).alias("_days"))
    # The day's top (TOP_N rows a day) is broadcast to the run's daily views, not shuffled with them.
    previous_sum = (
        F.broadcast(top.select("day", "title"))
        .alias("t")
        .join(daily.alias("v"), (F.col("v.title") == F.col("t.title")) & (F.col("v.day") < F.col("t.day")))
        .groupBy(F.col("t.day").alias("day"), F.col("t.title").alias("title"))
        .agg(F.sum("v.views").alias("_previous"))
    )
    return rows.join(previous_days, "day", "left").join(previous_sum, ["day", "title"], "left")


def most_unflagged(flagged: DataFrame) -> DataFrame:
    """`day`, `most_unflagged_title`, `most_unflagged_views`: the best-ranked top article without a flag
    (absent when all `TOP_N` are flagged)."""
    order = Window.partitionBy("day").orderBy("rank")
    clean = flagged.where(~F.col("suspicious")).withColumn("_rn", F.row_number().over(order))
    return clean.where(F.col("_rn") == 1).select(
        "day", F.col("title").alias("most_unflagged_title"), F.col("views").alias("most_unflagged_views")
    )
