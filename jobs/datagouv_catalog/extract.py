"""Find the latest catalogue exports, land them under LAKE_ROOT, and read them with Spark.

Sources: the catalogue dataset's resources (`extras["csv-export:model"]`), falling back to the
stable redirect URLs. Files land once per run date in `raw/datagouv/{run_date}/`; a rerun of the
same run date reuses them, so it computes the same answer.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

import requests
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as st

from common.errors import SourceError, StorageError, one_line
from common.http import DEFAULT_TIMEOUT, backoff_delay, download, make_session
from common.settings import Settings
from common.spark import tasks_on_driver
from common.storage import RawStore, is_s3, s3_client, split_s3

log = logging.getLogger(__name__)

CATALOGUE_ID = "5d13a8b6634f41070a43dff3"
STABLE_IDS = {
    "dataset": "f868cca6-8da1-4369-a78d-47463f19a9a3",
    "organization": "b7bbfedc-2448-4135-a6c7-104548d396e7",
}
RAW_NAMES = {"dataset": "datasets.csv", "organization": "organizations.csv"}
DATASET_COLUMNS = ("id", "title", "description", "tags", "organization_id", "metric.followers")
ORGANIZATION_COLUMNS = ("id", "name", "metric.followers")
# The dialect of the exports (sources.md): `;`, `"` quoting with `""` doubling, multi-line cells.
CSV_OPTIONS = {
    "sep": ";",
    "quote": '"',
    "escape": '"',
    "multiLine": "true",
    "encoding": "UTF-8",
    "header": "true",
    "enforceSchema": "true",
    "mode": "FAILFAST",
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
}
HTTP_RETRIES = 3
DOWNLOAD_ATTEMPTS = 3


def site_base(api_url: str) -> str:
    """`https://www.data.gouv.fr/api/1` -> `https://www.data.gouv.fr` (where `/fr/datasets/r/` lives)."""
    parsed = urlparse(api_url.rstrip("/"))
    path = parsed.path
    cut = path.find("/api/")
    if cut >= 0:
        path = path[:cut]
    elif path.endswith("/api"):
        path = path[: -len("/api")]
    return f"{parsed.scheme}://{parsed.netloc}{path}".rstrip("/")


def pick_export(resources: Sequence[dict[str, Any]], model: str) -> str | None:
    """The URL of the most recent CSV export resource of `model`, or None."""
    candidates = []
    for res in resources:
        extras = res.get("extras") or {}
        if extras.get("csv-export:model") != model or not res.get("url"):
            continue
        fmt = str(res.get("format") or "").lower()
        if fmt and fmt != "csv":
            continue
        stamp = str(res.get("last_modified") or res.get("created_at") or extras.get("csv-export:date") or "")
        candidates.append((stamp, str(res["url"])))
    if not candidates:
        return None
    return max(candidates)[1]


def export_urls(session: requests.Session, api_url: str) -> dict[str, list[str]]:
    """For each model, the URLs to try in order: the API's latest resource, then the stable URL."""
    base = site_base(api_url)
    urls: dict[str, list[str]] = {m: [f"{base}/fr/datasets/r/{uid}"] for m, uid in STABLE_IDS.items()}
    endpoint = f"{api_url.rstrip('/')}/datasets/{CATALOGUE_ID}/"
    try:
        resp = session.get(endpoint, timeout=DEFAULT_TIMEOUT)
        if resp.status_code != 200:
            raise SourceError(f"answered {resp.status_code}")
        resources = resp.json().get("resources") or []
    except (requests.RequestException, SourceError, ValueError, AttributeError) as exc:
        log.warning("catalogue API %s failed (%s); using the stable URLs", endpoint, one_line(exc))
        return urls
    for model, tried in urls.items():
        found = pick_export(resources, model)
        if found:
            tried.insert(0, found)
        else:
            log.warning("catalogue API lists no %s export; using the stable URL", model)
    return urls


PART_BYTES = 64 * 1024 * 1024
MAX_PARTS = 16
PARTS_SUFFIX = ".parts"
PARTS_MANIFEST = "_parts.json"
PARTS_DIR = "parts"


@dataclass(frozen=True)
class Landed:
    """The raw exports of one run date: the files as downloaded, and the datasets file cut at
    record boundaries into parts (each with the header) so that Spark parses them in parallel
    (a multi-line CSV file cannot be split by Spark itself)."""

    store: RawStore
    datasets: str
    organizations: str
    datasets_parts: str
    downloaded_bytes: int
    # Per export downloaded by this run: its URL (naming the resource id), bytes and sha256.
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The datasets file on this machine's disk (a local lake's, or this run's download kept in
    # its work folder): the CSV export copies records from it without fetching it back.
    local_datasets: Path | None = None
    # The parts this run cut, kept in its work folder: a local Spark reads them from there.
    local_parts: Path | None = None


