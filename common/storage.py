"""Paths under LAKE_ROOT and object-store access (local folder or S3/MinIO) for every job."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import unquote, urlparse

from common.errors import ConfigError, StorageError, one_line

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from pyspark.sql import SparkSession

    from common.settings import Settings
    from common.tables import Table

log = logging.getLogger(__name__)


def lake_path(settings: Settings, *parts: str) -> str:
    """A location under LAKE_ROOT as Spark wants it: `s3a://...` or an absolute local path."""
    root = settings.lake_root
    parsed = urlparse(root)
    if parsed.scheme in ("s3", "s3a"):
        base = f"s3a://{parsed.netloc}{parsed.path}".rstrip("/")
    elif parsed.scheme == "file":
        base = str(Path(parsed.path).resolve())
    else:
        base = str(Path(root).resolve())
    return "/".join([base, *[p.strip("/") for p in parts if p]])


def split_s3(uri: str) -> tuple[str, str]:
    """`s3a://bucket/key` -> (bucket, key)."""
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in ("s3", "s3a")


def s3_client(settings: Settings) -> S3Client:
    """A boto3 S3 client on S3_ENDPOINT_URL with bounded retries and short timeouts: one per
    endpoint and credentials in a process (boto3's clients are thread-safe), not one per call."""
    secret = settings.aws_secret_access_key
    return _s3_client(
        settings.s3_endpoint_url or None,
        settings.aws_access_key_id,
        secret.get_secret_value() if secret else None,
        settings.aws_region,
    )


@functools.lru_cache(maxsize=8)
def _s3_client(endpoint: str | None, key_id: str | None, secret: str | None, region: str) -> S3Client:
    import boto3
    from botocore.config import Config

    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )
    return client


