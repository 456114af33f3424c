"""The job's main: land the dumps, build the dimensions, aggregate the days, write the answers."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any, TypeVar

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

from common import ledger
from common.cli import settings_from_args
from common.schema import add_missing_columns
from common.settings import Settings
from common.spark import get_spark
from common.storage import DeltaReader, check_lake, lake_path
from common.tables import (
    WIKI_ARTICLES,
    WIKI_CATEGORY_MEMBERS,
    WIKI_DAILY_SUMMARY,
    WIKI_PAGEVIEWS_DAILY,
    WIKI_REDIRECTS,
    WIKI_TOP_ARTICLES,
    WIKI_TOP_CATEGORIES,
)
from jobs.wikimedia_pageviews import extract, gates, hourly, load, traffic, transform
from jobs.wikimedia_pageviews.dimensions import read_dimension, refresh_dimensions
from jobs.wikimedia_pageviews.extract import Landing
from jobs.wikimedia_pageviews.unchanged import LastRun

# The aggregation meets ~1M (day, title) groups per task. Spark's first-level "fast" hash map holds
# 65k entries: once full, every row probes it in vain before the main map (the stage is ~25% slower
# with it on). Off for this job only; small aggregations elsewhere keep it. No read buffer is set:
# the pageviews source buffers its own reads.
SESSION_CONF = {
    "spark.sql.codegen.aggregate.map.twolevel.enabled": "false",
}
# The driver JVM's own options for this job (local mode), for its CPU: on 2 cores, whatever the
# JVM spends beside the tasks is wall time. C2 compiles a method after 3x the default calls: the
# driver's planning code (Janino, the analyzer, Delta, Java serialisation) is warm for seconds,
# and C2 compiling it took ~22 s of compiler-thread CPU in a JFR profile of a run, while the
# tasks' loops run millions of times and still reach C2 (C1 alone, `short_job`, is slower here).
# ParallelGC instead of G1: no concurrent refinement or write barriers for a batch that only
# wants throughput. Measured together on bench/wikimedia_job.py's rerun, A/B alternating runs
# on one lake: median CPU 87 s against 94 s, wall 47 s against 51 s (9 and 6 runs on a shared,
# loaded machine; ParallelGC alone 92 s, the thresholds alone ~100 s).
JAVA_OPTIONS = (
    "-XX:Tier4InvocationThreshold=15000 -XX:Tier4MinInvocationThreshold=1800 -XX:Tier4CompileThreshold=45000"
    " -XX:+UseParallelGC"
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def tune_session(spark: SparkSession) -> None:
    """Apply SESSION_CONF (the job and its benchmark share it)."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)


class Stages:
    """Wall seconds per stage of one run, for the run's summary line (and its benchmark).

    Some stages run at the same time in threads (the dimensions beside the aggregation, Spark's
    start beside the landing), so the stages add up to more than the run's total.
    """

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            with ledger.stage(name):
                yield
        finally:
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started

    def summary(self) -> str:
        parts = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.seconds.items())
        return f"wikimedia_pageviews: {time.monotonic() - self.started:.2f}s in all: {parts}"


def _fingerprint(settings: Settings, landing: Landing, wiki: str, days: list[date]) -> dict[str, object]:
    """The run's inputs as the ledger records them: the dumps (URI and size) and the hourly files."""
    return {
        "dumps_url": settings.wikimedia_dumps_url,
        "wiki": wiki,
        "hourly_files": {day.isoformat(): landing.hours(day) for day in days},
        "missing_hourly_files": len(landing.missing),
        "sql_dumps": {t: [uri, landing.dump_sizes.get(t)] for t, uri in sorted(landing.dumps.items()) if uri},
    }


def _start_spark(settings: Settings, stages: Stages) -> SparkSession:
    with stages.stage("spark_start"):
        spark = get_spark(settings, "wikimedia_pageviews", java_options=JAVA_OPTIONS)
        tune_session(spark)
    return spark


def _wait_for(ready: threading.Event, work: Future[None]) -> None:
    """Until `ready` is set (also when `work` ends); a failure of `work` by then is raised here."""
    ready.wait()
    if work.done():
        work.result()


def _read_lookup(
    spark: SparkSession, settings: Settings, wiki: str, ready: threading.Event, dimensions: Future[None]
) -> tuple[DataFrame, DataFrame]:
    """The wiki's articles and redirects once `ready` (see `_wait_for`), persisted and counted."""
    _wait_for(ready, dimensions)
    frames = tuple(
        read_dimension(spark, settings, path, wiki).persist(StorageLevel.MEMORY_AND_DISK)
        for path in (WIKI_ARTICLES.path, WIKI_REDIRECTS.path)
    )
    for frame in frames:
        frame.count()
    return frames[0], frames[1]


