"""The job's main: land the dumps, build the dimensions, aggregate the days, write the answers."""

from __future__ import annotations

import argparse
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

from common.cli import settings_from_args
from common.errors import SourceError
from common.settings import Settings
from common.spark import get_spark
from common.storage import RawStore, check_lake, is_delta, lake_path
from common.tables import (
    WIKI_ARTICLES,
    WIKI_CATEGORY_MEMBERS,
    WIKI_DAILY_SUMMARY,
    WIKI_PAGEVIEWS_DAILY,
    WIKI_REDIRECTS,
    WIKI_TOP_CATEGORIES,
)
from jobs.wikimedia_pageviews import extract, load, transform
from jobs.wikimedia_pageviews.extract import Landing

# The aggregation meets ~1M (day, title) groups per task. Spark's first-level "fast" hash map holds
# 65k entries: once full, every row probes it in vain before the main map (profiled: ~15% of the
# stage; still ~25% slower with it on after the pageviews source came). Off for this job only;
# small aggregations elsewhere keep it. (A 1 MB `io.file.buffer.size` helped the text source; the
# pageviews source buffers its own reads, and it measured no different there, so it is gone.)
SESSION_CONF = {
    "spark.sql.codegen.aggregate.map.twolevel.enabled": "false",
}
# Part of the dimensions' fingerprint: bump it when the dump parsing or the dimension rules change.
DIMENSIONS_VERSION = 1

log = logging.getLogger(__name__)


def tune_session(spark: SparkSession) -> None:
    """Apply SESSION_CONF (the job and its benchmark share it)."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)


DUMP_SCHEMAS: dict[str, StructType] = {
    "page": StructType(
        [
            StructField("page_id", LongType()),
            StructField("page_namespace", IntegerType()),
            StructField("page_title", StringType()),
            StructField("page_is_redirect", IntegerType()),
        ]
    ),
    "redirect": StructType(
        [
            StructField("rd_from", LongType()),
            StructField("rd_namespace", IntegerType()),
            StructField("rd_title", StringType()),
            StructField("rd_interwiki", StringType()),
        ]
    ),
    "categorylinks": StructType(
        [
            StructField("cl_from", LongType()),
            StructField("cl_to", StringType()),
            StructField("cl_target_id", LongType()),
            StructField("cl_type", StringType()),
        ]
    ),
    "linktarget": StructType(
        [
            StructField("lt_id", LongType()),
            StructField("lt_namespace", IntegerType()),
            StructField("lt_title", StringType()),
        ]
    ),
    "page_props": StructType([StructField("pp_page", LongType()), StructField("pp_propname", StringType())]),
}
# Rows dropped inside the parsing task, so only what the answers need is ever shuffled or cached.
DUMP_KEEP: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "page": ("page_namespace", (0, transform.CATEGORY_NAMESPACE)),
    "categorylinks": ("cl_type", ("page",)),
    "linktarget": ("lt_namespace", (transform.CATEGORY_NAMESPACE,)),
    "page_props": ("pp_propname", ("hiddencat",)),
}


def build_dimensions(spark: SparkSession, settings: Settings, landing: Landing, wiki: str) -> None:
    """Parse the SQL dumps (one Spark task per dump, in parallel) and replace the wiki's dimensions."""
    s3 = extract.s3_options(settings)
    links_uri = landing.dumps["categorylinks"]
    if links_uri is None:
        raise SourceError("the categorylinks dump is missing")
    layout = transform.categorylinks_layout(extract.read_header(links_uri, s3).columns)
    log.info("categorylinks layout: %s", layout)
    tables = ["page", "redirect", "categorylinks", "page_props"]
    if layout == "normalised":
        tables.append("linktarget")
    frames: dict[str, DataFrame] = {}
    for table in tables:
        uri = landing.dumps[table]
        if uri is None:
            raise SourceError(f"the {table} dump is missing (needed with the {layout} categorylinks layout)")
        frame = extract.read_dump(spark, uri, DUMP_SCHEMAS[table], DUMP_KEEP.get(table))
        frames[table] = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        started = time.monotonic()
        with extract.dump_errors(), ThreadPoolExecutor(len(frames), thread_name_prefix="dump") as pool:
            counts = dict(zip(frames, pool.map(lambda df: df.count(), frames.values()), strict=True))
        log.info("parsed the SQL dumps in %.1fs, rows kept: %s", time.monotonic() - started, counts)
        articles = transform.build_articles(frames["page"])
        redirects = transform.build_redirects(frames["page"], frames["redirect"], articles)
        members = transform.build_category_members(
            frames["categorylinks"],
            linktarget=frames.get("linktarget"),
            layout=layout,
            articles=articles,
            page=frames["page"],
            page_props=frames["page_props"],
        )
        dimensions = {WIKI_ARTICLES.path: articles, WIKI_REDIRECTS.path: redirects}
        dimensions[WIKI_CATEGORY_MEMBERS.path] = members
        for path, df in dimensions.items():
            with_wiki = df.select(F.lit(wiki).alias("wiki"), "*")
            load.replace(with_wiki, lake_path(settings, path), load.wiki_predicate(wiki))
    finally:
        for frame in frames.values():
            frame.unpersist()


