"""The second read of the hourly files, for the top articles' signals: views per hour and code.

The main aggregation sums a day's files together and both codes together (its speed comes from
that). The signals of `traffic` need the hour and whether a view is mobile, so each file is read
once per domain code, tagged with its hour and code. Costs about two more decompressions of the
day's files; the rows are cut to the top articles' titles right after the scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias


def hour_of(uri: str) -> str:
    """`.../pageviews-20260302-010000.gz` -> `20260302-010000` (the file's hour, as named)."""
    name = uri.rsplit("/", 1)[-1]
    return name.removeprefix("pageviews-").split(".", 1)[0]


def read_by_hour(spark: SparkSession, by_day: dict[date, list[str]], codes: Sequence[str]) -> DataFrame:
    """(`day`, `hour`, `mobile`, `title`, `views`) of every line of `codes` in the files; `codes`
    is (desktop, mobile) as `transform.wiki_codes` gives them."""
    frames = [
        spark.read.format("pageviews")
        .option("codes", code)
        .load(uri)
        .select(
            F.lit(day.isoformat()).cast("date").alias("day"),
            F.lit(hour_of(uri)).alias("hour"),
            F.lit(code == codes[1]).alias("mobile"),
            "title",
            "views",
        )
        for day, uris in sorted(by_day.items())
        for uri in uris
        for code in codes
    ]
    if not frames:
        return spark.createDataFrame([], "day date, hour string, mobile boolean, title string, views long")
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result
