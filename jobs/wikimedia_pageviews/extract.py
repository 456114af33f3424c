"""Extract: land the dumps in the raw zone (HTTP, in parallel, verified) and read them with Spark.

Landing mirrors the dumps tree under `LAKE_ROOT/raw/wikimedia/` (`other/pageviews/...` and
`{wiki}/{date}/...`). A landed file was verified before it got its final name, so an existing file
is skipped; a `latest` SQL dump is re-checked with a HEAD, since `latest` moves. Verified means its
size against Content-Length, and for the SQL dumps a full gzip read too; an hourly file's gzip
(its end and CRC) is checked by the one read that aggregates it, and a file that fails there is
downloaded again, verified whole (`reland`): a day's files are then decompressed once, not twice.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias
from pyspark.sql.types import StructType

from common.errors import SourceError
from common.http import DEFAULT_TIMEOUT, download, make_session
from common.schema import local_frame, struct
from common.settings import Settings
from common.storage import RawStore, is_s3, s3_client, split_s3
from jobs.wikimedia_pageviews.sqldump import DumpError, DumpHeader, Value, iter_dump, parse_header

log = logging.getLogger(__name__)

TABLES = ("page", "redirect", "categorylinks", "linktarget", "page_props")
OPTIONAL_TABLES = frozenset({"linktarget"})  # only the normalised categorylinks layout needs it
PROGRESS_EVERY = 5.0


def day_file_times(day: date) -> list[datetime]:
    """The 24 file timestamps of UTC day D (a name carries the END of its hour): D 01:00 .. D+1 00:00."""
    start = datetime(day.year, day.month, day.day)
    return [start + timedelta(hours=h) for h in range(1, 25)]


def hourly_relative(ts: datetime) -> str:
    return f"other/pageviews/{ts:%Y}/{ts:%Y-%m}/pageviews-{ts:%Y%m%d-%H}0000.gz"


def dump_relative(wiki: str, dump_date: str, table: str) -> str:
    return f"{wiki}/{dump_date}/{wiki}-{dump_date}-{table}.sql.gz"


@dataclass(frozen=True)
class Item:
    """One file to land: where it comes from, where it goes, whether a 404 is acceptable."""

    relative: str
    required: bool
    mutable: bool = False
    verify_gzip: bool = True


@dataclass(frozen=True)
class Dumps:
    """The landed SQL dumps: each table's URI (None: it answered 404, allowed for optional ones)
    and the size of each one landed."""

    uris: dict[str, str | None]
    sizes: dict[str, int]

    def fingerprint(self, version: int) -> str:
        """What dimensions built from these dumps depend on: each dump's URI and size, and `version`."""
        return json.dumps({"version": version, "dumps": self.listed()}, sort_keys=True)

    def listed(self) -> dict[str, list[Any]]:
        """`table: [URI, size]` of each dump landed."""
        return {t: [uri, self.sizes.get(t)] for t, uri in sorted(self.uris.items()) if uri}


@dataclass
class Landing:
    """What the raw zone holds for this run: each day's hourly files by hour of the day (0 is the
    file of 00:00-01:00, named 010000), and the SQL dumps. A missing hour has no entry."""

    hourly: dict[date, dict[int, str]]
    dumps: Dumps
    missing: list[str] = field(default_factory=list)

    def hours(self, day: date) -> int:
        return len(self.hourly.get(day, {}))