def _timed(stages: Stages, name: str, work: Callable[..., T], *args: object) -> T:
    """`work(*args)` timed as the stage `name` (for work submitted to a thread)."""
    with stages.stage(name):
        return work(*args)


def _top_articles(
    spark: SparkSession, landing: Landing, wiki: str, daily: DataFrame, redirects: DataFrame
) -> DataFrame:
    """The top articles' signals and flags (jobs.wikimedia_pageviews.traffic), computed and cached
    (written with the other gold tables, after the audit; the summary's most requested unflagged
    article comes from them)."""
    top = traffic.top_articles(daily).cache()
    candidates = traffic.candidate_titles(redirects, top).cache()
    titles = [row["title"] for row in candidates.select("title").distinct().collect()]
    rows = hourly.read_by_hour(spark, landing.hourly, transform.wiki_codes(wiki), titles)
    # Cached: the signals read the hourly views twice (per hour, and mobile), and each read would
    # otherwise scan the day's files again.
    by_hour = traffic.hourly_views(rows, candidates).cache()
    flagged = traffic.signals(top, by_hour, daily).cache()
    flagged.count()
    return flagged


def main(args: argparse.Namespace) -> int:
    """Run the whole job for `args` (see cli.py); returns 0 or raises a PlatformError.

    What does not depend on each other runs at the same time: Spark starts while the files land;
    the dimensions are built while the hourly files are aggregated; the two small gold tables
    are written together. The run ends with one line of where its wall time went.
    A rerun of the same days on unchanged inputs and tables rewrites nothing (see `unchanged`).
    """
    stages = Stages()
    settings = settings_from_args(args)
    wiki: str = args.wiki
    days = [args.start_date + timedelta(days=i) for i in range(args.days)]
    check_lake(settings)

    last = LastRun(settings, wiki, days, args.main_page, args.sql_dump_date)
    with stages.stage("check_unchanged"):
        # Read before the landing (a first run does not wait for it): when the tables are as the
        # last run of these very days left them, Spark starts only if the landing changed.
        maybe_unchanged = not args.rebuild_dimensions and last.same_request()
    spark: SparkSession | None
    if maybe_unchanged:
        landing = _land(settings, args, days, stages)
        spark = None if last.same_inputs(landing) else _start_spark(settings, stages)
    else:
        with ThreadPoolExecutor(1, thread_name_prefix="spark-start") as starter:
            starting = starter.submit(_start_spark, settings, stages)
            landing = _land(settings, args, days, stages)
            spark = starting.result()
    ledger.record_input("wikimedia", _fingerprint(settings, landing, wiki, days))
    for day in days:
        log.info(
            "%s: %d hourly files%s",
            day,
            landing.hours(day),
            "" if landing.hours(day) == 24 else " (incomplete)",
        )
    if spark is None:
        since = last.previous.run_id if last.previous else None
        ledger.record_input("unchanged_since", since)
        log.info(
            "%s: the hourly files, SQL dumps and code are those run %s computed the tables from, and "
            "no table changed since: nothing rewritten, Spark not started (--rebuild-dimensions recomputes)",
            wiki,
            since or "(outside the ledger)",
        )
        answers = _stored_answers(settings, wiki, days)
    else:
        answers = _compute(spark, settings, args, days, landing, stages)
        run = ledger.current()
        last.record(landing, run.run_id if run else None)
    for row in answers:
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
    log.info("%s", stages.summary())
    return 0


def _land(settings: Settings, args: argparse.Namespace, days: list[date], stages: Stages) -> Landing:
    with stages.stage("land"):
        return extract.land(settings, args.wiki, days, args.sql_dump_date, workers=args.download_workers)


def _stored_answers(settings: Settings, wiki: str, days: list[date]) -> list[dict[str, Any]]:
    """The days' summary rows as the tables hold them (read with delta-rs: no Spark)."""
    wanted = set(days)
    rows = DeltaReader(settings).rows_where(WIKI_DAILY_SUMMARY, "wiki", wiki)
    return sorted((row for row in rows if row["day"] in wanted), key=lambda row: row["day"])


