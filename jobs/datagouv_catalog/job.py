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
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as sf

from common.cli import settings_from_args
from common.delta import overwrite, read_pinned, replace_where
from common.errors import PlatformError, SourceError
from common.runner import Held, JobRun
from common.schema import add_missing_columns, local_frame, struct
from common.settings import Settings
from common.storage import ensure_bucket
from common.tables import DATAGOUV_CHANGE_RUNS, DATAGOUV_CHANGES, DATAGOUV_MATCHES, DATAGOUV_TOPS
from jobs.datagouv_catalog import changes, extract, gates, load, transform

log = logging.getLogger(__name__)

NAME = "datagouv_catalog"
PARIS = ZoneInfo("Europe/Paris")
EXPORT_NAME = "datasets.csv"
# The tables the weekly changes are computed over, and the record of the versions the last
# complete publish left them at (common.inputs.Published), in the job's state folder.
CHANGE_TABLES = (DATAGOUV_MATCHES, DATAGOUV_CHANGES, DATAGOUV_CHANGE_RUNS)
STATE = ("raw", "datagouv")
CHANGES_RECORD = "changes_published.json"
CHANGE_RUNS_SCHEMA = struct(
    "run_date string, previous_run_date string, matching long, added long, removed long, changed long"
)


def today_in_paris(now: datetime | None = None) -> date:
    return (now or datetime.now(PARIS)).astimezone(PARIS).date()


@dataclass
class Summary:
    """What a run did, with the seconds spent per stage (the benchmark reads it). `changes` runs
    beside `tops_audit`. The outputs are written side by side: `publish` is their wall time, and
    the stages inside it (`export`, `delta_tops`, `delta_matches`, `delta_changes`,
    `delta_change_runs`) overlap."""

    run_date: str
    export_uri: str = ""
    matching: int = 0
    tops: int = 0
    downloaded_bytes: int = 0
    stages: dict[str, float] = field(default_factory=dict)


def check_dependencies(job: JobRun, mongo_uri: str) -> None:
    """Fail fast, before Spark starts, when MinIO/S3, the lake or MongoDB does not answer."""
    ensure_bucket(job.settings, job.settings.datagouv_bucket)
    job.lake.check()
    load.check_mongo(mongo_uri)


@dataclass(frozen=True)
class Request:
    """What a run is asked: the run date, where the documents go, whether to download again."""

    run_date: str
    mongo_uri: str
    database: str
    redownload: bool = False


def execute(job: JobRun, request: Request) -> Summary:
    """Checks -> extract (while Spark starts) -> transform -> audit -> publish."""
    summary = Summary(run_date=request.run_date)
    with job.stage("checks"):
        check_dependencies(job, request.mongo_uri)
    job.use_spark(short_job=True)  # a run's JVM works for seconds: C1 is enough (common.spark)
    job.start_spark()  # the JVM starts while the exports download (both mostly wait on I/O)
    try:
        with tempfile.TemporaryDirectory(prefix="datagouv-") as workdir:
            with job.stage("download"):
                landed = extract.land_exports(
                    job.settings, request.run_date, Path(workdir), redownload=request.redownload
                )
            summary.downloaded_bytes = landed.downloaded_bytes
            names = extract.RAW_NAMES.items()
            for source, fingerprint in landed.sources.items():
                job.record_input(source, fingerprint)
            job.record_input("landed", {m: [landed.store.uri(n), landed.store.size(n)] for m, n in names})
            _process(job, landed, request, summary, Path(workdir))
    except PlatformError:
        raise
    except Exception as exc:
        _reraise_spark(exc)
        raise
    finally:
        job.stop_spark()
    summary.stages = job.stages
    return summary


def _process(job: JobRun, landed: extract.Landed, request: Request, summary: Summary, workdir: Path) -> None:
    """The Spark part: read, match, rank and audit; then the outputs, Mongo last."""
    spark = job.session()
    datasets, organizations = _read_exports(job.settings, spark, landed)
    with job.holding() as held:  # released once the Delta tables are written
        matching = held.keep(transform.match_mobility(datasets), StorageLevel.MEMORY_AND_DISK)
        with job.stage("read_match"):
            rows = matching.select("id").collect()
        ids = {row["id"] for row in rows if row["id"] is not None}
        summary.matching = len(rows)
        # The changes and the export's file do not depend on the audit: they are made beside it
        # (the file is uploaded only once the rows pass).
        changes_ready = job.beside(
            "changes", partial(_prepare_changes, job, held, matching, organizations, request.run_date)
        )
        export_file = job.beside(
            "export_file", partial(_export_file, landed, ids, len(rows), workdir / f"matching-{EXPORT_NAME}")
        )
        with job.joined(changes_ready, export_file):
            with job.stage("tops_audit"):
                tops, docs = _audited_tops(job.settings, held, matching, organizations, request.run_date)
            prepared = changes_ready.result()
            exported = export_file.result()
        summary.tops = len(docs)
        with job.stage("publish"):
            _publish(job, exported, request, tops, prepared, summary)
    with job.stage("mongo"):
        _publish_documents(job, request, docs)


