"""Outputs of a run date: the CSV export object, the Delta gold table, the Mongo documents.

CSV export. Spark's CSV parser normalises line ends inside quoted cells (`\\r\\n` -> `\\n`), so
writing the parsed cells back would change the source's cell text. The export therefore copies
the ORIGINAL bytes of each matching record (header included): a pass over the landed file splits
it into records (a line end outside quotes closes a record; with `""` doubling the quote count
of a record is even exactly there) and keeps those whose `id` Spark matched. Quoting, `\\r\\n`
and every cell stay exactly as in the source, which is standard CSV quoting. The result is
written to a local temporary file, checked (record count equals Spark's), then uploaded as ONE
object; S3 makes an object visible only once complete, so a failed run leaves the previous
object (or none).

Mongo. FerretDB has no transactions: a run date is replaced by upserting every new document
(unique index on run_date + dataset_id), then deleting that date's documents not in the new
set. A crash in between leaves extra documents that the rerun removes; other dates are never
touched.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from pymongo import ASCENDING, MongoClient
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from pyspark.sql import DataFrame

from common.delta import Written, replace_where
from common.errors import ConfigError, PlatformError, StorageError, one_line
from common.http import backoff_delay
from common.settings import Settings
from common.storage import s3_client

log = logging.getLogger(__name__)

T = TypeVar("T")
MONGO_ATTEMPTS = 3
MONGO_TIMEOUT_MS = 3000
COLLECTION = "tops"
STAGING = f"{COLLECTION}_staging"  # the next contents of `tops`, built whole before the switch
PREVIOUS = f"{COLLECTION}_previous"  # `tops` renamed aside during a switch (servers without dropTarget)
MONGO_BATCH = 1000
NOT_IMPLEMENTED = 238  # the server's code for an option it does not implement


# --- CSV export -------------------------------------------------------------------------------


def iter_records(fh: IO[bytes]) -> Iterator[bytes]:
    """Raw CSV records (with their line end) of a `"`-quoted, `""`-doubling file.

    Works on bytes: in UTF-8 the bytes `"` and `\\n` never occur inside a multi-byte character.
    """
    pending: list[bytes] = []
    quotes = 0
    for line in fh:
        quotes += line.count(b'"')
        if quotes % 2:
            pending.append(line)
            continue
        if pending:
            pending.append(line)
            yield b"".join(pending)
            pending = []
        else:
            yield line
        quotes = 0
    if pending:
        yield b"".join(pending)


def _cells(record: bytes) -> list[str]:
    text = record.decode("utf-8").rstrip("\r\n")
    return next(csv.reader([text], delimiter=";", quotechar='"', doublequote=True), [])


def _first_cell(record: bytes) -> str:
    """The first cell, quickly when it is a plain quoted or bare value (ids are)."""
    if record.startswith(b'"'):
        end = record.find(b'"', 1)
        if end > 0 and record[end + 1 : end + 2] in (b";", b"\r", b"\n", b""):
            return record[1:end].decode("utf-8")
    else:
        end = record.find(b";")
        if end >= 0 and b'"' not in record[:end]:
            return record[:end].decode("utf-8")
    cells = _cells(record)
    return cells[0] if cells else ""


def export_matching(source: Path, target: Path, ids: set[str], id_column: str = "id") -> int:
    """Copy the header and the records whose `id_column` is in `ids`, byte for byte; return the count."""
    written = 0
    with source.open("rb") as fh, target.open("wb") as out:
        records = iter_records(fh)
        header = next(records, b"")
        names = _cells(header)
        if id_column not in names:
            raise PlatformError(f"export: the landed file has no '{id_column}' column")
        index = names.index(id_column)
        out.write(header)
        for record in records:
            if not record.strip():
                continue
            key = _first_cell(record) if index == 0 else _cells(record)[index]
            if key in ids:
                out.write(record)
                written += 1
    return written


def upload_export(settings: Settings, local: Path, bucket: str, key: str) -> None:
    """One object, complete or absent: a single PUT, or a multipart upload finished at the end."""
    config = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=32 * 1024 * 1024)
    try:
        s3_client(settings).upload_file(
            str(local), bucket, key, ExtraArgs={"ContentType": "text/csv; charset=utf-8"}, Config=config
        )
    except (BotoCoreError, ClientError) as exc:
        raise StorageError(f"cannot write s3://{bucket}/{key}: {one_line(exc)}") from None


# --- Delta ------------------------------------------------------------------------------------


def write_delta_partition(frame: DataFrame, path: str, run_date: str) -> Written:
    """Replace the run date's partition of a Delta table partitioned by `run_date` (idempotent)."""
    return replace_where(frame, path, f"run_date = '{run_date}'", partition_by=("run_date",))