def ensure_bucket(settings: Settings, bucket: str) -> None:
    """Create the bucket if missing; turn connection and credential failures into one clear line."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    client = s3_client(settings)
    try:
        client.head_bucket(Bucket=bucket)
        return
    except EndpointConnectionError as exc:
        raise ConfigError("S3_ENDPOINT_URL", f"cannot reach {settings.s3_endpoint_url}: {exc}") from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            raise ConfigError(
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", f"rejected by {settings.s3_endpoint_url} ({code})"
            ) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise StorageError(f"S3 bucket '{bucket}': {code or exc}") from None
    except BotoCoreError as exc:
        raise ConfigError("S3_ENDPOINT_URL", f"cannot reach {settings.s3_endpoint_url}: {exc}") from None
    try:
        client.create_bucket(Bucket=bucket)
        log.info("created bucket %s", bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise StorageError(f"cannot create bucket '{bucket}': {code or exc}") from None


def check_lake(settings: Settings) -> None:
    """Fail fast, before Spark starts, when LAKE_ROOT cannot be used."""
    if settings.lake_is_s3:
        bucket, _ = split_s3(settings.lake_root)
        ensure_bucket(settings, bucket)
        return
    root = Path(lake_path(settings))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("LAKE_ROOT", f"cannot create {root}: {exc.strerror}") from None


def read_object(uri: str, settings: Settings | None = None) -> bytes | None:
    """A small object's bytes (a marker, a JSON state file), or None when it is absent.

    `settings` gives the S3 client and is needed only for an S3 URI: executors on a local lake
    call this without importing pydantic or boto3.
    """
    if is_s3(uri):
        from botocore.exceptions import ClientError

        assert settings is not None, "an S3 URI needs the settings of its client"
        bucket, key = split_s3(uri)
        try:
            return bytes(s3_client(settings).get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError:
            return None
    path = Path(uri)
    return path.read_bytes() if path.is_file() else None


def write_object(uri: str, data: bytes, settings: Settings | None = None) -> None:
    """Write a small object atomically: one PUT on S3, locally a unique temporary file renamed.

    The temporary name is unique, so concurrent writers (Spark tasks) never share one.
    """
    if is_s3(uri):
        assert settings is not None, "an S3 URI needs the settings of its client"
        bucket, key = split_s3(uri)
        s3_client(settings).put_object(Bucket=bucket, Key=key, Body=data)
        return
    target = Path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)


class RawStore:
    """The one small-object store, under LAKE_ROOT: the raw landing zone and the jobs' state files,
    on local disk or S3, each write atomic.

    Downloads go to a local temporary file first and are moved (local) or uploaded (S3) only once
    verified, so a half-written file is never visible under its final name. It pickles to Spark's
    executors; on a local lake without its settings, so an executor imports no pydantic or boto3.
    """

    def __init__(self, settings: Settings, *prefix: str) -> None:
        self.root = lake_path(settings, *prefix)
        self.settings: Settings | None = settings if is_s3(self.root) else None

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.root, self.settings = state["root"], state["settings"]

    def uri(self, relative: str) -> str:
        return f"{self.root}/{relative.lstrip('/')}"

    def _client(self) -> S3Client:
        assert self.settings is not None, "an S3 store keeps its settings"
        return s3_client(self.settings)

    def size(self, relative: str) -> int | None:
        """Size of a landed file, or None when it is absent."""
        uri = self.uri(relative)
        if is_s3(uri):
            from botocore.exceptions import ClientError

            bucket, key = split_s3(uri)
            try:
                return int(self._client().head_object(Bucket=bucket, Key=key)["ContentLength"])
            except ClientError:
                return None
        path = Path(uri)
        return path.stat().st_size if path.is_file() else None

    def put(self, local: Path, relative: str, *, keep: bool = False) -> str:
        """Publish a verified local file under its final name and return its URI. An S3 store
        uploads it, then deletes it unless `keep`; a local store moves it (see `local_path`)."""
        uri = self.uri(relative)
        if is_s3(uri):
            bucket, key = split_s3(uri)
            self._client().upload_file(str(local), bucket, key)
            if not keep:
                local.unlink(missing_ok=True)
        else:
            target = Path(uri)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.move(str(local), tmp)
            os.replace(tmp, target)
        return uri

    def read_bytes(self, relative: str) -> bytes | None:
        """A small object's bytes, or None when it is absent."""
        return read_object(self.uri(relative), self.settings)

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a small object atomically (see `write_object`)."""
        write_object(self.uri(relative), data, self.settings)

    def read_text(self, relative: str) -> str | None:
        data = self.read_bytes(relative)
        return None if data is None else data.decode()

    def write_text(self, relative: str, text: str) -> None:
        self.write_bytes(relative, text.encode())

    def get_json(self, relative: str) -> Any:
        data = self.read_bytes(relative)
        return None if data is None else json.loads(data)

    def put_json(self, relative: str, value: Any) -> None:
        self.write_bytes(relative, json.dumps(value, separators=(",", ":")).encode())

    def names(self, folder: str, suffix: str = "") -> list[str]:
        """Object names (relative to the store) directly under `folder`, ending with `suffix`."""
        if self.settings is not None:
            bucket, prefix = split_s3(self.uri(f"{folder}/"))
            out: list[str] = []
            for page in (
                self._client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            ):
                out += [
                    f"{folder}/{o['Key'][len(prefix) :]}"
                    for o in page.get("Contents", [])
                    if o["Key"].endswith(suffix)
                ]
            return sorted(out)
        base = Path(self.uri(folder))
        return (
            sorted(f"{folder}/{p.name}" for p in base.iterdir() if p.name.endswith(suffix))
            if base.is_dir()
            else []
        )

    def clear(self) -> None:
        """Remove every object of the store."""
        if self.settings is None:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        client = self._client()
        bucket, prefix = split_s3(f"{self.root}/")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})

    def local_path(self, relative: str) -> Path | None:
        """Where a file of a store on this machine's disk is (None for an S3 store)."""
        return None if self.settings is not None else Path(self.uri(relative))

    @contextmanager
    def open_local(self, relative: str) -> Iterator[Path]:
        """A local path with the file's bytes (downloaded from S3 when needed)."""
        uri = self.uri(relative)
        if not is_s3(uri):
            yield Path(uri)
            return
        bucket, key = split_s3(uri)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(key).name
            self._client().download_file(bucket, key, str(path))
            yield path


