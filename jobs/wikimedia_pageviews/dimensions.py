"""The wiki's dimensions from its SQL dumps: articles, redirects and category members.

Each dump is parsed in its own Spark task (all in parallel), keeping only the rows the answers
need; the three tables are rebuilt only when the dumps changed (see `refresh_dimensions`). Each
table's rows are handed to the job before they are written. The parses, hand-offs and writes are
timed as the run's stages (`parse_<dump>`, `ready_<table>`, `write_<table>`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias
from pyspark.sql.types import DataType, IntegerType, LongType, StringType, StructField, StructType

from common.delta import replace_where
from common.errors import SourceError
from common.storage import Lake, is_delta
from common.tables import WIKI_ARTICLES, WIKI_CATEGORY_MEMBERS, WIKI_REDIRECTS, Table
from jobs.wikimedia_pageviews import extract, transform
from jobs.wikimedia_pageviews.extract import Dumps
from jobs.wikimedia_pageviews.load import wiki_predicate, write_stage

if TYPE_CHECKING:
    from common.runner import JobRun

log = logging.getLogger(__name__)

# Called with each dimension table and the wiki's rows of it (without `wiki`) as soon as they are
# known: read from the lake, or derived from the parsed dumps before any table is written.
OnDimension = Callable[[Table, DataFrame], None]
DIMENSIONS = (WIKI_ARTICLES, WIKI_REDIRECTS, WIKI_CATEGORY_MEMBERS)

# Part of the dimensions' fingerprint: bump it when the dump parsing or the dimension rules change.
DIMENSIONS_VERSION = 1


def _schema(**columns: DataType) -> StructType:
    """The columns a dump's rows are read as, in order (all nullable)."""
    return StructType([StructField(name, kind) for name, kind in columns.items()])


_ID, _INT, _TEXT = LongType(), IntegerType(), StringType()
DUMP_SCHEMAS: dict[str, StructType] = {
    "page": _schema(page_id=_ID, page_namespace=_INT, page_title=_TEXT, page_is_redirect=_INT),
    "redirect": _schema(rd_from=_ID, rd_namespace=_INT, rd_title=_TEXT, rd_interwiki=_TEXT),
    "categorylinks": _schema(cl_from=_ID, cl_to=_TEXT, cl_target_id=_ID, cl_type=_TEXT),
    "linktarget": _schema(lt_id=_ID, lt_namespace=_INT, lt_title=_TEXT),
    "page_props": _schema(pp_page=_ID, pp_propname=_TEXT),
}
# Rows dropped inside the parsing task, so only what the answers need is ever shuffled or cached.
DUMP_KEEP: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "page": ("page_namespace", (0, transform.CATEGORY_NAMESPACE)),
    "categorylinks": ("cl_type", ("page",)),
    "linktarget": ("lt_namespace", (transform.CATEGORY_NAMESPACE,)),
    "page_props": ("pp_propname", ("hiddencat",)),
}


def refresh_dimensions(
    job: JobRun,
    spark: SparkSession,
    dumps: Dumps,
    wiki: str,
    *,
    force: bool = False,
    on_dimension: OnDimension | None = None,
) -> None:
    """Build the dimensions unless they were built from these very dumps (same URIs and sizes);
    `on_dimension` gets each table's rows either way.

    Parsing the real dumps takes minutes per table; reprocessing a day should not pay it again.
    The marker is written only after all three tables committed, so a failed build reruns.
    """
    store = job.lake.store("raw", "wikimedia")
    marker = f"state/{wiki}-dimensions.json"
    fingerprint = dumps.fingerprint(DIMENSIONS_VERSION)
    paths = [job.lake.path(t) for t in DIMENSIONS]
    built = all(is_delta(spark, path) for path in paths)
    if not force and built and store.read_text(marker) == fingerprint:
        log.info("SQL dumps unchanged since the %s dimensions were built: kept", wiki)
        _hand(job, on_dimension, {t: read_dimension(spark, job.lake, t, wiki) for t in DIMENSIONS})
        return
    build_dimensions(job, spark, dumps, wiki, on_dimension=on_dimension)
    store.write_text(marker, fingerprint)