class _Progress:
    """Thread-safe counters, logged at most every few seconds and at the end."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = self.skipped = self.missing = 0
        self.bytes = 0
        self.started = time.monotonic()
        self.last = 0.0
        self.lock = threading.Lock()

    def add(self, *, size: int = 0, skipped: bool = False, missing: bool = False) -> None:
        with self.lock:
            self.done += 1
            self.bytes += size
            self.skipped += int(skipped)
            self.missing += int(missing)
            now = time.monotonic()
            if now - self.last >= PROGRESS_EVERY or self.done == self.total:
                self.last = now
                self.log()

    def log(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        log.info(
            "landing: %d/%d files, %.1f MB downloaded, %.1f MB/s (%d already landed, %d missing)",
            self.done,
            self.total,
            self.bytes / 1e6,
            self.bytes / 1e6 / elapsed,
            self.skipped,
            self.missing,
        )


class Lander:
    """Downloads files into the raw zone with a pool of threads, one HTTP session per thread."""

    def __init__(self, settings: Settings, workers: int = 8, attempts: int = 4, backoff: float = 0.5) -> None:
        self.base = settings.wikimedia_dumps_url.rstrip("/")
        self.store = RawStore(settings, "raw", "wikimedia")
        self.workers = workers
        self.attempts = attempts
        self.backoff = backoff
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = make_session(total_retries=self.attempts, backoff=self.backoff)
            self._local.session = session
        return session

    def _remote_size(self, url: str) -> int | None:
        try:
            resp = self._session().head(url, timeout=DEFAULT_TIMEOUT, allow_redirects=True)
        except requests.RequestException:
            return None
        length = resp.headers.get("Content-Length")
        return int(length) if resp.status_code == 200 and length is not None else None

    def _fetch(self, url: str, workdir: Path, verify_gzip: bool) -> tuple[Path, int] | None:
        """`common.http.download` (a body cut short is one of its retried failures); None on 404.
        No SHA-256: nothing records it here, and over a real-size day's 1.4 GB it cost ~0.8 s of
        CPU while Spark starts beside the landing."""
        got = download(
            self._session(), url, workdir, gzip_check=verify_gzip, digest=False, attempts=self.attempts
        )
        return None if got is None else (got.path, got.size)

    def land_one(self, item: Item, workdir: Path, progress: _Progress) -> str | None:
        """The file's URI in the raw zone, or None when the source answers 404."""
        url = f"{self.base}/{item.relative}"
        landed = self.store.size(item.relative)
        if landed is not None and (not item.mutable or self._remote_size(url) in (landed, None)):
            progress.add(skipped=True)
            return self.store.uri(item.relative)
        got = self._fetch(url, workdir, item.verify_gzip)
        if got is None:
            progress.add(missing=True)
            if item.required:
                raise SourceError(f"GET {url} answered 404 (required file)")
            log.warning("missing upstream (404): %s", url)
            return None
        path, size = got
        uri = self.store.put(path, item.relative)
        progress.add(size=size)
        return uri

    def reland(self, uri: str) -> None:
        """Download a landed file again, verified whole, in place of the one whose read failed."""
        relative = uri.removeprefix(self.store.uri(""))
        workdir = Path(tempfile.mkdtemp(prefix="wikimedia-landing-"))
        try:
            got = self._fetch(f"{self.base}/{relative}", workdir, verify_gzip=True)
            if got is None:
                raise SourceError(f"GET {self.base}/{relative} answered 404 (landed before)")
            self.store.put(got[0], relative)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def land(self, items: Sequence[Item], on_landed: OnLanded | None = None) -> dict[str, str | None]:
        """Land `items` side by side; `on_landed(relative, uri)` is called as each one ends (in the
        thread that landed it, before `land` can return)."""
        progress = _Progress(len(items))
        workdir = Path(tempfile.mkdtemp(prefix="wikimedia-landing-"))

        def one(item: Item) -> str | None:
            uri = self.land_one(item, workdir, progress)
            if on_landed is not None:
                on_landed(item.relative, uri)
            return uri

        try:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="landing") as pool:
                futures = {it.relative: pool.submit(one, it) for it in items}
                return {relative: future.result() for relative, future in futures.items()}
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


OnLanded = Callable[[str, "str | None"], None]
OnHour = Callable[[date, int, "str | None"], None]
OnDumps = Callable[[Dumps], None]


