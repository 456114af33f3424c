"""Load: Delta reads and idempotent writes of the GitHub tables (see common.tables)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from common import delta
from common.delta import Written
from common.errors import StorageError, one_line
from common.schema import add_missing_columns, local_frame, struct
from common.storage import DeltaReader, is_delta
from common.tables import GITHUB_COMMITS, GITHUB_CRAWL_STATE, REPO_EMPTY, REPO_GONE, REPO_OK
from jobs.github_contributors.crawl import parse_ts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


log = logging.getLogger(__name__)

COMMIT_SCHEMA = struct(
    "org string!, repo string!, sha string!, author_login string, author_email string,"
    " author_name string, author_date timestamp, committer_date timestamp, fetched_at timestamp,"
    # The linked account's `type` ("User", "Bot", "Organization"); last so older tables gain it by
    # ALTER TABLE ADD COLUMNS (rows crawled before it stay null).
    " author_type string"
)
# The crawl's JSON lines, as landed by the executors: the same columns, timestamps still ISO text.
RAW_COMMIT_SCHEMA = StructType(
    [
        StructField(f.name, StringType(), f.nullable) if isinstance(f.dataType, TimestampType) else f
        for f in COMMIT_SCHEMA.fields
    ]
)
REPO_SCHEMA = struct(
    "org string!, repo string!, created_at timestamp!, pushed_at timestamp, status string!,"
    " fork boolean!, archived boolean!"
)
STATE_SCHEMA = struct(
    "org string!, repo string!, status string!, etag string, newest_sha string, commits long,"
    " finished boolean!, updated_at timestamp!"
)


def read_org(spark: SparkSession, path: str, org: str) -> DataFrame | None:
    """The org's rows at the table's current version, pinned: frames cached from them survive
    this run's MERGE into the same table (see common.delta.read_pinned)."""
    if not is_delta(spark, path):
        return None
    return delta.read_pinned(spark, path).where(sf.col("org") == org)


def read_landed_commits(spark: SparkSession, folder: str) -> DataFrame:
    """The JSON lines (`*.jsonl`) landed in `folder` as typed silver rows, one per (org, repo, sha).

    The folder, not its files, is what Spark is given: a list of hundreds of files is listed by a
    Spark job of one task per file, a folder by one listing on the driver.
    """
    raw = spark.read.schema(RAW_COMMIT_SCHEMA).option("pathGlobFilter", "*.jsonl").json(folder)
    return raw.select(
        "org",
        "repo",
        "sha",
        "author_login",
        "author_email",
        "author_name",
        *(sf.col(c).cast("timestamp").alias(c) for c in ("author_date", "committer_date", "fetched_at")),
        "author_type",
    ).dropDuplicates(["org", "repo", "sha"])


def upgrade_commits(spark: SparkSession, path: str) -> None:
    """Give a table written by an older version the columns it lacks, before it is read or merged
    into (a read and a MERGE may then run at once: neither meets a schema change)."""
    try:
        add_missing_columns(spark, path, COMMIT_SCHEMA)
    except Exception as exc:
        raise StorageError(f"cannot write {path}: {one_line(exc)}") from exc


def merge_commits(spark: SparkSession, path: str, commits: DataFrame, org: str, *, replace: bool) -> Written:
    """MERGE on (org, repo, sha): a rerun never duplicates. `replace` rewrites the org (full refresh).

    The table has COMMIT_SCHEMA's columns (`upgrade_commits`)."""
    if replace:
        return write_org(commits, path, org, partition_by=GITHUB_COMMITS.partition_by)
    # Only the org's partition, and the files of the repositories that got commits, can match.
    repos = {row["repo"] for row in commits.select("repo").distinct().collect()}
    target = repos_predicate(org, repos, alias="t") if repos else None
    return delta.merge(
        commits, path, GITHUB_COMMITS.key, partition_by=GITHUB_COMMITS.partition_by, target_where=target
    )


