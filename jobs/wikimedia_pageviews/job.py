"""The job: land the dumps, build the dimensions, aggregate the days, audit and publish the answers.

`main` reads top-down as extract (`_extract`) -> transform (`_daily_views`) -> audit (`_audit`)
-> publish (`_publish`) over the run's `common.runner.JobRun`. What does not depend on each other
runs side by side (measured): Spark starts while the files land; the dimensions are built as
soon as the SQL dumps have landed, and the hourly files are read in batches as they land; the
silver write and the traffic signals run beside the audit; the gold tables are written together.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import date
from functools import partial
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

from common.cli import settings_from_args
from common.delta import Written, replace_where
from common.errors import SourceError
from common.runner import JobRun
from common.schema import add_missing_columns, local_frame, struct
from common.settings import Settings
from common.spark import SessionOptions
from common.storage import Lake
from common.tables import (
    WIKI_ARTICLES,
    WIKI_CATEGORY_MEMBERS,
    WIKI_DAILY_SUMMARY,
    WIKI_PAGEVIEWS_DAILY,
    WIKI_REDIRECTS,
    WIKI_TOP_ARTICLES,
    WIKI_TOP_CATEGORIES,
    Table,
)
from jobs.wikimedia_pageviews import extract, gates, traffic, transform
from jobs.wikimedia_pageviews.cli import Request
from jobs.wikimedia_pageviews.dimensions import DIMENSIONS, refresh_dimensions
from jobs.wikimedia_pageviews.extract import Dumps, Landing
from jobs.wikimedia_pageviews.load import days_predicate, write_stage
from jobs.wikimedia_pageviews.unchanged import TABLES, LastRun

NAME = "wikimedia_pageviews"

# The aggregation meets ~1M (day, title) groups per task. Spark's first-level "fast" hash map holds
# 65k entries: once full, every row probes it in vain before the main map (the stage is ~25% slower
# with it on). Off for this job only; small aggregations elsewhere keep it. The run's caches (the
# read's ~2M rows a real-size day, their resolved rows, the day's views) are built uncompressed:
# trying each column encoding on every batch cost the aggregation stage ~3.5 s of its 15-20 s at
# real size (alternating runs: 15.6 and 16.1 s against 19.1 and 21.2 s), for ~10% more memory
# (the read's cache of 23 real-size hours: 71 MB against 64 MB; its titles hardly compress).
# No read buffer is set: the pageviews source buffers its own reads.
SESSION_CONF = {
    "spark.sql.codegen.aggregate.map.twolevel.enabled": "false",
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}
# The driver JVM's own options for this job (local mode), for its CPU: on 2 cores, whatever the
# JVM spends beside the tasks is wall time. C1 only (`short_job`, which also shuffles into one
# partition per core): libdeflate inflates the files in native code, so C2 would speed up only the
# reader's loop, and C2 compiling the planning code of the ~30 queries after the aggregation
# (Janino, the analyzer, Delta, serialisation) cost more than it saved. On the real-size day
# (alternating single runs): C1 only 40.8-42.4 s and 74-77 s of CPU, against 43.5-46.5 s and 84 s
# with C2 (47-55 s with C2 kept for the source's classes by a compiler directive). ParallelGC
# instead of G1: no concurrent refinement or write barriers for a batch that only wants throughput.
SESSION_OPTIONS: SessionOptions = {"short_job": True, "java_options": "-XX:+UseParallelGC"}

REREADS = 2  # downloads of hourly files whose read failed, before the run ends
BATCH_HOURS = 8  # the fewest landed hourly files a read takes while the landing goes on (a third of a day)

log = logging.getLogger(__name__)


def tune_session(spark: SparkSession) -> None:
    """Apply SESSION_CONF (the job and its benchmark share it)."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)