class _Tracker:
    """The landing's `on_landed`: `on_hour(day, hour, uri)` for each hourly file (uri None: 404),
    and, once every SQL dump is done, their `Dumps` (`landed`, with their sizes) to `on_dumps`."""

    def __init__(
        self,
        hours: dict[date, list[str]],
        dumps: dict[str, str],
        store: RawStore,
        on_hour: OnHour | None,
        on_dumps: OnDumps | None,
    ) -> None:
        self.hour_of = {rel: (day, hour) for day, rels in hours.items() for hour, rel in enumerate(rels)}
        self.relatives = dumps
        self.table_of = {rel: table for table, rel in dumps.items()}
        self.store, self.on_hour, self.on_dumps = store, on_hour, on_dumps
        self.dumps: dict[str, str | None] = {}
        self.landed: Dumps | None = None
        self.lock = threading.Lock()

    def __call__(self, relative: str, uri: str | None) -> None:
        at = self.hour_of.get(relative)
        if at is not None and self.on_hour is not None:
            self.on_hour(*at, uri)
        table = self.table_of.get(relative)
        if table is None:
            return
        with self.lock:
            self.dumps[table] = uri
            done = len(self.dumps) == len(self.table_of)
        if not done:
            return
        sizes = {
            t: n
            for t, uri in self.dumps.items()
            if uri and (n := self.store.size(self.relatives[t])) is not None
        }
        self.landed = Dumps(uris=dict(sorted(self.dumps.items())), sizes=sizes)
        if self.on_dumps is not None:
            self.on_dumps(self.landed)


def land(
    settings: Settings,
    wiki: str,
    days: Sequence[date],
    dump_date: str,
    *,
    workers: int = 8,
    backoff: float = 0.5,
    on_hour: OnHour | None = None,
    on_dumps: OnDumps | None = None,
) -> Landing:
    """Land the five SQL dumps and the hourly files of `days`; a missing hour is recorded, not fatal.

    The dumps are asked first (the dimensions built from them are the longest work of a first
    run), then the hours in order. `on_dumps(dumps)` is called once the dumps have all landed
    and `on_hour(day, hour, uri)` as each hourly file has (uri None: it answered 404), so the
    work on them need not wait for the rest.
    """
    dumps = {table: dump_relative(wiki, dump_date, table) for table in TABLES}
    moving = dump_date == "latest"
    items = [Item(rel, required=t not in OPTIONAL_TABLES, mutable=moving) for t, rel in dumps.items()]
    hours = {day: [hourly_relative(ts) for ts in day_file_times(day)] for day in days}
    items += [Item(rel, required=False, verify_gzip=False) for rels in hours.values() for rel in rels]
    lander = Lander(settings, workers=workers, backoff=backoff)
    tracker = _Tracker(hours, dumps, lander.store, on_hour, on_dumps)
    result = lander.land(items, tracker)
    assert tracker.landed is not None  # every item ends in `on_landed` before `land` returns
    return Landing(
        hourly={
            day: {h: u for h, rel in enumerate(rels) if (u := result[rel]) is not None}
            for day, rels in hours.items()
        },
        dumps=tracker.landed,
        missing=[rel for rel, uri in result.items() if uri is None],
    )


# --- reading with Spark ---------------------------------------------------------------------------


def open_raw(uri: str, settings: Settings) -> gzip.GzipFile:
    """A decompressed byte stream of a landed `.gz` file, local or on S3 (never read whole)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        body: Any = s3_client(settings).get_object(Bucket=bucket, Key=key)["Body"]
        return gzip.GzipFile(fileobj=body, mode="rb")
    return gzip.GzipFile(uri, mode="rb")


def read_header(uri: str, settings: Settings) -> DumpHeader:
    """The dump's CREATE TABLE, read from its first bytes on the driver."""
    headers: list[DumpHeader] = []
    with open_raw(uri, settings) as stream:
        rows = iter_dump(stream, (), on_header=headers.append)
        next(rows, None)
    if not headers:
        with open_raw(uri, settings) as stream:
            return parse_header(stream.read(16 << 20))
    return headers[0]


def read_dump(
    spark: SparkSession,
    uri: str,
    schema: StructType,
    keep: tuple[str, tuple[Value, ...]] | None = None,
) -> DataFrame:
    """A dump table as a DataFrame of the schema's columns, parsed in one Spark task (streaming).

    Read by the project's `sqldump` Spark source (jvm/): the bytes are cut in the JVM, so no row
    crosses from a Python worker (the Python parser, `sqldump.iter_dump`, is its reference: a
    differential test holds the two to the same rows). `keep=(column, values)` drops rows in the
    same task, before anything is cached or shuffled (e.g. only `hiddencat` properties). A
    malformed dump fails the action with a `SqlDumpException`; `dump_errors` makes it a DumpError.
    """
    frame = spark.read.format("sqldump").schema(schema).load(uri)
    if keep is not None:
        frame = frame.where(F.col(keep[0]).isin(list(keep[1])))
    return frame