def record_cuts(path: Path, parts: int) -> list[int]:
    """Offsets where records start, cutting the file into `parts` pieces of similar size.

    A line end closes a record when the quotes before it are even (`""` doubling keeps the
    parity), so one pass counting quote bytes finds the boundaries; C-speed byte counts only.
    """
    size = path.stat().st_size
    cuts: list[int] = []
    with path.open("rb") as fh:
        pos = quotes = 0  # quotes seen before `pos`
        for k in range(1, parts):
            target = size * k // parts
            while pos < target:
                block = fh.read(min(1 << 22, target - pos))
                if not block:
                    return cuts
                quotes += block.count(b'"')
                pos += len(block)
            while True:
                block = fh.read(1 << 16)
                if not block:
                    return cuts
                running, prev, cut = quotes, 0, -1
                while (nl := block.find(b"\n", prev)) >= 0:
                    running += block.count(b'"', prev, nl)
                    prev = nl + 1
                    if running % 2 == 0:
                        cut = nl + 1
                        break
                if cut >= 0:
                    quotes = running
                    pos += cut
                    fh.seek(pos)
                    cuts.append(pos)
                    break
                quotes += block.count(b'"')
                pos += len(block)
    return cuts


def split_parts(source: Path, workdir: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """Local part files of `source`, each starting with the header record."""
    size = source.stat().st_size
    count = max(1, min(MAX_PARTS, -(-size // part_bytes)))
    with source.open("rb") as fh:
        header = _first_record_bytes(fh)
    cuts = [c for c in record_cuts(source, count) if c > len(header)]
    bounds = [0, *cuts, size]
    paths = []
    with source.open("rb") as fh:
        for i, (start, end) in enumerate(itertools.pairwise(bounds)):
            path = workdir / f"part-{i:04d}.csv"
            with path.open("wb") as out:
                if i:
                    out.write(header)
                fh.seek(start)
                left = end - start
                while left > 0:
                    block = fh.read(min(1 << 22, left))
                    if not block:
                        break
                    out.write(block)
                    left -= len(block)
            paths.append(path)
    return paths


def _first_record_bytes(fh: BinaryIO) -> bytes:
    record = b""
    for line in fh:
        record += line
        if record.count(b'"') % 2 == 0:
            break
    return record


def _land_parts(store: RawStore, local: Path, name: str, workdir: Path) -> None:
    """Publish the parts of a landed file, then their manifest (which marks them complete)."""
    folder = name + PARTS_SUFFIX
    parts_dir = workdir / PARTS_DIR
    parts_dir.mkdir(exist_ok=True)
    paths = split_parts(local, parts_dir)
    for path in paths:
        _put(store, path, f"{folder}/{path.name}")
    manifest = parts_dir / PARTS_MANIFEST
    manifest.write_text(json.dumps({"source": name, "parts": [p.name for p in paths]}))
    _put(store, manifest, f"{folder}/{PARTS_MANIFEST}")
    log.info("split %s into %d parts for Spark", name, len(paths))


def _put(store: RawStore, local: Path, relative: str, *, keep: bool = False) -> None:
    try:
        store.put(local, relative, keep=keep)
    except Exception as exc:  # noqa: BLE001 - boto3/OS errors become one line
        raise StorageError(f"cannot land {relative} under {store.root}: {exc}") from None


def land_exports(settings: Settings, run_date: str, workdir: Path, *, redownload: bool = False) -> Landed:
    """Download both exports (unless this run date already has them) into the raw zone; the
    datasets file downloaded stays in `workdir` too (`Landed.local_datasets`).

    The datasets file is cut into parts Spark parses in parallel: in `workdir` when Spark's
    tasks run in this process (`Landed.local_parts`: they read this disk, not the store), else
    landed in the store once per run date. Order of publication: the parts and their manifest
    (when landed), then the raw file itself; so a landed raw file means complete parts, and a run
    killed half-way simply lands again.
    """
    store = RawStore(settings, "raw", "datagouv", run_date)
    ds_name = RAW_NAMES["dataset"]
    parts_manifest = f"{ds_name}{PARTS_SUFFIX}/{PARTS_MANIFEST}"
    local_tasks = tasks_on_driver(settings)
    todo = [m for m in RAW_NAMES if redownload or store.size(RAW_NAMES[m]) is None]
    sources: dict[str, dict[str, Any]] = {}
    local = store.local_path(ds_name)
    if todo:
        session = make_session(total_retries=HTTP_RETRIES, backoff=0.5)
        urls = export_urls(session, settings.datagouv_api_url)
        for model in todo:
            name = RAW_NAMES[model]
            kept = workdir / name if local is None and name == ds_name else None
            parts = not local_tasks and name == ds_name
            sources[f"source:{name}"] = _land_one(
                session, store, urls[model], name, workdir, kept, parts=parts
            )
            local = local or kept
    else:
        log.info("run date %s already landed its exports; reusing them", run_date)
    local_parts = None
    if local_tasks:
        local_parts = workdir / PARTS_DIR
        local_parts.mkdir(exist_ok=True)
        with contextlib.nullcontext(local) if local is not None else store.open_local(ds_name) as source:
            split_parts(source, local_parts)
    elif store.size(parts_manifest) is None:
        with store.open_local(ds_name) as landed:
            _land_parts(store, landed, ds_name, workdir)
    return Landed(
        store,
        store.uri(ds_name),
        store.uri(RAW_NAMES["organization"]),
        store.uri(ds_name + PARTS_SUFFIX),
        sum(source["bytes"] for source in sources.values()),
        sources,
        local,
        local_parts,
    )


def _land_one(  # noqa: PLR0917 - the landing's context, passed explicitly
    session: requests.Session,
    store: RawStore,
    urls: list[str],
    name: str,
    workdir: Path,
    keep: Path | None,
    *,
    parts: bool,
) -> dict[str, Any]:
    """Try each URL in turn, for a bounded number of rounds; publish the first verified file
    (its parts first, when `parts`; and move it to `keep` when given). Returns where it came
    from (the URL names the export resource), its bytes and sha256."""
    error = ""
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        for url in urls:
            try:
                got = download(session, url, workdir, attempts=1)
            except SourceError as exc:
                error = str(exc)
                log.warning("%s (try %d/%d)", error, attempt, DOWNLOAD_ATTEMPTS)
                continue
            if got is None:
                error = f"GET {url} answered 404"
                continue
            if parts:
                _land_parts(store, got.path, name, workdir)
            _put(store, got.path, name, keep=keep is not None)
            if keep is not None:
                got.path.replace(keep)
            sha256 = got.sha256 or ""  # asked for (download's default)
            log.info("landed %s (%d bytes, sha256 %s) from %s", name, got.size, sha256[:12], url)
            return {"url": url, "bytes": got.size, "sha256": sha256}
        if attempt < DOWNLOAD_ATTEMPTS:
            time.sleep(backoff_delay(attempt, cap=10.0))
    raise SourceError(f"data.gouv.fr {name.removesuffix('.csv')} export unavailable: {error}")


def _first_record(lines: Iterator[str]) -> str:
    """The first CSV record (a header could in principle span lines inside quotes)."""
    record = ""
    for line in lines:
        record += line
        if record.count('"') % 2 == 0:
            return record
    return record


def read_header(uri: str, settings: Settings) -> list[str]:
    """Column names of a landed CSV, read from its first bytes (no Spark needed)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        try:
            body = (
                s3_client(settings).get_object(Bucket=bucket, Key=key, Range="bytes=0-262143")["Body"].read()
            )
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot read {uri}: {exc}") from None
        text = body.decode("utf-8", errors="replace")
    else:
        with open(uri, encoding="utf-8", errors="replace", newline="") as fh:
            text = fh.read(262144)
    first = _first_record(iter(text.splitlines(keepends=True)))
    header = next(csv.reader([first.rstrip("\r\n")], delimiter=";", quotechar='"', doublequote=True), [])
    return [h.lstrip("\ufeff") for h in header]


def unique_names(header: Sequence[str]) -> list[str]:
    """Header names made unique: a repeated name gets `__2`, `__3`... (first occurrence keeps it)."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        count = seen.get(name, 0) + 1
        seen[name] = count
        names.append(name if count == 1 else f"{name}__{count}")
    return names


def require_columns(header: Sequence[str], required: Sequence[str], what: str) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise SourceError(f"{what} export lacks the required column '{missing[0]}'")


def read_export(spark: SparkSession, uri: str, header: Sequence[str]) -> DataFrame:
    """Every column as a string (no inference: cell text stays as written), named by the header."""
    names = unique_names(header)
    if names != list(header):
        _quiet_header_checker(spark)
    schema = st.StructType([st.StructField(n, st.StringType(), True) for n in names])
    return spark.read.schema(schema).options(**CSV_OPTIONS).csv(uri)


def _quiet_header_checker(spark: SparkSession) -> None:
    """Renamed duplicates differ from the header on purpose: Spark's per-file warning is noise."""
    with contextlib.suppress(Exception):
        jvm: Any = spark.sparkContext._jvm
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
            "org.apache.spark.sql.catalyst.csv.CSVHeaderChecker", jvm.org.apache.logging.log4j.Level.ERROR
        )