def after_merge(
    existing: DataFrame | None, landed: DataFrame | None, spark: SparkSession, key: Sequence[str]
) -> DataFrame:
    """The org's silver commits as `merge_commits` leaves them, without reading its commit back:
    a landed row replaces the stored one with its key, others are kept (`landed` None: no merge).

    `existing` is the table (after `upgrade_commits`; None: no table, or a full refresh); its
    snapshot before or after the MERGE gives the same rows, so the MERGE may commit meanwhile.
    """
    if existing is None:
        return landed if landed is not None else local_frame(spark, [], COMMIT_SCHEMA)
    if landed is None:
        return existing
    return existing.join(landed.select(*key), list(key), "left_anti").unionByName(landed)


def write_org(df: DataFrame, path: str, org: str, *, partition_by: tuple[str, ...] = ()) -> Written:
    """Replace exactly this org's rows, creating the table the first time."""
    return delta.replace_where(df, path, f"org = '{org}'", partition_by=partition_by)


def state_rows(reader: DeltaReader, org: str) -> dict[str, dict[str, Any]]:
    """The org's `crawl_state` rows by repository, read with delta-rs: a rerun learns its ETags
    without Spark (which, when every repository answers 304, it never starts)."""
    return {row["repo"]: row for row in reader.rows_where(GITHUB_CRAWL_STATE, "org", org)}


def repository_rows(
    org: str, listing: Sequence[Mapping[str, Any]], statuses: Mapping[str, str]
) -> list[tuple[Any, ...]]:
    """`REPO_SCHEMA` rows of the listed repositories; one that answered 404 is left out."""
    rows = []
    for repo in listing:
        name = str(repo["name"])
        if statuses[name] == REPO_GONE:
            continue
        pushed = repo.get("pushed_at")
        rows.append(
            (
                org,
                name,
                parse_ts(str(repo["created_at"])),
                parse_ts(str(pushed)) if pushed else None,
                REPO_EMPTY if statuses[name] == REPO_EMPTY else REPO_OK,
                bool(repo.get("fork", False)),
                bool(repo.get("archived", False)),
            )
        )
    return rows


def crawl_state_rows(
    org: str,
    heads: Sequence[Mapping[str, Any]],
    statuses: Mapping[str, str],
    previous: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> list[tuple[Any, ...]]:
    """`STATE_SCHEMA` rows: a head that read the repository brings its ETag and newest sha, any
    other answer (304, 404, 409) keeps what the previous run stored."""
    rows = []
    for meta in heads:
        name = meta["repo"]
        before = previous.get(name) or {}
        source = meta if meta["status"] == REPO_OK else before
        rows.append(
            (org, name, statuses[name], source.get("etag"), source.get("newest_sha"), None, True, now)
        )
    return rows


def changed_states(rows: Sequence[tuple[Any, ...]], previous: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The repositories whose `crawl_state_rows` differ from the stored rows in anything but
    `updated_at`, or that are gone from them (an all-304 rerun changes none)."""
    fields = [f.name for f in STATE_SCHEMA.fields if f.name != "updated_at"]
    stored = {name: tuple(row.get(f) for f in fields) for name, row in previous.items()}
    fresh = {
        row[1]: tuple(v for f, v in zip(STATE_SCHEMA.fieldNames(), row, strict=True) if f != "updated_at")
        for row in rows
    }
    return {name for name in fresh.keys() | stored.keys() if fresh.get(name) != stored.get(name)}


def repos_predicate(org: str, repos: Iterable[str], alias: str = "") -> str:
    """The predicate of some of an org's repositories (names quoted as SQL strings), on the
    columns of table `alias` when given."""
    names = ", ".join("'{}'".format(name.replace("'", "''")) for name in sorted(repos))
    prefix = f"{alias}." if alias else ""
    return "{0}org = '{1}' AND {0}repo IN ({2})".format(prefix, org.replace("'", "''"), names)


def write_repos(df: DataFrame, path: str, org: str, repos: set[str]) -> Written:
    """Replace exactly these repositories' rows of the org (a repository with no row in `df` has
    its rows removed); the other repositories' rows and files are not touched."""
    kept = df.where(sf.col("repo").isin(sorted(repos)))
    return delta.replace_where(kept, path, repos_predicate(org, repos))