def main(args: argparse.Namespace, job: JobRun | None = None) -> int:
    """Run the whole job for `args` (see cli.py) over `job`; returns 0 or raises a PlatformError.

    Without `job` (tests calling it in-process, in their own session) the run is recorded nowhere.
    A rerun of the same days on unchanged inputs and tables rewrites nothing (see `unchanged`).
    The run ends with one line of where its wall time went.
    """
    if job is None:
        with contextlib.closing(JobRun(NAME, settings_from_args(args))) as own:
            return main(args, own)
    started = time.monotonic()
    request = Request.from_args(args)
    job.use_spark(**SESSION_OPTIONS)
    job.lake.check()
    request = _repaired(job, request)
    last = LastRun(job, request)
    landing, reads, dimensions = _extract(job, request, last)
    if reads is None or dimensions is None:
        answers = _unchanged_answers(job, request, last)
    else:
        answers = _compute(job, request, landing, reads, dimensions)
        last.record(landing)
    _log_answers(request.wiki, answers)
    log.info("%s: %.2fs in all: %s", NAME, time.monotonic() - started, job.record.stages.line())
    return 0


# --- extract ----------------------------------------------------------------------------------


def _repaired(job: JobRun, request: Request) -> Request:
    """The request after repairing the job's tables that lost data files: the days are then
    recomputed (a repair moves the tables' versions), and the dimensions rebuilt from the dumps
    when one of them lost rows."""
    broken = job.unreadable(list(TABLES))
    job.repair(broken)
    if set(broken) & set(DIMENSIONS):
        return replace(request, rebuild_dimensions=True)
    return request


def _extract(
    job: JobRun, request: Request, last: LastRun
) -> tuple[Landing, HourlyReads, Dimensions] | tuple[Landing, None, None]:
    """Land the files, Spark starting beside the landing, the dimensions built as soon as the SQL
    dumps have landed (`Dimensions`) and the hourly files read in batches as they land
    (`HourlyReads`); no Spark (None) when the tables are those the last run computed from these
    very inputs."""
    with job.stage("check_unchanged"):
        # Read before the landing (a first run does not wait for it): when the tables are as the
        # last run of these very days left them, Spark starts only if the landing changed.
        maybe_unchanged = not request.rebuild_dimensions and last.same_request()
    reads = dimensions = None
    if not maybe_unchanged:
        job.start_spark()
        reads = HourlyReads(job, request)
        dimensions = Dimensions(job, request, after=reads.started)
    with job.stage("land"), reads or contextlib.nullcontext(), dimensions or contextlib.nullcontext():
        landing = extract.land(
            job.settings,
            request.wiki,
            request.days,
            request.sql_dump_date,
            workers=request.download_workers,
            on_hour=reads.add if reads else None,
            on_dumps=dimensions.start if dimensions else None,
        )
    job.record_input("wikimedia", _fingerprint(job.settings, landing, request.wiki, request.days))
    for day in request.days:
        incomplete = "" if landing.hours(day) == 24 else " (incomplete)"
        log.info("%s: %d hourly files%s", day, landing.hours(day), incomplete)
    if maybe_unchanged and last.same_inputs(landing):
        return landing, None, None
    tune_session(job.session())
    if reads is None:  # Spark was not started beside the landing: the files are read from now
        with HourlyReads(job, request) as reads:
            for day, hours in sorted(landing.hourly.items()):
                for hour, uri in hours.items():
                    reads.add(day, hour, uri)
    return landing, reads, dimensions or Dimensions(job, request, after=reads.started)


def _fingerprint(
    settings: Settings, landing: Landing, wiki: str, days: tuple[date, ...]
) -> dict[str, object]:
    """The run's inputs as the ledger records them: the dumps (URI and size) and the hourly files."""
    return {
        "dumps_url": settings.wikimedia_dumps_url,
        "wiki": wiki,
        "hourly_files": {day.isoformat(): landing.hours(day) for day in days},
        "missing_hourly_files": len(landing.missing),
        "sql_dumps": landing.dumps.listed(),
    }