def _read_exports(
    settings: Settings, spark: SparkSession, landed: extract.Landed
) -> tuple[DataFrame, DataFrame]:
    """The datasets (the columns the job uses) and the organizations, their headers checked."""
    ds_header = extract.read_header(landed.datasets, settings)
    extract.require_columns(ds_header, extract.DATASET_COLUMNS, "datasets")
    org_header = extract.read_header(landed.organizations, settings)
    extract.require_columns(org_header, extract.ORGANIZATION_COLUMNS, "organizations")
    parts = landed.local_parts.as_uri() if landed.local_parts is not None else landed.datasets_parts
    datasets = extract.read_export(spark, parts, ds_header).select(
        *[f"`{c}`" for c in extract.DATASET_COLUMNS]
    )
    return datasets, extract.read_export(spark, landed.organizations, org_header)


def _audited_tops(
    settings: Settings, held: Held, matching: DataFrame, organizations: DataFrame, run_date: str
) -> tuple[DataFrame, list[dict[str, Any]]]:
    """The top organizations' datasets (kept in `held`) and their rows, once they pass the gates:
    write-audit-publish, no CSV object, Delta partition or document unless the rows pass."""
    top_orgs = transform.top_organizations(organizations)
    tops = held.keep(transform.tops(matching, top_orgs, run_date))
    tops = gates.plant(settings.quality_fault, tops)
    gates.audit(tops, matching)
    return tops, [row.asDict() for row in tops.collect()]


def _publish(  # noqa: PLR0917 - the run's context, passed explicitly
    job: JobRun,
    exported: Path,
    request: Request,
    tops: DataFrame,
    prepared: _Changes,
    summary: Summary,
) -> None:
    """The outputs, side by side: they do not depend on each other, and each write mostly waits
    (on the object store, on Delta's commit), so the run waits for the longest one only."""
    lake, run_date = job.lake, request.run_date
    matches, diff = prepared.matches, prepared.diff
    runs = local_frame(job.session(), prepared.runs, CHANGE_RUNS_SCHEMA)
    job.side_by_side(
        {
            "export": lambda: _publish_export(job, exported, run_date, summary),
            "delta_tops": lambda: _publish_partition(tops, lake.path(DATAGOUV_TOPS), run_date),
            "delta_matches": lambda: _publish_partition(matches, lake.path(DATAGOUV_MATCHES), run_date),
            "delta_changes": lambda: _publish_changes(diff, lake.path(DATAGOUV_CHANGES), prepared),
            "delta_change_runs": lambda: _publish_changes(runs, lake.path(DATAGOUV_CHANGE_RUNS), prepared),
        }
    )
    job.publish_record(job.lake.store(*STATE), CHANGES_RECORD, "", "", list(CHANGE_TABLES))


def _publish_documents(job: JobRun, request: Request, docs: list[dict[str, Any]]) -> None:
    """The run date's top datasets in MongoDB, replaced as a whole."""
    mongo_docs = [{k: d[k] for k in transform.TOPS_COLUMNS} for d in docs]
    for doc in mongo_docs:
        doc["dataset_followers"] = int(doc["dataset_followers"])
        doc["organization_followers"] = int(doc["organization_followers"])
    load.replace_run_date(request.mongo_uri, request.database, request.run_date, mongo_docs)
    job.record_output(f"mongodb:{request.database}.{load.COLLECTION}", len(mongo_docs))


def _publish_export(job: JobRun, exported: Path, run_date: str, summary: Summary) -> None:
    """The export's file, as one object of the run date."""
    bucket, key = job.settings.datagouv_bucket, f"{run_date}/{EXPORT_NAME}"
    load.upload_export(job.settings, exported, bucket, key)
    summary.export_uri = f"s3://{bucket}/{key}"
    log.info("exported %d matching datasets to %s", summary.matching, summary.export_uri)
    job.record_output(summary.export_uri, summary.matching)


def _publish_partition(frame: DataFrame, path: str, run_date: str) -> None:
    """The run date's partition of a small table, as one file."""
    load.write_delta_partition(frame.coalesce(1), path, run_date)


@dataclass(frozen=True)
class _Changes:
    """A run's change rows, computed and not yet written."""

    matches: DataFrame  # the run date's `datagouv/matches` rows (held)
    diff: DataFrame  # `datagouv/changes` rows of the run dates in `predicate` (held)
    runs: list[Row]  # their `datagouv/change_runs` rows
    predicate: str | None  # the rows of both tables they replace; None: the whole tables