def refresh_dimensions(
    spark: SparkSession, settings: Settings, landing: Landing, wiki: str, *, force: bool = False
) -> None:
    """Build the dimensions unless they were built from these very dumps (same URIs and sizes).

    Parsing the real dumps takes minutes per table; reprocessing a day should not pay it again.
    The marker is written only after all three tables committed, so a failed build reruns.
    """
    store = RawStore(settings, "raw", "wikimedia")
    marker = f"state/{wiki}-dimensions.json"
    fingerprint = landing.dumps_fingerprint(DIMENSIONS_VERSION)
    paths = [lake_path(settings, t.path) for t in (WIKI_ARTICLES, WIKI_REDIRECTS, WIKI_CATEGORY_MEMBERS)]
    built = all(is_delta(spark, path) for path in paths)
    if not force and built and store.read_text(marker) == fingerprint:
        log.info("SQL dumps unchanged since the %s dimensions were built: kept", wiki)
        return
    build_dimensions(spark, settings, landing, wiki)
    store.write_text(marker, fingerprint)


def _dimension(spark: SparkSession, settings: Settings, path: str, wiki: str) -> DataFrame:
    return (
        spark.read.format("delta").load(lake_path(settings, path)).where(F.col("wiki") == wiki).drop("wiki")
    )


def main(args: argparse.Namespace) -> int:
    """Run the whole job for `args` (see cli.py); returns 0 or raises a PlatformError."""
    settings = settings_from_args(args)
    wiki: str = args.wiki
    codes = transform.wiki_codes(wiki)
    days = [args.start_date + timedelta(days=i) for i in range(args.days)]
    check_lake(settings)

    landing = extract.land(settings, wiki, days, args.sql_dump_date, workers=args.download_workers)
    for day in days:
        log.info(
            "%s: %d hourly files%s",
            day,
            landing.hours(day),
            "" if landing.hours(day) == 24 else " (incomplete)",
        )

    spark = get_spark(settings, "wikimedia_pageviews")
    tune_session(spark)
    refresh_dimensions(spark, settings, landing, wiki, force=args.rebuild_dimensions)
    articles = _dimension(spark, settings, WIKI_ARTICLES.path, wiki)
    redirects = _dimension(spark, settings, WIKI_REDIRECTS.path, wiki)
    members = _dimension(spark, settings, WIKI_CATEGORY_MEMBERS.path, wiki)

    started = time.monotonic()
    aggregated = transform.daily_title_views(extract.read_hourly(spark, landing.hourly, codes)).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        bad = {row["day"]: row["bad_lines"] for row in transform.bad_line_counts(aggregated).collect()}
        log.info("aggregated the hourly files in %.1fs", time.monotonic() - started)
        for day in days:
            if bad.get(day):
                log.warning("%s: %d lines did not parse and were skipped", day, bad[day])
        log.info("lines that did not parse: %d in all", sum(bad.values()))
        views = transform.resolve_views(aggregated, articles, redirects, args.main_page)
        silver_uri = lake_path(settings, WIKI_PAGEVIEWS_DAILY.path)
        load.replace(
            views.select(F.lit(wiki).alias("wiki"), "day", "title", "views"),
            silver_uri,
            load.days_predicate(wiki, days),
            partition_by=WIKI_PAGEVIEWS_DAILY.partition_by,
        )
    finally:
        aggregated.unpersist()

    daily = (
        spark.read.format("delta")
        .load(silver_uri)
        .where((F.col("wiki") == wiki) & F.col("day").between(min(days), max(days)))
        .select("day", "title", "views")
    )
    hours = spark.createDataFrame([(day, landing.hours(day)) for day in days], "day date, hours int")
    summary = transform.daily_summary(daily, hours, wiki)
    top = transform.top_categories(daily, members, wiki)
    load.replace(summary, lake_path(settings, WIKI_DAILY_SUMMARY.path), load.days_predicate(wiki, days))
    load.replace(top, lake_path(settings, WIKI_TOP_CATEGORIES.path), load.days_predicate(wiki, days))
    for row in summary.orderBy("day").collect():
        log.info(
            "%s %s: hours=%d most=%s (%s) least=%s (%s, ties %s)",
            wiki,
            row["day"],
            row["hours"],
            row["most_title"],
            row["most_views"],
            row["least_title"],
            row["least_views"],
            row["least_ties"],
        )
    return 0
