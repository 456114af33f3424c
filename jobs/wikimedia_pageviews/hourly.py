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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

HOURLY_SCHEMA = "day date, hour string, mobile boolean, title string, views long"


def hour_of(uri: str) -> str:
    """`.../pageviews-20260302-010000.gz` -> `20260302-010000` (the file's hour, as named)."""
    name = uri.rsplit("/", 1)[-1]
    return name.removeprefix("pageviews-").split(".", 1)[0]


def read_by_hour(
    spark: SparkSession, by_day: dict[date, list[str]], codes: Sequence[str], titles: Iterable[str]
) -> DataFrame:
    """(`day`, `hour`, `mobile`, `title`, `views`) of the good lines of `codes` in the files whose
    raw title may normalise to one of `titles` (a superset: the caller joins on the normalised
    title); `codes` is (desktop, mobile) as `transform.wiki_codes` gives them."""
    wanted = json.dumps(sorted(set(titles)))
    frames = [
        spark.read.format("pageviews")
        .option("codes", ",".join(codes))
        .option("titles", wanted)
        .load(uris)
        .select(
            F.lit(day.isoformat()).cast("date").alias("day"),
            F.regexp_extract("file", r"pageviews-([0-9]{8}-[0-9]{6})", 1).alias("hour"),
            (F.col("code") == F.lit(codes[1])).alias("mobile"),
            "title",
            "views",
        )
        for day, uris in sorted(by_day.items())
        if uris
    ]
    if not frames:
        return spark.createDataFrame([], HOURLY_SCHEMA)
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result