def _compute(  # noqa: PLR0917 - the run's context, passed explicitly
    spark: SparkSession,
    settings: Settings,
    args: argparse.Namespace,
    days: list[date],
    landing: Landing,
    stages: Stages,
) -> list[dict[str, Any]]:
    """Build the dimensions, aggregate the days and write the answers; returns the summary rows."""
    wiki: str = args.wiki
    codes = transform.wiki_codes(wiki)
    articles_ready = threading.Event()
    side = ThreadPoolExecutor(1, thread_name_prefix="dimensions")
    dimensions = side.submit(
        refresh_dimensions,
        spark,
        settings,
        landing,
        wiki,
        force=args.rebuild_dimensions,
        stage=stages.stage,
        articles_ready=articles_ready,
    )
    side.shutdown(wait=False)
    dimensions.add_done_callback(lambda _: articles_ready.set())

    # The articles and redirects are read from the lake (and cached) while the files are being
    # aggregated: reading a Delta table costs its log's replay, seconds that need not wait.
    reading = ThreadPoolExecutor(1, thread_name_prefix="lookup")
    lookup = reading.submit(_read_lookup, spark, settings, wiki, articles_ready, dimensions)
    reading.shutdown(wait=False)
    with stages.stage("aggregate"):
        aggregated = transform.daily_title_views(extract.read_hourly(spark, landing.hourly, codes)).persist(
            StorageLevel.MEMORY_AND_DISK
        )
    try:
        with stages.stage("aggregate"):
            bad = {row["day"]: row["bad_lines"] for row in transform.bad_line_counts(aggregated).collect()}
        log.info("aggregated the hourly files in %.1fs", stages.seconds["aggregate"])
        with stages.stage("wait_for_articles"):
            articles, redirects = lookup.result()
        for day in days:
            if bad.get(day):
                log.warning("%s: %d lines did not parse and were skipped", day, bad[day])
        log.info("lines that did not parse: %d in all", sum(bad.values()))
        # The day's views per article, persisted once: the silver write, the day answers and the
        # signals all read them (a few hundred thousand rows a day, not the raw titles' millions).
        with stages.stage("resolve"):
            daily = transform.resolve_views(aggregated, articles, redirects, args.main_page).persist(
                StorageLevel.MEMORY_AND_DISK
            )
            daily.count()
    finally:
        aggregated.unpersist()
    # Three things need only the day's views: the silver write, the signals (a second, filtered
    # scan of the hourly files; they need the redirects too) and the audit. The first two run in
    # threads beside the audit (their Delta commits and scans overlap its small jobs); the gold
    # tables, the signals' among them, are written only once all three are done.
    background = ThreadPoolExecutor(2, thread_name_prefix="day")
    silver = background.submit(
        _timed,
        stages,
        "write_pageviews_daily",
        load.replace,
        daily.select(F.lit(wiki).alias("wiki"), "day", "title", "views"),
        lake_path(settings, WIKI_PAGEVIEWS_DAILY.path),
        load.days_predicate(wiki, days),
        WIKI_PAGEVIEWS_DAILY.partition_by,
    )
    signals = background.submit(
        _timed, stages, "top_articles", _top_articles, spark, landing, wiki, daily, redirects
    )
    background.shutdown(wait=False)
    try:
        with stages.stage("wait_for_dimensions"):
            dimensions.result()
        members = read_dimension(spark, settings, WIKI_CATEGORY_MEMBERS.path, wiki)
        hours = spark.createDataFrame([(day, landing.hours(day)) for day in days], "day date, hours int")
        summary = transform.daily_summary(daily, hours, wiki)
        top = transform.top_categories(daily, members, wiki)
        # Write-audit-publish: no gold table is written unless the day answers pass the gates. The
        # answers (a row per day, five per day) are cached: each gate, the writes and the report
        # would otherwise rank the day's articles again.
        with stages.stage("audit"):
            summary = gates.plant(settings.quality_fault, summary).cache()
            top = top.cache()
            gates.audit(summary, top, members)
        with stages.stage("wait_for_day_work"):
            silver.result()
            flagged = signals.result()
    except BaseException:
        # Nothing is published; the threads' work ends before the run does (no Spark job of this
        # run outlives it, also when the job runs inside a caller's session).
        running: list[Future[Any]] = [silver, signals]
        wait(running)
        raise
    summary = summary.join(traffic.most_unflagged(flagged), "day", "left")
    add_missing_columns(spark, lake_path(settings, WIKI_DAILY_SUMMARY.path), summary.schema)
    gold = {
        WIKI_DAILY_SUMMARY.path: summary,
        WIKI_TOP_CATEGORIES.path: top,
        WIKI_TOP_ARTICLES.path: flagged.select(F.lit(wiki).alias("wiki"), "*"),
    }

    def write_gold(path: str) -> None:
        with stages.stage(f"write_{path.rsplit('/', 1)[-1]}"):
            load.replace(gold[path], lake_path(settings, path), load.days_predicate(wiki, days))

    with ThreadPoolExecutor(len(gold), thread_name_prefix="gold") as pool:
        list(pool.map(write_gold, gold))
    with stages.stage("report"):
        return [row.asDict() for row in summary.orderBy("day").collect()]