def _unchanged_answers(job: JobRun, request: Request, last: LastRun) -> list[dict[str, Any]]:
    """The days' summary rows as the tables hold them (read with delta-rs: no Spark)."""
    since = last.previous.run_id if last.previous else None
    job.record_input("unchanged_since", since)
    log.info(
        "%s: the hourly files, SQL dumps and code are those run %s computed the tables from, and "
        "no table changed since: nothing rewritten, Spark not started (--rebuild-dimensions recomputes)",
        request.wiki,
        since or "(outside the ledger)",
    )
    wanted = set(request.days)
    rows = job.lake.reader.rows_where(WIKI_DAILY_SUMMARY, "wiki", request.wiki)
    return sorted((row for row in rows if row["day"] in wanted), key=lambda row: row["day"])


# --- transform, audit, publish ----------------------------------------------------------------


def _compute(
    job: JobRun, request: Request, landing: Landing, reads: HourlyReads, dimensions: Dimensions
) -> list[dict[str, Any]]:
    """Aggregate the days beside the dimensions' build, audit and write the answers; the summary
    rows.

    The silver write and the signals (from the one read's rows, no file read again) run beside
    the audit: their Delta commits overlap its small jobs; the gold tables, the signals' among
    them, are written only once all three are done and the dimensions have committed.
    """
    built = dimensions.built(landing.dumps)
    with job.joined(built, reads.reading):
        resolved, daily = _daily_views(job, request, reads, dimensions.ready)
        silver = job.beside("write_pageviews_daily", partial(_write_silver, job.lake, daily, request))
        signals = job.beside("top_articles", partial(_top_articles, job, resolved, daily, request.days))
        with job.joined(silver, signals):
            members = dimensions.ready[WIKI_CATEGORY_MEMBERS]
            summary, top = _audit(job, daily.sparkSession, request, landing, daily, members=members)
            with job.stage("wait_for_day_work"):
                silver.result()
                flagged = signals.result()
        with job.stage("wait_for_dimensions"):  # no answer is published unless they are written
            built.result()
    return _publish(job, request, summary, top, flagged)


class Dimensions:
    """The dimensions' build (`refresh_dimensions`) beside the rest of the run, started as soon as
    the SQL dumps have landed (hourly files may still be landing: on a first run the build is
    the longest work). Each table's rows are cached and handed to the run (`ready`) before it is
    written, so the resolve and the audit need not wait for three Delta commits and a read back.
    Its Spark work waits for the hourly files' first read (`after`): Spark runs jobs first come,
    first served, and the read is the longest work when the files are there (measured: ~1-4 s
    slower on the real-size day when the dumps' parsing took the cores first). Used as a context
    around the landing: after a failed landing a build started does no Spark work, and is waited
    for (none outlives the run).
    """

    def __init__(self, job: JobRun, request: Request, after: threading.Event) -> None:
        self.job, self.request, self.after = job, request, after
        self.ready: dict[Table, Future[DataFrame]] = {table: Future() for table in DIMENSIONS}
        self._built: Future[None] | None = None
        self._lock = threading.Lock()
        self._abandoned = False

    def __enter__(self) -> Dimensions:
        return self

    def __exit__(self, failed: type[BaseException] | None, *_: object) -> None:
        if failed is not None:
            self._abandoned = True
            self.after.set()  # a build waiting for the first read wakes to see it abandoned
            if self._built is not None:
                wait([self._built])

    def start(self, dumps: Dumps) -> None:
        """Start the build from `dumps` (the landing calls it; once, later calls do nothing)."""
        with self._lock:
            if self._built is None:
                self._built = self.job.beside("dimensions", partial(self._build, dumps))
                self._built.add_done_callback(self._failed)

    def built(self, dumps: Dumps) -> Future[None]:
        """The build, started now from `dumps` if the landing did not start it."""
        self.start(dumps)
        assert self._built is not None
        return self._built

    def _build(self, dumps: Dumps) -> None:
        self.after.wait()
        if self._abandoned:
            return
        spark = self.job.session(timed=False)  # the job's own wait for it is timed
        tune_session(spark)
        refresh_dimensions(
            self.job,
            spark,
            dumps,
            self.request.wiki,
            force=self.request.rebuild_dimensions,
            on_dimension=self._cache,
        )

    def _cache(self, table: Table, rows: DataFrame) -> None:
        """A dimension's rows persisted and counted for the run (before the dimensions are
        written: their writes then read the cache), then handed to the run (`ready`)."""
        cached = self.job.persist(rows, StorageLevel.MEMORY_AND_DISK)
        cached.count()
        self.ready[table].set_result(cached)

    def _failed(self, built: Future[None]) -> None:
        """Ends the dimension frames not handed yet with the build's error, if it failed."""
        error = built.exception()
        for future in self.ready.values():
            if error is not None and not future.done():
                future.set_exception(error)