def is_delta(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table exists at `path` (a missing bucket or prefix means no table yet)."""
    from delta.tables import DeltaTable

    try:
        return bool(DeltaTable.isDeltaTable(spark, path))
    except Exception:  # noqa: BLE001 - any failure to find a table log is "no table"
        return False


# delta-rs's object_store retries for up to 3 minutes by default: the API answers 503, and the run
# ledger fails its run, sooner than that.
DELTA_RS_CLIENT_DEFAULTS = {
    "max_retries": "3",
    "retry_timeout": "15s",
    "timeout": "30s",
    "connect_timeout": "5s",
}


def delta_storage_options(settings: Settings) -> dict[str, Any]:
    """Options for delta-rs (`deltalake`) to read tables on S3/MinIO without a JVM."""
    if not settings.lake_is_s3:
        return {}
    options: dict[str, Any] = {"AWS_REGION": settings.aws_region}
    if settings.s3_endpoint_url:
        options["AWS_ENDPOINT_URL"] = settings.s3_endpoint_url
        if settings.s3_endpoint_url.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if settings.aws_access_key_id:
        options["AWS_ACCESS_KEY_ID"] = settings.aws_access_key_id
    if settings.aws_secret_access_key is not None:
        options["AWS_SECRET_ACCESS_KEY"] = settings.aws_secret_access_key.get_secret_value()
    return options


def delta_rs_uri(spark_uri: str) -> str:
    """delta-rs wants `s3://` where Spark wants `s3a://`."""
    return "s3://" + spark_uri[len("s3a://") :] if spark_uri.startswith("s3a://") else spark_uri


P = ParamSpec("P")
R = TypeVar("R")


def _named_failures(
    method: Callable[Concatenate[DeltaReader, Table, P], R],
) -> Callable[Concatenate[DeltaReader, Table, P], R]:
    """delta-rs reports a store that stopped answering as "Kernel error -> Generic S3 error":
    one line that names the table and the store instead (a StorageError)."""

    def named(self: DeltaReader, table: Table, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, table, *args, **kwargs)
        except OSError as exc:
            where = (self._settings.s3_endpoint_url or "S3") if self._settings.lake_is_s3 else "disk"
            raise StorageError(f"cannot read {table.path} from the lake ({where}): {one_line(exc)}") from exc

    named.__name__, named.__doc__ = method.__name__, method.__doc__
    return named


class DeltaReader:
    """Reads tables under LAKE_ROOT with delta-rs (local folder or S3/MinIO), no JVM. A failing
    store is a StorageError naming the table and the store."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        options = {k: str(v) for k, v in delta_storage_options(settings).items()}
        self._options = {**DELTA_RS_CLIENT_DEFAULTS, **options} if settings.lake_is_s3 else options

    def uri(self, table: Table) -> str:
        return delta_rs_uri(lake_path(self._settings, table.path))

    @_named_failures
    def version(self, table: Table) -> int | None:
        """The table's latest committed version, or None when there is no Delta table there."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return int(
                DeltaTable(self.uri(table), storage_options=self._options, without_files=True).version()
            )
        except TableNotFoundError:
            return None

    @_named_failures
    def table(self, table: Table) -> Any | None:
        """The latest version's `deltalake.DeltaTable` (log and file list, no data read), or None
        when there is no Delta table there."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(self.uri(table), storage_options=self._options)
        except TableNotFoundError:
            return None

    @_named_failures
    def missing_files(self, table: Table) -> list[str]:
        """The data files the table's latest version lists that storage no longer holds (a file
        deleted by hand, a lost object): such a table cannot be read whole. [] when there is no
        table. One listing of the table's folder, not a request per file."""
        log = self.table(table)
        if log is None:
            return []
        root = lake_path(self._settings, table.path)
        if is_s3(root):
            bucket, prefix = split_s3(f"{root}/")
            pages = (
                s3_client(self._settings)
                .get_paginator("list_objects_v2")
                .paginate(Bucket=bucket, Prefix=prefix)
            )
            present = {obj["Key"][len(prefix) :] for page in pages for obj in page.get("Contents", [])}
        else:
            present = {p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file()}
        # Partition folders are escaped (`%3A`) on disk and in the log alike: compare them unescaped.
        listed = log.get_add_actions().column("path").to_pylist()
        return sorted({unquote(name) for name in listed} - {unquote(name) for name in present})

    @_named_failures
    def repair(self, table: Table) -> None:
        """Drop the data files storage no longer holds from the table's log (one FSCK commit): it
        reads again, without their rows, until a run writes them back."""
        from deltalake import DeltaTable

        DeltaTable(self.uri(table), storage_options=self._options).repair(dry_run=False)

    @_named_failures
    def history(self, table: Table, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` commits' info, newest first (`version`, `userMetadata` = the run id
        of a job's commit, ...), or [] when there is no table: the API's consistent reads need it."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            table_log = DeltaTable(self.uri(table), storage_options=self._options)
        except TableNotFoundError:
            return []
        return list(table_log.history(limit))

    @_named_failures
    def read(self, table: Table, version: int) -> Any:
        """The whole table at exactly `version`, as a pyarrow Table."""
        from deltalake import DeltaTable

        return DeltaTable(self.uri(table), version=version, storage_options=self._options).to_pyarrow_table()

    @_named_failures
    def rows_where(self, table: Table, column: str, value: Any) -> list[dict[str, Any]]:
        """The latest version's rows whose `column` equals `value` (none when there is no table):
        a job's small control tables, read without starting Spark."""
        import pyarrow.dataset as ds
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            dataset = DeltaTable(self.uri(table), storage_options=self._options).to_pyarrow_dataset()
        except TableNotFoundError:
            return []
        # One thread: see LedgerStore.read (delta-rs's threaded scan may abort at exit).
        return list(dataset.to_table(filter=ds.field(column) == value, use_threads=False).to_pylist())


class Lake:
    """LAKE_ROOT as a run uses it, built once at the entry point and handed to the steps: where
    each table lives for Spark, the Delta reader (no JVM), and the small-object stores under it.
    The settings stay inside, as the clients' configuration."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.reader = DeltaReader(settings)

    def path(self, table: Table) -> str:
        """The table's location as Spark wants it (`s3a://...` or an absolute local path)."""
        return lake_path(self._settings, table.path)

    def store(self, *prefix: str) -> RawStore:
        """The object store under `prefix` (a folder of the lake)."""
        return RawStore(self._settings, *prefix)

    def check(self) -> None:
        """Fail fast, before Spark starts, when the lake cannot be used (see `check_lake`)."""
        check_lake(self._settings)