def build_dimensions(
    job: JobRun,
    spark: SparkSession,
    dumps: Dumps,
    wiki: str,
    *,
    on_dimension: OnDimension | None = None,
) -> None:
    """Parse the SQL dumps (one Spark task per dump, side by side) and replace the wiki's dimensions.

    Each table's rows go to `on_dimension` before any is written: the job resolves its views and
    ranks its categories while the three tables are written, side by side. Articles and redirects
    need only the page and redirect dumps: they go as soon as those two are parsed, while the
    larger categorylinks dump may still be parsed.
    """
    # The parsed dumps are held for the run: the job's frames are built on them, and unpersisting
    # a frame drops every cache built on it that is not loaded yet (Spark re-caches the
    # dependents): releasing them here cost a second computation of the signals (measured).
    layout, frames = _read_dumps(spark, job, dumps)
    with extract.dump_errors():
        counts = {table: job.beside(f"parse_{table}", frame.count) for table, frame in frames.items()}
        with job.joined(*counts.values()):
            for dump in ("page", "redirect"):
                counts[dump].result()
            articles = transform.build_articles(frames["page"])
            tables = {
                WIKI_ARTICLES: articles,
                WIKI_REDIRECTS: transform.build_redirects(frames["page"], frames["redirect"], articles),
            }
            _hand(job, on_dimension, tables)
            log.info("parsed the SQL dumps, rows kept: %s", {t: c.result() for t, c in counts.items()})
    tables[WIKI_CATEGORY_MEMBERS] = transform.build_category_members(
        frames["categorylinks"],
        linktarget=frames.get("linktarget"),
        layout=layout,
        articles=articles,
        page=frames["page"],
        page_props=frames["page_props"],
    )
    _hand(job, on_dimension, {WIKI_CATEGORY_MEMBERS: tables[WIKI_CATEGORY_MEMBERS]})
    job.side_by_side({write_stage(t): partial(_write, job, t, frame, wiki) for t, frame in tables.items()})


def _hand(job: JobRun, on_dimension: OnDimension | None, tables: dict[Table, DataFrame]) -> None:
    """`on_dimension` for each of `tables`, side by side (each stage `ready_<table>`)."""
    if on_dimension is not None:
        job.side_by_side({f"ready_{t.name}": partial(on_dimension, t, frame) for t, frame in tables.items()})


def _read_dumps(spark: SparkSession, job: JobRun, dumps: Dumps) -> tuple[str, dict[str, DataFrame]]:
    """The categorylinks layout, and the dumps it needs read as rows (persisted, not yet parsed)."""
    links_uri = dumps.uris.get("categorylinks")
    if links_uri is None:
        raise SourceError("the categorylinks dump is missing")
    layout = transform.categorylinks_layout(extract.read_header(links_uri, job.settings).columns)
    log.info("categorylinks layout: %s", layout)
    tables = ["page", "redirect", "categorylinks", "page_props"]
    if layout == "normalised":
        tables.append("linktarget")
    frames: dict[str, DataFrame] = {}
    for table in tables:
        uri = dumps.uris.get(table)
        if uri is None:
            raise SourceError(f"the {table} dump is missing (needed with the {layout} categorylinks layout)")
        frame = extract.read_dump(spark, uri, DUMP_SCHEMAS[table], DUMP_KEEP.get(table))
        frames[table] = job.persist(frame, StorageLevel.MEMORY_AND_DISK)
    return layout, frames


def _write(job: JobRun, table: Table, df: DataFrame, wiki: str) -> None:
    """Replace the wiki's rows of a dimension table with `df` (given without the `wiki` column)."""
    with_wiki = df.select(F.lit(wiki).alias("wiki"), "*")
    replace_where(with_wiki, job.lake.path(table), wiki_predicate(wiki))


def read_dimension(spark: SparkSession, lake: Lake, table: Table, wiki: str) -> DataFrame:
    """One wiki's rows of a dimension table, without the `wiki` column."""
    return spark.read.format("delta").load(lake.path(table)).where(F.col("wiki") == wiki).drop("wiki")