def _daily_views(
    job: JobRun, request: Request, reads: HourlyReads, ready: dict[Table, Future[DataFrame]]
) -> tuple[DataFrame, DataFrame]:
    """The one read's per-title rows resolved to their articles (`transform.resolve_titles`,
    hourly and mobile views kept for the signals) and the days' views per article (redirects
    resolved, main page out), both persisted: the silver write, the day answers and the signals
    read them (a few hundred thousand rows a day, not the raw titles' millions)."""
    sums, bad = reads.result()
    log.info("aggregated the hourly files in %.1fs (%d reads)", job.stages["aggregate"], reads.batches)
    with job.stage("wait_for_articles"):
        articles, redirects = ready[WIKI_ARTICLES].result(), ready[WIKI_REDIRECTS].result()
    for day in request.days:
        if bad.get(day):
            log.warning("%s: %d lines did not parse and were skipped", day, bad[day])
    log.info("lines that did not parse: %d in all", sum(bad.values()))
    with job.stage("resolve"):
        resolved = transform.resolve_titles(sums, articles, redirects, request.main_page)
        resolved = job.persist(resolved, StorageLevel.MEMORY_AND_DISK)
        daily = job.persist(transform.article_views(resolved), StorageLevel.MEMORY_AND_DISK)
        daily.count()
    return resolved, daily


