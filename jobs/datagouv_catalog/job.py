"""The job: land the exports, match with Spark, export to S3, write Delta and Mongo.

MinIO/S3, the lake and MongoDB are checked before Spark starts, so a failing dependency costs
seconds; the JVM then starts while the exports download.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as sf

from common import ledger
from common.cli import settings_from_args
from common.delta import read_pinned, replace_where
from common.errors import PlatformError, SourceError
from common.settings import Settings
from common.spark import get_spark
from common.storage import DeltaReader, check_lake, ensure_bucket, lake_path
from common.tables import DATAGOUV_CHANGE_RUNS, DATAGOUV_CHANGES, DATAGOUV_MATCHES, DATAGOUV_TOPS, Table
from jobs.datagouv_catalog import changes, extract, gates, load, transform

log = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
EXPORT_NAME = "datasets.csv"
CHANGE_RUNS_SCHEMA = (
    "run_date string, previous_run_date string, matching long, added long, removed long, changed long"
)


def today_in_paris(now: datetime | None = None) -> date:
    return (now or datetime.now(PARIS)).astimezone(PARIS).date()


@dataclass
class Summary:
    """What a run did, with the seconds spent per stage (the benchmark reads it). The outputs are
    written side by side: `publish` is their wall time, and the stages inside it (`export`,
    `delta_tops`, `delta_matches`, `delta_changes`, `delta_change_runs`) overlap."""

    run_date: str
    export_uri: str = ""
    matching: int = 0
    tops: int = 0
    downloaded_bytes: int = 0
    stages: dict[str, float] = field(default_factory=dict)


class _Stopwatch:
    def __init__(self, summary: Summary, lock: threading.Lock | None = None) -> None:
        self.summary = summary
        self.lock = lock or threading.Lock()
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        with self.lock:
            self.summary.stages[stage] = round(self.summary.stages.get(stage, 0.0) + now - self.last, 3)
        ledger.add_stage_time(stage, now - self.last)
        self.last = now

    def branch(self) -> _Stopwatch:
        """A stopwatch from now, for work running beside this one's (its stages overlap)."""
        return _Stopwatch(self.summary, self.lock)


def check_dependencies(settings: Settings, mongo_uri: str) -> None:
    """Fail fast, before Spark starts, when MinIO/S3, the lake or MongoDB does not answer."""
    ensure_bucket(settings, settings.datagouv_bucket)
    check_lake(settings)
    load.check_mongo(mongo_uri)


