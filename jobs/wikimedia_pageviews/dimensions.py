"""The wiki's dimensions from its SQL dumps: articles, redirects and category members.

Each dump is parsed in its own Spark task (all in parallel), keeping only the rows the answers
need; the three tables are rebuilt only when the dumps changed (see `refresh_dimensions`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual alias
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

from common.errors import SourceError
from common.settings import Settings
from common.storage import RawStore, is_delta, lake_path
from common.tables import WIKI_ARTICLES, WIKI_CATEGORY_MEMBERS, WIKI_REDIRECTS
from jobs.wikimedia_pageviews import extract, load, transform
from jobs.wikimedia_pageviews.extract import Landing

log = logging.getLogger(__name__)

# Part of the dimensions' fingerprint: bump it when the dump parsing or the dimension rules change.
DIMENSIONS_VERSION = 1

# Times a named stage of the run (the job passes its stage timer; untimed by default).
Timer = Callable[[str], AbstractContextManager[None]]


def _untimed(name: str) -> AbstractContextManager[None]:
    return nullcontext()


DUMP_SCHEMAS: dict[str, StructType] = {
    "page": StructType(
        [
            StructField("page_id", LongType()),
            StructField("page_namespace", IntegerType()),
            StructField("page_title", StringType()),
            StructField("page_is_redirect", IntegerType()),
        ]
    ),
    "redirect": StructType(
        [
            StructField("rd_from", LongType()),
            StructField("rd_namespace", IntegerType()),
            StructField("rd_title", StringType()),
            StructField("rd_interwiki", StringType()),
        ]
    ),
    "categorylinks": StructType(
        [
            StructField("cl_from", LongType()),
            StructField("cl_to", StringType()),
            StructField("cl_target_id", LongType()),
            StructField("cl_type", StringType()),
        ]
    ),
    "linktarget": StructType(
        [
            StructField("lt_id", LongType()),
            StructField("lt_namespace", IntegerType()),
            StructField("lt_title", StringType()),
        ]
    ),
    "page_props": StructType([StructField("pp_page", LongType()), StructField("pp_propname", StringType())]),
}
# Rows dropped inside the parsing task, so only what the answers need is ever shuffled or cached.
DUMP_KEEP: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "page": ("page_namespace", (0, transform.CATEGORY_NAMESPACE)),
    "categorylinks": ("cl_type", ("page",)),
    "linktarget": ("lt_namespace", (transform.CATEGORY_NAMESPACE,)),
    "page_props": ("pp_propname", ("hiddencat",)),
}


def build_dimensions(
    spark: SparkSession,
    settings: Settings,
    landing: Landing,
    wiki: str,
    *,
    stage: Timer = _untimed,
    articles_ready: threading.Event | None = None,
) -> None:
    """Parse the SQL dumps (one Spark task per dump, in parallel) and replace the wiki's dimensions.

    Articles and redirects need only the page and redirect dumps: they are written (and
    `articles_ready` set) as soon as those two are parsed, while the larger categorylinks dump
    is still being parsed; only the category members wait for it.
    """
    links_uri = landing.dumps["categorylinks"]
    if links_uri is None:
        raise SourceError("the categorylinks dump is missing")
    layout = transform.categorylinks_layout(extract.read_header(links_uri, settings).columns)
    log.info("categorylinks layout: %s", layout)
    tables = ["page", "redirect", "categorylinks", "page_props"]
    if layout == "normalised":
        tables.append("linktarget")
    frames: dict[str, DataFrame] = {}
    for table in tables:
        uri = landing.dumps[table]
        if uri is None:
            raise SourceError(f"the {table} dump is missing (needed with the {layout} categorylinks layout)")
        frame = extract.read_dump(spark, uri, DUMP_SCHEMAS[table], DUMP_KEEP.get(table))
        frames[table] = frame.persist(StorageLevel.MEMORY_AND_DISK)

    def write(path: str, df: DataFrame) -> None:
        with stage(f"write_{path.rsplit('/', 1)[-1]}"):
            with_wiki = df.select(F.lit(wiki).alias("wiki"), "*")
            load.replace(with_wiki, lake_path(settings, path), load.wiki_predicate(wiki))

    def count(table: str) -> int:
        with stage(f"parse_{table}"):
            return int(frames[table].count())

    try:
        with extract.dump_errors(), ThreadPoolExecutor(len(frames), thread_name_prefix="dump") as pool:
            counts = {table: pool.submit(count, table) for table in frames}
            log.info(
                "parsed the page and redirect dumps: %d, %d rows kept",
                *(counts[t].result() for t in ("page", "redirect")),
            )
            articles = transform.build_articles(frames["page"])
            redirects = transform.build_redirects(frames["page"], frames["redirect"], articles)
            write(WIKI_ARTICLES.path, articles)
            write(WIKI_REDIRECTS.path, redirects)
            if articles_ready is not None:
                articles_ready.set()
            log.info("parsed the SQL dumps, rows kept: %s", {t: c.result() for t, c in counts.items()})
        members = transform.build_category_members(
            frames["categorylinks"],
            linktarget=frames.get("linktarget"),
            layout=layout,
            articles=articles,
            page=frames["page"],
            page_props=frames["page_props"],
        )
        write(WIKI_CATEGORY_MEMBERS.path, members)
    finally:
        for frame in frames.values():
            frame.unpersist()


def refresh_dimensions(
    spark: SparkSession,
    settings: Settings,
    landing: Landing,
    wiki: str,
    *,
    force: bool = False,
    stage: Timer = _untimed,
    articles_ready: threading.Event | None = None,
) -> None:
    """Build the dimensions unless they were built from these very dumps (same URIs and sizes).

    Parsing the real dumps takes minutes per table; reprocessing a day should not pay it again.
    The marker is written only after all three tables committed, so a failed build reruns.
    """
    store = RawStore(settings, "raw", "wikimedia")
    marker = f"state/{wiki}-dimensions.json"
    fingerprint = landing.dumps_fingerprint(DIMENSIONS_VERSION)
    paths = [lake_path(settings, t.path) for t in (WIKI_ARTICLES, WIKI_REDIRECTS, WIKI_CATEGORY_MEMBERS)]
    built = all(is_delta(spark, path) for path in paths)
    if not force and built and store.read_text(marker) == fingerprint:
        log.info("SQL dumps unchanged since the %s dimensions were built: kept", wiki)
        return
    build_dimensions(spark, settings, landing, wiki, stage=stage, articles_ready=articles_ready)
    store.write_text(marker, fingerprint)


def read_dimension(spark: SparkSession, settings: Settings, path: str, wiki: str) -> DataFrame:
    """One wiki's rows of a dimension table, without the `wiki` column."""
    return (
        spark.read.format("delta").load(lake_path(settings, path)).where(F.col("wiki") == wiki).drop("wiki")
    )
