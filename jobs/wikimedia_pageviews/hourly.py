"""The second look at the hourly files, for the top articles' signals: views per hour and code.

The main aggregation sums a day's files together and both codes together (its speed comes from
that). The signals of `traffic` need the hour and whether a view is mobile, but only for the few
titles that resolve to a top article. So the day's files are read once more by the `pageviews`
source with its `titles` filter: the lines are still decompressed and scanned, but only those of
the wanted titles become rows, each with its code and file (measured in bench/wikimedia_job.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

from jobs.wikimedia_pageviews.extract import scan_pageviews


def read_by_hour(
    spark: SparkSession, by_day: dict[date, list[str]], codes: Sequence[str], titles: Iterable[str]
) -> DataFrame:
    """(`day`, `hour`, `mobile`, `title`, `views`) of the good lines of `codes` in the files whose
    raw title may normalise to one of `titles` (a superset: the caller joins on the normalised
    title); `codes` is (desktop, mobile) as `transform.wiki_codes` gives them."""
    columns: list[Column | str] = [
        F.regexp_extract("file", r"pageviews-([0-9]{8}-[0-9]{6})", 1).alias("hour"),
        (F.col("code") == F.lit(codes[1])).alias("mobile"),
        "title",
        "views",
    ]
    empty = "day date, hour string, mobile boolean, title string, views long"
    return scan_pageviews(spark, by_day, codes, columns, empty, titles=json.dumps(sorted(set(titles))))