def _land_while_spark_starts(
    settings: Settings, run_date: str, redownload: bool, watch: _Stopwatch
) -> tuple[extract.Landed, SparkSession]:
    """Download and split the exports while the JVM starts (both mostly wait on I/O)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-start") as pool:
        # A run's JVM works for seconds: C1-compiled code is enough (see common.spark).
        starting = pool.submit(get_spark, settings, "datagouv_catalog", short_job=True)
        try:
            landed = extract.land_exports(settings, run_date, redownload=redownload)
        except BaseException:
            with contextlib.suppress(Exception):
                starting.result().stop()
            raise
        watch.lap("download")
        spark = starting.result()
        watch.lap("spark_start_wait")
    return landed, spark


def process(  # noqa: PLR0917 - the run's context, passed explicitly
    spark: SparkSession,
    settings: Settings,
    landed: extract.Landed,
    run_date: str,
    mongo_uri: str,
    database: str,
    summary: Summary,
    watch: _Stopwatch,
) -> None:
    """The Spark part: read, match, rank; then the three outputs."""
    ds_header = extract.read_header(landed.datasets, settings)
    extract.require_columns(ds_header, extract.DATASET_COLUMNS, "datasets")
    org_header = extract.read_header(landed.organizations, settings)
    extract.require_columns(org_header, extract.ORGANIZATION_COLUMNS, "organizations")

    datasets = extract.read_export(spark, landed.datasets_parts, ds_header).select(
        *[f"`{c}`" for c in extract.DATASET_COLUMNS]
    )
    organizations = extract.read_export(spark, landed.organizations, org_header)
    matching = transform.match_mobility(datasets).persist(StorageLevel.MEMORY_AND_DISK)
    prepared: _Changes | None = None
    try:
        rows = matching.select("id").collect()
        ids = {row["id"] for row in rows if row["id"] is not None}
        summary.matching = len(rows)
        watch.lap("read_match")
        top_orgs = transform.top_organizations(organizations)
        tops = transform.tops(matching, top_orgs, run_date).persist()
        # Write-audit-publish: no CSV object, Delta partition or document unless the rows pass.
        tops = gates.plant(settings.quality_fault, tops)
        gates.audit(tops, matching)
        docs = [row.asDict() for row in tops.collect()]
        summary.tops = len(docs)
        watch.lap("tops_audit")
        prepared = _prepare_changes(spark, settings, matching, organizations, run_date, watch)
        with ThreadPoolExecutor(max_workers=5, thread_name_prefix="publish") as pool:
            # The outputs do not depend on each other, and each write mostly waits (on the object
            # store, on Delta's commit): side by side, the run waits for the longest one only.
            branches = [
                pool.submit(_publish_export, settings, landed, run_date, ids, summary, watch.branch()),
                pool.submit(_publish_partition, tops, DATAGOUV_TOPS, settings, run_date, watch.branch()),
                pool.submit(
                    _publish_partition, prepared.matches, DATAGOUV_MATCHES, settings, run_date, watch.branch()
                ),
                pool.submit(
                    _publish_changes, prepared.diff, DATAGOUV_CHANGES, settings, prepared, watch.branch()
                ),
                pool.submit(
                    _publish_changes,
                    spark.createDataFrame(prepared.runs, CHANGE_RUNS_SCHEMA),
                    DATAGOUV_CHANGE_RUNS,
                    settings,
                    prepared,
                    watch.branch(),
                ),
            ]
            wait(branches)
        for branch in branches:
            branch.result()  # the first failure, once every branch has ended
        watch.lap("publish")
        tops.unpersist()
    finally:
        matching.unpersist()
        if prepared is not None:
            prepared.matches.unpersist()
            prepared.diff.unpersist()

    mongo_docs = [{k: d[k] for k in transform.TOPS_COLUMNS} for d in docs]
    for doc in mongo_docs:
        doc["dataset_followers"] = int(doc["dataset_followers"])
        doc["organization_followers"] = int(doc["organization_followers"])
    load.replace_run_date(mongo_uri, database, run_date, mongo_docs)
    ledger.record_output(f"mongodb:{database}.{load.COLLECTION}", len(mongo_docs))
    watch.lap("mongo")


def _publish_export(  # noqa: PLR0917 - the run's context, passed explicitly
    settings: Settings,
    landed: extract.Landed,
    run_date: str,
    ids: set[str],
    summary: Summary,
    watch: _Stopwatch,
) -> None:
    summary.export_uri = _export(settings, landed, run_date, ids, summary.matching)
    ledger.record_output(summary.export_uri, summary.matching)
    watch.lap("export")


def _publish_partition(
    frame: DataFrame, table: Table, settings: Settings, run_date: str, watch: _Stopwatch
) -> None:
    """The run date's partition of a small table, as one file."""
    load.write_delta_partition(frame.coalesce(1), lake_path(settings, table.path), run_date)
    watch.lap(f"delta_{table.path.rsplit('/', 1)[-1]}")


@dataclass(frozen=True)
class _Changes:
    """A run's change rows, computed and not yet written."""

    matches: DataFrame  # the run date's `datagouv/matches` rows (persisted)
    diff: DataFrame  # `datagouv/changes` rows of the run dates in `predicate` (persisted)
    runs: list[Row]  # their `datagouv/change_runs` rows
    predicate: str | None  # the rows of both tables they replace; None: the whole tables


def _prepare_changes(  # noqa: PLR0917 - the run's context, passed explicitly
    spark: SparkSession,
    settings: Settings,
    matching: DataFrame,
    organizations: DataFrame,
    run_date: str,
    watch: _Stopwatch,
) -> _Changes:
    """The changes of the run dates the run's matching set moves (its own and its successor's),
    or of every run date when the changes tables lag `datagouv/matches`."""
    known, stored, current = _change_history(settings)
    matches = changes.matches(matching, organizations, run_date).coalesce(1).persist()
    if current:
        rows = changes.affected_run_dates(known, run_date)
        needed = {d for row in rows for d in row if d is not None}
        dates = spark.createDataFrame(rows, "run_date string, previous_run_date string")
        predicate: str | None = "run_date IN ({})".format(", ".join(f"'{row[0]}'" for row in rows))
    else:
        log.info("the changes tables lag datagouv/matches: recomputing every run date")
        needed = stored
        predicate = None
    others = sorted(needed & stored - {run_date})  # the stored matching sets the difference needs
    inputs = matches
    if others:
        # Pinned: `diff`, cached from it, is written while this run's matches are written to the
        # same table, whose commit would otherwise drop its blocks (common.delta.read_pinned).
        table = read_pinned(spark, lake_path(settings, DATAGOUV_MATCHES.path))
        inputs = inputs.unionByName(table.where(sf.col("run_date").isin(others)))
    if not current:
        dates = changes.run_dates(
            inputs, spark.createDataFrame([(d,) for d in sorted(known)], "run_date string")
        )
    diff = changes.changes(inputs, dates).coalesce(1).persist()
    try:
        runs = changes.run_summary(inputs, dates, diff).collect()
    except BaseException:
        diff.unpersist()
        matches.unpersist()
        raise
    watch.lap("changes")
    return _Changes(matches, diff, runs, predicate)