class HourlyReads:
    """The one read of the hourly files, in batches of what has landed, while the rest land.

    As soon as Spark is up, and again each time a batch is read, the files landed meanwhile are
    read as the next batch (at least BATCH_HOURS of them while the landing goes on): reading
    overlaps the downloads, and each file is read once. A batch's rows are per raw title and
    task (`extract.sum_hourly`, each file's views under its hour of the day), summed per day and
    title downstream: a title read in n batches is n times the rows to resolve after the
    landing, hence batches of a third of a day at least. (Merging a day's batches while files
    still land, a shuffle that joins their hours' text, measured slower than resolving the
    rows: ~20 s a merge at real size.) Where the files land before Spark is up (a fast network,
    or files landed before), a day is one read. Used as a context around the landing: the
    landing is over when it ends, and a failed landing ends the reads (none outlives the run).
    """

    def __init__(self, job: JobRun, request: Request) -> None:
        self.job, self.request = job, request
        self.batches = 0
        self.started = threading.Event()  # set once the first read is under way, or none will be
        self._landed: dict[date, dict[int, str]] = {}
        self._changed = threading.Condition()
        self._over = self._failed = False
        self.reading: Future[list[tuple[DataFrame, dict[date, int]]]] = Future()

    def __enter__(self) -> HourlyReads:
        pool = ThreadPoolExecutor(1, thread_name_prefix=f"{NAME}-reads")
        self.reading = pool.submit(self._read_batches)
        pool.shutdown(wait=False)
        return self

    def __exit__(self, failed: type[BaseException] | None, *_: object) -> None:
        with self._changed:
            self._over, self._failed = True, failed is not None
            self._changed.notify_all()
        if failed is not None:
            wait([self.reading])

    def add(self, day: date, hour: int, uri: str | None) -> None:
        """Called by the landing as each hourly file lands (None: it answered 404)."""
        if uri is not None:
            with self._changed:
                self._landed.setdefault(day, {})[hour] = uri
                self._changed.notify_all()

    def _read_batches(self) -> list[tuple[DataFrame, dict[date, int]]]:
        try:
            return self._read_each_batch()
        finally:
            self.started.set()

    def _read_each_batch(self) -> list[tuple[DataFrame, dict[date, int]]]:
        parts = []
        while self._files_to_read():
            spark = self.job.session(timed=False)  # files landing while Spark starts join the batch
            tune_session(spark)
            batch, landing = self._take()
            self.batches += 1
            files = sum(map(len, batch.values()))
            log.info("read %d: %d hourly files%s", self.batches, files, ", more landing" if landing else "")
            self.started.set()
            with self.job.stage("aggregate"):
                parts.append(_sum_hourly(self.job, spark, self.request, batch))
        return parts

    def _files_to_read(self) -> bool:
        """Waits for BATCH_HOURS landed files not read yet (any, once the landing is over); False
        when none is left, or the landing failed."""
        with self._changed:
            self._changed.wait_for(lambda: self._over or sum(map(len, self._landed.values())) >= BATCH_HOURS)
            return not self._failed and bool(self._landed)

    def _take(self) -> tuple[dict[date, dict[int, str]], bool]:
        """The files landed and not read yet, by day and hour; whether more are landing."""
        with self._changed:
            batch, self._landed = self._landed, {}
            landing = not self._over
        return {day: dict(sorted(hours.items())) for day, hours in sorted(batch.items())}, landing

    def result(self) -> tuple[DataFrame, dict[date, int]]:
        """Every batch's sums as one frame, and each day's bad lines (once the landing is over)."""
        with self.job.stage("wait_for_aggregate"):
            parts = self.reading.result()
        if not parts:
            with self.job.stage("aggregate"):
                return _sum_hourly(self.job, self.job.session(), self.request, {})
        sums = functools.reduce(DataFrame.unionByName, [frame for frame, _ in parts])
        bad: Counter[date] = Counter()
        for _, counts in parts:
            bad.update(counts)
        return sums, dict(bad)


def sums_level(day: date, days: tuple[date, ...]) -> StorageLevel:
    """Where a day's read rows are kept: on disk, unless it is the run's last day.

    A day's rows (~200 MB cached at real size) held in the heap while the next day is read took
    the room of the readers' per-title tables: a week fell into back-to-back full GCs on the
    default 2g driver, where a day ran fine (the tables now take Spark's execution memory, which
    evicts such a cache, but writing it out then is work a week need not do). The last day stays
    in memory: no read follows it, and on disk a day's run measured ~2 s slower.
    """
    return StorageLevel.MEMORY_AND_DISK if day == max(days) else StorageLevel.DISK_ONLY


def _sum_hourly(
    job: JobRun, spark: SparkSession, request: Request, by_day: dict[date, dict[int, str]]
) -> tuple[DataFrame, dict[date, int]]:
    """The one read of the hourly files of `by_day` (each day's rows persisted, `sums_level`) and
    each day's bad lines.

    A landed file whose gzip fails in the read (cut short, or a CRC that does not match: the
    landing checks sizes only) is downloaded again, verified whole, and the read made again, at
    most `REREADS` times; then the run ends naming the file. Nothing is written before this.
    """
    codes = transform.wiki_codes(request.wiki)
    for attempt in range(REREADS + 1):
        days = [
            job.persist(extract.sum_hourly(spark, {day: hours}, codes), sums_level(day, request.days))
            for day, hours in by_day.items()
        ]
        sums = functools.reduce(DataFrame.unionByName, days) if days else extract.sum_hourly(spark, {}, codes)
        try:
            return sums, {row["day"]: row["bad_lines"] for row in transform.bad_line_counts(sums).collect()}
        except Exception as exc:
            for frame in days:
                frame.unpersist()
            damaged = extract.unreadable_hourly(exc)
            if damaged is None:
                raise
            if attempt == REREADS:
                raise SourceError(f"hourly file {damaged[0]} cannot be read ({damaged[1]})") from None
            log.warning("hourly file %s cannot be read (%s): downloading it again", *damaged)
            extract.Lander(job.settings).reland(damaged[0])
    raise AssertionError("unreachable")


