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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf

from common import ledger
from common.cli import settings_from_args
from common.delta import replace_where
from common.errors import PlatformError, SourceError
from common.settings import Settings
from common.spark import get_spark
from common.storage import DeltaReader, check_lake, ensure_bucket, lake_path
from common.tables import DATAGOUV_CHANGE_RUNS, DATAGOUV_CHANGES, DATAGOUV_MATCHES, DATAGOUV_TOPS
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
    """What a run did, with the seconds spent per stage (the benchmark reads it)."""

    run_date: str
    export_uri: str = ""
    matching: int = 0
    tops: int = 0
    downloaded_bytes: int = 0
    stages: dict[str, float] = field(default_factory=dict)


class _Stopwatch:
    def __init__(self, summary: Summary) -> None:
        self.summary = summary
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.summary.stages[stage] = round(self.summary.stages.get(stage, 0.0) + now - self.last, 3)
        ledger.add_stage_time(stage, now - self.last)
        self.last = now


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
        starting = pool.submit(get_spark, settings, "datagouv_catalog")
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
    try:
        ids = {row["id"] for row in matching.select("id").collect() if row["id"] is not None}
        summary.matching = matching.count()
        watch.lap("read_match")
        top_orgs = transform.top_organizations(organizations)
        tops = transform.tops(matching, top_orgs, run_date).persist()
        # Write-audit-publish: no CSV object, Delta partition or document unless the rows pass.
        tops = gates.plant(settings.quality_fault, tops)
        gates.audit(tops, matching)
        docs = [row.asDict() for row in tops.collect()]
        summary.tops = len(docs)
        watch.lap("tops_audit")

        summary.export_uri = _export(settings, landed, run_date, ids, summary.matching)
        ledger.record_output(summary.export_uri, summary.matching)
        watch.lap("export")

        load.write_delta_partition(tops, lake_path(settings, DATAGOUV_TOPS.path), run_date)
        watch.lap("delta_tops")
        _write_changes(spark, settings, changes.matches(matching, organizations, run_date), run_date, watch)
        tops.unpersist()
    finally:
        matching.unpersist()

    mongo_docs = [{k: d[k] for k in transform.TOPS_COLUMNS} for d in docs]
    for doc in mongo_docs:
        doc["dataset_followers"] = int(doc["dataset_followers"])
        doc["organization_followers"] = int(doc["organization_followers"])
    load.replace_run_date(mongo_uri, database, run_date, mongo_docs)
    ledger.record_output(f"mongodb:{database}.{load.COLLECTION}", len(mongo_docs))
    watch.lap("mongo")


def _write_changes(
    spark: SparkSession, settings: Settings, matches: DataFrame, run_date: str, watch: _Stopwatch
) -> None:
    """The run's `datagouv/matches` partition, then the changes of the run dates it moves (its
    own and its successor's), or of every run date when the changes tables lag the matches."""
    matches_path = lake_path(settings, DATAGOUV_MATCHES.path)
    known, current = _change_history(settings)
    matches = matches.coalesce(1).persist()  # a few thousand rows: one file, and read twice below
    try:
        load.write_delta_partition(matches, matches_path, run_date)
        watch.lap("delta_matches")
        if current:
            rows = changes.affected_run_dates(known, run_date)
            others = sorted({d for row in rows for d in row if d is not None} - {run_date})
            inputs = matches
            if others:
                stored = spark.read.format("delta").load(matches_path)
                inputs = inputs.unionByName(stored.where(sf.col("run_date").isin(others)))
            dates = spark.createDataFrame(rows, "run_date string, previous_run_date string")
            predicate: str | None = "run_date IN ({})".format(", ".join(f"'{row[0]}'" for row in rows))
        else:
            log.info("the changes tables lag datagouv/matches: recomputing every run date")
            inputs = spark.read.format("delta").load(matches_path)
            stored_runs = spark.createDataFrame([(d,) for d in sorted({*known, run_date})], "run_date string")
            dates = changes.run_dates(inputs, stored_runs)
            predicate = None
        _write_change_tables(spark, settings, inputs, dates.cache(), predicate, watch)
    finally:
        matches.unpersist()


def _change_history(settings: Settings) -> tuple[set[str], bool]:
    """The run dates the lake knows (from `change_runs` and `matches`, read with delta-rs: no Spark
    job), and whether the changes tables are current with `matches`: every matches run date has
    its `change_runs` row and the last run that wrote `matches` also wrote `change_runs` after it
    (a run stopped between the two leaves different run ids on their last commits)."""
    reader = DeltaReader(settings)
    runs, matches = reader.table(DATAGOUV_CHANGE_RUNS), reader.table(DATAGOUV_MATCHES)
    run_dates: set[str] = set()
    if runs is not None:
        run_dates = set(runs.to_pyarrow_table(columns=["run_date"]).column("run_date").to_pylist())
    if matches is None:
        return run_dates, True
    match_dates = {p["run_date"] for p in matches.partitions()}
    if runs is None or not match_dates <= run_dates:
        return run_dates | match_dates, False
    last_run = [t.history(1)[0].get("userMetadata") for t in (matches, runs)]
    return run_dates | match_dates, last_run[0] == last_run[1]


def _write_change_tables(  # noqa: PLR0917 - the run's context, passed explicitly
    spark: SparkSession,
    settings: Settings,
    matches: DataFrame,
    dates: DataFrame,
    predicate: str | None,
    watch: _Stopwatch,
) -> None:
    """`datagouv/changes` and `datagouv/change_runs` for the run dates of `dates`: the rows matching
    `predicate` replaced, or (predicate None) the whole tables."""
    diff = changes.changes(matches, dates).coalesce(1).persist()
    try:
        summary = changes.run_summary(matches, dates, diff).collect()
        watch.lap("changes")
        runs = spark.createDataFrame(summary, CHANGE_RUNS_SCHEMA).coalesce(1)
        for frame, table, stage in (
            (diff, DATAGOUV_CHANGES, "delta_changes"),
            (runs, DATAGOUV_CHANGE_RUNS, "delta_change_runs"),
        ):
            path = lake_path(settings, table.path)
            if predicate is None:
                frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
            else:
                replace_where(frame, path, predicate)
            watch.lap(stage)
    finally:
        diff.unpersist()
        dates.unpersist()


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