# --- Mongo ------------------------------------------------------------------------------------


def mongo_client(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        uri,
        serverSelectionTimeoutMS=MONGO_TIMEOUT_MS,
        connectTimeoutMS=MONGO_TIMEOUT_MS,
        socketTimeoutMS=30000,
        retryWrites=False,
    )


def with_mongo_retries(what: str, action: Callable[[], T], attempts: int = MONGO_ATTEMPTS) -> T:
    """Run `action`, retrying connection failures a bounded number of times."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except ConnectionFailure as exc:
            first = one_line(exc).split(",")[0]
            if attempt == attempts:
                raise StorageError(f"MongoDB unreachable ({what}) after {attempts} tries: {first}") from None
            log.warning("MongoDB %s failed (%s), try %d/%d", what, first, attempt, attempts)
            time.sleep(backoff_delay(attempt))
        except OperationFailure as exc:
            if exc.code in (13, 18):
                raise ConfigError("MONGO_URI", f"rejected by the server ({exc.code})") from None
            raise StorageError(f"MongoDB {what}: {one_line(exc)}") from None
        except PyMongoError as exc:
            raise StorageError(f"MongoDB {what}: {one_line(exc)}") from None
    raise AssertionError("unreachable")


def check_mongo(uri: str) -> None:
    """Fail fast (before Spark starts) when MongoDB does not answer."""
    client = mongo_client(uri)
    try:
        with_mongo_retries("ping", lambda: client.admin.command("ping"))
    finally:
        client.close()


def replace_run_date(uri: str, database: str, run_date: str, docs: Sequence[dict[str, Any]]) -> None:
    """Make `database.tops` hold exactly `docs` for `run_date`, other dates untouched, switched
    whole: the collection is built again as `tops_staging` (the other dates' documents, then
    these) and renamed over `tops`. A run that fails before the switch leaves every previous
    document as it was; the next run drops its staging collection."""
    client = mongo_client(uri)
    try:
        db = client[database]
        with_mongo_retries("recover", lambda: _recover(db))
        kept = with_mongo_retries("stage", lambda: _stage(db, run_date, docs))
        with_mongo_retries("switch", lambda: _switch(db))
        log.info(
            "mongo %s.%s: %d documents for %s (%d of other dates kept)",
            database,
            COLLECTION,
            len(docs),
            run_date,
            kept,
        )
    finally:
        client.close()


def _stage(db: Database[dict[str, Any]], run_date: str, docs: Sequence[dict[str, Any]]) -> int:
    """`tops_staging` built from nothing: the other run dates' documents and `docs` (a retry
    starts it again). Returns how many documents of other dates it kept."""
    db.drop_collection(STAGING)
    staging = db[STAGING]
    staging.create_index(
        [("run_date", ASCENDING), ("dataset_id", ASCENDING)], unique=True, name="run_date_dataset_id"
    )
    kept = 0
    others = db[COLLECTION].find({"run_date": {"$ne": run_date}}, batch_size=MONGO_BATCH)
    for batch in _batches(others, MONGO_BATCH):
        staging.insert_many(batch, ordered=False)
        kept += len(batch)
    for batch in _batches((dict(d) for d in docs), MONGO_BATCH):
        staging.insert_many(batch, ordered=False)
    return kept


def _switch(db: Database[dict[str, Any]]) -> None:
    """`tops_staging` renamed to `tops`: in one step where the server can drop the target as it
    renames (MongoDB); else (FerretDB) the old collection is renamed aside first, and a switch
    cut between the two renames is completed by the next run (`_recover`)."""
    try:
        db[STAGING].rename(COLLECTION, dropTarget=True)
        return
    except OperationFailure as exc:
        if exc.code != NOT_IMPLEMENTED:
            raise
    db.drop_collection(PREVIOUS)
    if COLLECTION in db.list_collection_names():
        db[COLLECTION].rename(PREVIOUS)
    db[STAGING].rename(COLLECTION)
    db.drop_collection(PREVIOUS)


def _recover(db: Database[dict[str, Any]]) -> None:
    """A switch cut after `tops` was renamed aside: its documents back under their name."""
    names = set(db.list_collection_names())
    if COLLECTION not in names and PREVIOUS in names:
        log.warning(
            "mongo %s.%s: the last switch was cut; the previous documents restored", db.name, COLLECTION
        )
        db[PREVIOUS].rename(COLLECTION)


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
