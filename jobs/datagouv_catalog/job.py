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

from common import ledger
from common.cli import settings_from_args
from common.errors import PlatformError, SourceError
from common.settings import Settings
from common.spark import get_spark
from common.storage import check_lake, ensure_bucket, is_delta, lake_path
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
    """The run's `datagouv/matches` partition, then the changes of every run date, recomputed from
    all of them (rerunning an older date moves its successor's difference too)."""
    matches_path = lake_path(settings, DATAGOUV_MATCHES.path)
    runs_path = lake_path(settings, DATAGOUV_CHANGE_RUNS.path)
    load.write_delta_partition(matches, matches_path, run_date)
    watch.lap("delta_matches")
    all_matches = spark.read.format("delta").load(matches_path)
    known = spark.createDataFrame([(run_date,)], "run_date string")
    if is_delta(spark, runs_path):  # run dates whose matching set was empty have no matches row
        known = known.unionByName(spark.read.format("delta").load(runs_path).select("run_date"))
    dates = changes.run_dates(all_matches, known).cache()
    diff = changes.changes(all_matches, dates).cache()
    summary = changes.run_summary(all_matches, dates, diff).collect()  # read before overwriting its table
    watch.lap("changes")
    diff.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
        lake_path(settings, DATAGOUV_CHANGES.path)
    )
    watch.lap("delta_changes")
    spark.createDataFrame(summary, CHANGE_RUNS_SCHEMA).write.format("delta").mode("overwrite").save(runs_path)
    watch.lap("delta_change_runs")
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