def _write_silver(lake: Lake, daily: DataFrame, request: Request) -> Written:
    """The days' views per article (`pageviews_daily`), replacing the run's days."""
    return replace_where(
        daily.select(F.lit(request.wiki).alias("wiki"), "day", "title", "views"),
        lake.path(WIKI_PAGEVIEWS_DAILY),
        days_predicate(request.wiki, request.days),
        partition_by=WIKI_PAGEVIEWS_DAILY.partition_by,
    )


def _top_articles(job: JobRun, resolved: DataFrame, daily: DataFrame, days: tuple[date, ...]) -> DataFrame:
    """The top articles' signals and flags (jobs.wikimedia_pageviews.traffic) from the one read's
    resolved rows, computed and cached (written with the other gold tables, after the audit; the
    summary's most requested unflagged article comes from them)."""
    top = job.persist(traffic.top_articles(daily))
    flagged = job.persist(traffic.signals(top, traffic.top_rows(resolved, top), daily, days))
    flagged.count()
    return flagged


def _audit(
    job: JobRun,
    spark: SparkSession,
    request: Request,
    landing: Landing,
    daily: DataFrame,
    *,
    members: Future[DataFrame],
) -> tuple[DataFrame, DataFrame]:
    """The day answers (summary, top categories), cached and audited: write-audit-publish, no gold
    table is written unless they pass the gates (`gates`)."""
    wiki = request.wiki
    with job.stage("wait_for_members"):
        members_rows = members.result()
    hours = local_frame(
        spark, [(day, landing.hours(day)) for day in request.days], struct("day date, hours int")
    )
    summary = transform.daily_summary(daily, hours, wiki)
    top = transform.top_categories(daily, members_rows, wiki)
    # The answers (a row per day, five per day) are cached: each gate, the writes and the report
    # would otherwise rank the day's articles again.
    with job.stage("audit"):
        summary = job.persist(gates.plant(job.settings.quality_fault, summary))
        top = job.persist(top)
        gates.audit(summary, top, members_rows)
    return summary, top


def _publish(
    job: JobRun, request: Request, summary: DataFrame, top: DataFrame, flagged: DataFrame
) -> list[dict[str, Any]]:
    """Write the three gold tables side by side (each replacing the run's days), the summary with
    each day's most requested unflagged article; returns the summary rows."""
    summary = summary.join(traffic.most_unflagged(flagged), "day", "left")
    add_missing_columns(summary.sparkSession, job.lake.path(WIKI_DAILY_SUMMARY), summary.schema)
    gold = {
        WIKI_DAILY_SUMMARY: summary,
        WIKI_TOP_CATEGORIES: top,
        WIKI_TOP_ARTICLES: flagged.select(F.lit(request.wiki).alias("wiki"), "*"),
    }
    predicate = days_predicate(request.wiki, request.days)
    job.side_by_side(
        {write_stage(table): partial(_replace, job.lake, table, df, predicate) for table, df in gold.items()}
    )
    with job.stage("report"):
        return [row.asDict() for row in summary.orderBy("day").collect()]


def _replace(lake: Lake, table: Table, df: DataFrame, predicate: str) -> Written:
    return replace_where(df, lake.path(table), predicate)


def _log_answers(wiki: str, answers: list[dict[str, Any]]) -> None:
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