def _prepare_changes(
    job: JobRun, held: Held, matching: DataFrame, organizations: DataFrame, run_date: str
) -> _Changes:
    """The changes of the run dates the run's matching set moves (its own and its successor's),
    or of every run date when the changes tables lag `datagouv/matches`."""
    spark = job.session()
    known, stored, current = _change_history(job)
    matches = held.keep(changes.matches(matching, organizations, run_date).coalesce(1))
    if current:
        rows = changes.affected_run_dates(known, run_date)
        needed = {d for row in rows for d in row if d is not None}
        dates = local_frame(spark, rows, struct("run_date string, previous_run_date string"))
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
        table = read_pinned(spark, job.lake.path(DATAGOUV_MATCHES))
        inputs = inputs.unionByName(table.where(sf.col("run_date").isin(others)))
    if not current:
        dates = changes.run_dates(
            inputs, local_frame(spark, [(d,) for d in sorted(known)], struct("run_date string"))
        )
    diff = held.keep(changes.changes(inputs, dates).coalesce(1))
    runs = changes.run_summary(inputs, dates, diff).collect()
    return _Changes(matches, diff, runs, predicate)


def _change_history(job: JobRun) -> tuple[set[str], set[str], bool]:
    """The run dates the lake knows (`change_runs` and `matches`), those with rows in `matches`,
    and whether the changes tables are current with `matches`: every matches run date has its
    `change_runs` row, and the three tables are at the versions the last complete publish
    recorded (a run that stopped after some of its writes moved some of them, and the next run
    recomputes every run date). Read with delta-rs from the tables' logs: no Spark job."""
    reader = job.lake.reader
    tables = [reader.table(t) for t in CHANGE_TABLES]
    matches, _, runs = tables
    run_dates: set[str] = set()
    if runs is not None:
        run_dates = set(runs.to_pyarrow_table(columns=["run_date"]).column("run_date").to_pylist())
    stored = {p["run_date"] for p in matches.partitions()} if matches is not None else set()
    if all(t is None for t in tables):
        return run_dates, stored, True
    if any(t is None for t in tables) or not stored <= run_dates:
        return run_dates | stored, stored, False
    published = job.published(job.lake.store(*STATE), CHANGES_RECORD)
    return run_dates | stored, stored, job.unchanged(published, "", list(CHANGE_TABLES))


def _publish_changes(frame: DataFrame, path: str, prepared: _Changes) -> None:
    """Rows of `datagouv/changes` or `datagouv/change_runs`, as one file. The two are written side
    by side: a run that stops after one of them leaves them at versions no record names, which
    the next run sees (`_change_history`). A table written before a column was added gains it."""
    add_missing_columns(frame.sparkSession, path, frame.schema)
    if prepared.predicate is None:
        overwrite(frame.coalesce(1), path)
    else:
        replace_where(frame.coalesce(1), path, prepared.predicate)


def _export_file(landed: extract.Landed, ids: set[str], expected: int, target: Path) -> Path:
    """The matching records of the landed datasets file, byte for byte, in `target`: from the
    download kept in the run's folder, or (a rerun, the exports already landed) from the store."""
    with (
        contextlib.nullcontext(landed.local_datasets)
        if landed.local_datasets is not None
        else landed.store.open_local(extract.RAW_NAMES["dataset"]) as source
    ):
        written = load.export_matching(source, target, ids)
    if written != expected:
        raise SourceError(
            f"datasets export: {written} records copied but Spark matched {expected} "
            "(duplicate ids or a malformed record?)"
        )
    return target


def run(
    settings: Settings,
    run_date: str,
    *,
    mongo_uri: str | None = None,
    database: str | None = None,
    redownload: bool = False,
    spark: SparkSession | None = None,
) -> Summary:
    """One run outside the ledger (tests, benchmarks): on `spark` when given, else on the run's
    own session, stopped at the end."""
    uri = mongo_uri or settings.mongo_uri.get_secret_value()
    request = Request(run_date, uri, database or settings.mongo_database, redownload)
    return execute(JobRun(NAME, settings, spark=spark), request)


def _reraise_spark(exc: Exception) -> None:
    """Spark's reader errors on malformed input become one line naming the cause."""
    text = str(exc)
    if "MALFORMED_RECORD_IN_PARSING" in text or "Malformed" in text:
        raise SourceError("datagouv export: malformed CSV record (FAILFAST); see the log") from exc


def main(args: argparse.Namespace, job: JobRun | None = None) -> int:
    """Entry point behind the CLI: the request from the arguments, one run, its summary line."""
    job = job or JobRun(NAME, settings_from_args(args))
    settings = job.settings
    run_date = (args.run_date or today_in_paris()).isoformat()
    database = args.mongo_database or settings.mongo_database
    request = Request(run_date, settings.mongo_uri.get_secret_value(), database, args.redownload)
    started = time.perf_counter()
    summary = execute(job, request)
    summary.stages["total"] = round(time.perf_counter() - started, 3)
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