_HOURLY_FAILURE_RE = re.compile(r"pageviews: cannot read (\S+): ([^\n]*)")


def unreadable_hourly(exc: BaseException) -> tuple[str, str] | None:
    """(URI, cause) of the hourly file a failed Spark read names, if that is why it failed."""
    match = _HOURLY_FAILURE_RE.search(str(exc))
    # Hadoop names a local file `file:/...`; the landing knows it by its path.
    return None if match is None else (match.group(1).removeprefix("file:"), match.group(2).strip())


_DUMP_FAILURE_RE = re.compile(r"(?:SqlDumpException|IOException): (SQL dump [^\n]*)")


@contextmanager
def dump_errors() -> Iterator[None]:
    """Turn a failed Spark action over a dump into a one-line DumpError naming the file and cause."""
    try:
        yield
    except Exception as exc:
        match = _DUMP_FAILURE_RE.search(str(exc))
        if match is None:
            raise
        raise DumpError(match.group(1).strip()) from None


def read_hourly(spark: SparkSession, by_day: dict[date, list[str]], codes: Sequence[str]) -> DataFrame:
    """The lines of the wiki's domain `codes` in the hourly files, as (`day`, `title`, `views`).

    Read by the project's `pageviews` Spark source (jvm/): it matches the codes on the raw bytes,
    so the lines of other wikis (most of them) never become rows, and cuts the fields in one pass
    (measured ~40% faster than the text source and SQL string functions). A line of these codes
    that does not parse comes back as a null `title` with one view.
    """
    return scan_pageviews(spark, by_day, codes, ["title", "views"], "day date, title string, views long")


def sum_hourly(spark: SparkSession, by_day: dict[date, dict[int, str]], codes: Sequence[str]) -> DataFrame:
    """The one read of the hourly files of `by_day` (each day's files by hour of the day):
    (`day`, `title`, `views`, `mobile`, `hours`), a row per raw title and task of the `pageviews`
    source's `sums` mode, and one per task with a null title whose views count its bad lines.

    `codes` is (desktop, mobile) as `transform.wiki_codes` gives them; `mobile` is the views of
    the mobile code and `hours` the views of each file as `hour:views` pairs. A title is in
    several rows when several tasks (or reads of the same day's other hours) read its day:
    summing them per (`day`, `title`) gives the day's totals, and the few rows of the titles the
    job ranks give its hourly signals (`traffic`), with no second read of any file.
    """
    columns = ["title", "views", "mobile", "hours"]
    empty = "day date, title string, views long, mobile long, hours string"
    paths = {day: list(hours.values()) for day, hours in by_day.items()}
    ids = {day: json.dumps(list(hours)) for day, hours in by_day.items()}
    return scan_pageviews(spark, paths, codes, columns, empty, file_ids=ids, sums="true", mobile=codes[1])


def scan_pageviews(
    spark: SparkSession,
    by_day: dict[date, list[str]],
    codes: Sequence[str],
    columns: Sequence[Column | str],
    empty_schema: str,
    *,
    file_ids: dict[date, str] | None = None,
    **options: str,
) -> DataFrame:
    """One `pageviews` read per day of `by_day` (its files, `codes`, the source's `options` and
    the day's `file_ids` if given), each row with its `day` then `columns`: the union of the days,
    or an empty frame of `empty_schema`. The day is that of the set a file is in (no per-row
    `input_file_name()`)."""
    if not codes:
        raise ValueError("no domain code given")
    frames = []
    for day, paths in sorted(by_day.items()):
        if not paths:
            continue
        reader = spark.read.format("pageviews").option("codes", ",".join(codes))
        for key, value in options.items():
            reader = reader.option(key, value)
        if file_ids is not None:
            reader = reader.option("fileIds", file_ids[day])
        # From ISO text: a Python date literal goes through java.sql.Date, in the JVM's zone.
        frames.append(reader.load(paths).select(F.lit(day.isoformat()).cast("date").alias("day"), *columns))
    if not frames:
        return local_frame(spark, [], struct(empty_schema))
    return functools.reduce(DataFrame.unionByName, frames)