def _change_history(settings: Settings) -> tuple[set[str], set[str], bool]:
    """The run dates the lake knows (`change_runs` and `matches`), those with rows in `matches`,
    and whether the changes tables are current with `matches`: every matches run date has its
    `change_runs` row, and one run made the last commit of all three tables (a run that stopped
    after some of its writes leaves different run ids on their last commits, and the next run
    recomputes every run date). Read with delta-rs from the tables' logs: no Spark job."""
    reader = DeltaReader(settings)
    tables = [reader.table(t) for t in (DATAGOUV_MATCHES, DATAGOUV_CHANGES, DATAGOUV_CHANGE_RUNS)]
    matches, _, runs = tables
    run_dates: set[str] = set()
    if runs is not None:
        run_dates = set(runs.to_pyarrow_table(columns=["run_date"]).column("run_date").to_pylist())
    stored = {p["run_date"] for p in matches.partitions()} if matches is not None else set()
    if all(t is None for t in tables):
        return run_dates, stored, True
    if any(t is None for t in tables) or not stored <= run_dates:
        return run_dates | stored, stored, False
    last_runs = {t.history(1)[0].get("userMetadata") for t in tables if t is not None}
    return run_dates | stored, stored, len(last_runs) == 1


def _publish_changes(
    frame: DataFrame, table: Table, settings: Settings, prepared: _Changes, watch: _Stopwatch
) -> None:
    """Rows of `datagouv/changes` or `datagouv/change_runs`, as one file. The two are written side
    by side: a run that stops after one of them leaves them naming different runs, which the
    next run sees (`_change_history`)."""
    path = lake_path(settings, table.path)
    if prepared.predicate is None:
        frame.coalesce(1).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    else:
        replace_where(frame.coalesce(1), path, prepared.predicate)
    watch.lap(f"delta_{table.path.rsplit('/', 1)[-1]}")


def _export(settings: Settings, landed: extract.Landed, run_date: str, ids: set[str], expected: int) -> str:
    bucket, key = settings.datagouv_bucket, f"{run_date}/{EXPORT_NAME}"
    with (
        landed.store.open_local(extract.RAW_NAMES["dataset"]) as source,
        tempfile.TemporaryDirectory() as tmp,
    ):
        target = Path(tmp) / EXPORT_NAME
        written = load.export_matching(source, target, ids)
        if written != expected:
            raise SourceError(
                f"datasets export: {written} records copied but Spark matched {expected} "
                "(duplicate ids or a malformed record?)"
            )
        load.upload_export(settings, target, bucket, key)
    uri = f"s3://{bucket}/{key}"
    log.info("exported %d matching datasets to %s", written, uri)
    return uri


def run(
    settings: Settings,
    run_date: str,
    *,
    mongo_uri: str | None = None,
    database: str | None = None,
    redownload: bool = False,
    spark: SparkSession | None = None,
) -> Summary:
    """One run; uses `spark` when given (tests), else starts (and stops) the job's own session."""
    database = database or settings.mongo_database
    summary = Summary(run_date=run_date)
    watch = _Stopwatch(summary)
    uri = mongo_uri or settings.mongo_uri.get_secret_value()
    check_dependencies(settings, uri)
    watch.lap("checks")
    own = spark is None
    if spark is None:
        landed, spark = _land_while_spark_starts(settings, run_date, redownload, watch)
    else:
        landed = extract.land_exports(settings, run_date, redownload=redownload)
        watch.lap("download")
    summary.downloaded_bytes = landed.downloaded_bytes
    ledger.record_input(
        "landed", {m: [landed.store.uri(n), landed.store.size(n)] for m, n in extract.RAW_NAMES.items()}
    )
    try:
        process(spark, settings, landed, run_date, uri, database, summary, watch)
    except PlatformError:
        raise
    except Exception as exc:
        _reraise_spark(exc)
        raise
    finally:
        if own:
            spark.stop()
            watch.lap("spark_stop")
    return summary


def _reraise_spark(exc: Exception) -> None:
    """Spark's reader errors on malformed input become one line naming the cause."""
    text = str(exc)
    if "MALFORMED_RECORD_IN_PARSING" in text or "Malformed" in text:
        raise SourceError("datagouv export: malformed CSV record (FAILFAST); see the log") from exc


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    run_date = (args.run_date or today_in_paris()).isoformat()
    database = args.mongo_database or settings.mongo_database
    started = time.perf_counter()
    summary = run(settings, run_date, database=database, redownload=args.redownload)
    total = time.perf_counter() - started
    summary.stages["total"] = round(total, 3)
    log.info(
        "datagouv_catalog %s: %d matching datasets -> %s, %d top-30 datasets -> mongo %s.tops; stages %s",
        run_date,
        summary.matching,
        summary.export_uri,
        summary.tops,
        database,
        json.dumps(summary.stages),
    )
    if args.summary_json:
        args.summary_json.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return 0
