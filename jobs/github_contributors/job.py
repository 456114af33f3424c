"""main(): list -> crawl (head items, then windows of big repositories) -> Delta tables -> gold."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from common import ledger
from common.cli import settings_from_args
from common.errors import ConfigError, PlatformError
from common.inputs import inputs_digest
from common.schema import add_missing_columns
from common.settings import Settings
from common.spark import LazySpark
from common.storage import check_lake, lake_path
from common.tables import (
    GITHUB_COMMITS,
    GITHUB_CONTRIBUTORS,
    GITHUB_CRAWL_STATE,
    GITHUB_NEW_CONTRIBUTORS,
    GITHUB_REPOSITORIES,
    REPO_OK,
    Table,
)
from jobs.github_contributors import gates, identities, load, resume, transform
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.crawl import UNCHANGED, CrawlConfig, plan_and_save, run_items
from jobs.github_contributors.extract import Progress, crawl_items, list_repositories
from jobs.github_contributors.identity_source import read_identity_map
from jobs.github_contributors.pacing import Budget, Pacer
from jobs.github_contributors.pending import PendingStore
from jobs.github_contributors.report import RunReport, repository_statuses, stored_statuses
from jobs.github_contributors.resume import Crawled

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

NAME = "github_contributors"
LISTING_FILE = "listing.json"
# What the gold tables were last computed from (a digest), written once they hold it.
GOLD_INPUTS_FILE = "gold_inputs.json"


def run(
    spark: SparkSession | LazySpark,
    settings: Settings,
    org: str,
    run_date: date,
    *,
    full_refresh: bool = False,
    concurrency: int = 32,
    progress_seconds: float = 10.0,
    pacers: list[Pacer] | None = None,
) -> RunReport:
    """The whole job for one organization; idempotent, resumable (see jobs.github_contributors.crawl).

    `spark` may be a LazySpark: the listing, the last run's crawl state and the conditional
    requests need no Spark, so a run where every repository answered 304 and nothing else
    changed ends without starting it.
    """
    report = RunReport(org)

    def session() -> SparkSession:
        if not isinstance(spark, LazySpark):
            return spark
        if not spark.ready:
            with report.timed("spark_start"):
                return spark.get()
        return spark.get()

    identity_map = read_identity_map(settings)  # a bad map ends the run before the crawl
    # The driver's pacers, one per token (its whole budget), shared by every driver-side client.
    pacers = pacers or driver_pacers(settings)
    client = GitHubClient(
        settings.github_api_url,
        settings.github_tokens,
        pacers=pacers,
        secondary_wait_limit=settings.github_secondary_wait_seconds,
    )
    listing_store = PendingStore(settings, org, "listing")
    with report.timed("list"):
        listing, listing_cache = _list(client, listing_store, org, full_refresh)
    report.repos = len(listing)
    previous = {} if full_refresh else load.state_rows(settings, org)
    store = PendingStore(settings, org)
    if isinstance(spark, LazySpark) and _needs_spark(listing, previous, store, full_refresh=full_refresh):
        spark.start()  # the JVM starts while the driver asks the heads
    with report.timed("crawl"):
        crawled = _crawl(
            session,
            settings,
            client,
            store,
            org,
            listing,
            previous,
            report,
            full_refresh=full_refresh,
            concurrency=concurrency,
            progress_seconds=progress_seconds,
            pacers=pacers,
        )
    statuses = repository_statuses(crawled)
    report.count(crawled, statuses, client.stats.as_dict())
    ledger.record_input("github", _fingerprint(settings, report))
    for name in report.gone:
        log.warning("repository %s/%s answered 404 (deleted or private): skipped", org, name)
    statuses = stored_statuses(statuses)

    repo_rows = load.repository_rows(org, listing, statuses)
    gold_key = _gold_inputs(settings, org, run_date, repo_rows, identity_map)
    landed_names = store.names("items", ".jsonl")
    # A table is rewritten only when what it is computed from changed: the landed commits for
    # github/commits, (new commits, run month, listing, settings, code) for the gold tables, the
    # ETags and shas for crawl_state. A rerun with nothing new commits no Delta version.
    rewrite_gold = full_refresh or bool(landed_names) or listing_store.get_json(GOLD_INPUTS_FILE) != gold_key
    with report.timed("write"):
        now = datetime.now(UTC).replace(microsecond=0)
        commits_path = lake_path(settings, GITHUB_COMMITS.path)
        cached: list[DataFrame] = []  # unpersisted once the tables are written (or the run failed)
        try:
            landed = None
            if landed_names:
                landed = load.read_landed_commits(session(), store.spark_path("items")).cache()
                cached.append(landed)
            elif full_refresh:
                landed = session().createDataFrame([], load.COMMIT_SCHEMA)
            if landed is not None:
                load.upgrade_commits(session(), commits_path)
            # The gold rows are computed and audited from what the MERGE will leave while it
            # commits: its planning, tasks and commit then overlap theirs instead of adding up.
            silver = None
            if rewrite_gold:
                existing = None if full_refresh else load.read_org(session(), commits_path, org)
                silver = load.after_merge(existing, landed, session(), GITHUB_COMMITS.key)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge") as pool:
                merging = (
                    pool.submit(_merge, report, session(), commits_path, landed, org, full_refresh)
                    if landed is not None
                    else None
                )
                gold = (
                    _compute_gold(
                        session(), settings, silver, repo_rows, run_date, identity_map, report, cached
                    )
                    if silver is not None
                    else {}
                )
                if merging is not None:
                    merging.result()  # the silver commits are in before any gold row is published
            state = load.crawl_state_rows(org, crawled.heads, statuses, previous, now)
            if full_refresh or load.state_changed(state, previous):
                gold[GITHUB_CRAWL_STATE] = session().createDataFrame(state, load.STATE_SCHEMA)
            if gold:
                _publish(session(), settings, org, gold, now, report)
        finally:
            for frame in cached:
                frame.unpersist()
        # Only now do the tables hold this run: the next run may trust the listing's ETags.
        listing_store.put_json(LISTING_FILE, listing_cache)
        listing_store.put_json(GOLD_INPUTS_FILE, gold_key)
        store.clear()
    if isinstance(spark, LazySpark):
        report.spark_started = spark.started
        report.spark_startup_seconds = spark.startup_seconds
    log.info("%s", report.line())
    return report


def pacing_budget(settings: Settings) -> Budget:
    """Each token's budget: the settings' per-minute values, kept over the pacing window."""
    return Budget.per_minute(
        settings.github_max_concurrent,
        settings.github_points_per_minute,
        settings.github_response_seconds_per_minute,
        settings.github_pacing_window_seconds,
    )


def driver_pacers(settings: Settings) -> list[Pacer]:
    """One pacer per token of the pool (an anonymous caller is a pool of one)."""
    return [Pacer(pacing_budget(settings)) for _ in range(max(1, len(settings.github_tokens)))]


def _merge(  # noqa: PLR0917 - the run's context, passed explicitly
    report: RunReport, spark: SparkSession, commits_path: str, landed: DataFrame, org: str, replace: bool
) -> None:
    with report.timed("merge"):
        load.merge_commits(spark, commits_path, landed, org, replace=replace)


def _compute_gold(  # noqa: PLR0917 - the run's context, passed explicitly
    spark: SparkSession,
    settings: Settings,
    silver: DataFrame,
    repo_rows: list[tuple[Any, ...]],
    run_date: date,
    identity_map: list[identities.MapEntry],
    report: RunReport,
    cached: list[DataFrame],
) -> dict[Table, DataFrame]:
    """Transform the org's whole history and audit it: the three gold tables' rows, not yet written
    (the frames they are computed from added to `cached`, to unpersist once written).

    The whole org is recomputed: each gold table holds one set of rows per org, all stamped by
    one run (`computed_at`).
    """
    repos = spark.createDataFrame(repo_rows, load.REPO_SCHEMA)
    # Kept: the series, the gates and the additions each scan the whole history.
    commits = silver.join(repos.where(sf.col("status") == REPO_OK).select("org", "repo"), ["org", "repo"])
    commits = commits.cache()
    series, totals = transform.new_contributors(commits, repos, run_date)
    series = series.cache()
    cached.extend((commits, series))
    # Write-audit-publish: nothing below is written unless the gold rows pass the gates.
    with report.timed("audit"):
        series = gates.plant(settings.quality_fault, series)
        gates.audit(series, repos, commits, run_date)
    prepared = identities.prepare(
        commits,
        bot_logins=settings.github_bot_logins_set,
        identity_map=identities.map_frame(spark, identity_map),
    ).cache()
    cached.append(prepared)
    kinds, people = identities.additions(prepared, repos, series, run_date)
    columns = ("org", "repo", "created_at", "pushed_at", "total_contributors", "status", "fork", "archived")
    return {
        GITHUB_CONTRIBUTORS: people,
        GITHUB_NEW_CONTRIBUTORS: kinds,
        GITHUB_REPOSITORIES: totals.select(*columns),
    }


def _gold_inputs(
    settings: Settings,
    org: str,
    run_date: date,
    repo_rows: list[tuple[Any, ...]],
    identity_map: list[identities.MapEntry],
) -> str:
    """A digest of every gold input except the commits (whose change a merge signals), and of
    the job's own code."""
    inputs = {
        "org": org,
        "run_month": transform.month_of(run_date),
        "repositories": sorted(repo_rows),
        "identity_map": [repr(entry) for entry in identity_map],
        "bot_logins": sorted(settings.github_bot_logins_set),
        "quality_fault": settings.quality_fault,
    }
    return inputs_digest(inputs, [Path(__file__).parent])


def _needs_spark(
    listing: list[dict[str, Any]],
    previous: dict[str, dict[str, Any]],
    store: PendingStore,
    *,
    full_refresh: bool,
) -> bool:
    """Whether the run will surely need Spark: a repository the last run did not store (its
    history is crawled and MERGEd), a full refresh, or commits a killed run landed."""
    return (
        full_refresh
        or any(str(repo["name"]) not in previous for repo in listing)
        or bool(store.names("items", ".jsonl"))
    )


def _list(
    client: GitHubClient, listing_store: PendingStore, org: str, full_refresh: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The organization's repositories, each listing page asked with the last run's ETag."""
    client.probe_budgets()  # free: the driver learns which tokens are dry before listing
    previous = None if full_refresh else listing_store.get_json(LISTING_FILE)
    return list_repositories(client, org, previous)


def _crawl(  # noqa: PLR0917 - the run's context, passed explicitly
    session: Callable[[], SparkSession],
    settings: Settings,
    client: GitHubClient,
    store: PendingStore,
    org: str,
    listing: list[dict[str, Any]],
    previous: dict[str, dict[str, Any]],
    report: RunReport,
    *,
    full_refresh: bool,
    concurrency: int,
    progress_seconds: float,
    pacers: list[Pacer],
) -> Crawled:
    """Run the items a previous run did not land (all of them after a full refresh): every head
    in the driver (a 304 each when nothing changed, a page or two for a few new commits, page 1
    of a new repository, while Spark starts), new repositories' history on Spark (the windows of
    a big one, planned here)."""
    if full_refresh:
        store.clear()
    client.probe_budgets()
    landed = store.landed()
    report.resumed_items = len(landed)
    heads = resume.head_items(org, listing, previous)
    todo = resume.plan(heads, landed, lambda head: store.get_json(f"plans/{head}.json"))
    asked = [item for item in todo.items if item["kind"] == "head"]
    opened = [item["head"] for item in todo.items if item["kind"] == "open"]
    budgets = client.budgets()
    if asked:
        driver = GitHubClient(
            settings.github_api_url,
            settings.github_tokens,
            pool_size=max(4, concurrency),
            pacers=pacers,
            secondary_wait_limit=settings.github_secondary_wait_seconds,
        )
        driver.seed_budgets(budgets)  # its own counters: the metas carry them
        for meta in run_items(driver, store, asked, concurrency):
            landed[meta["id"]] = meta
            if not meta.get("complete"):  # more than one page: the rest is crawled on Spark
                opened.append(meta)
        budgets = driver.budgets()
    config = CrawlConfig(
        store,
        org,
        settings.github_api_url,
        tuple(settings.github_tokens),
        threads=1,
        budgets=tuple(budgets),
        pacing=pacing_budget(settings),
        history=tuple(pacer.history() for pacer in pacers),
        secondary_wait_limit=settings.github_secondary_wait_seconds,
    )
    # Planned here, over the whole org: the biggest histories get the windows the budget allows.
    items = [item for item in todo.items if item["kind"] == "window"]
    items += plan_and_save(store, opened, len(asked), concurrency, config.extra_ratio)
    if items:
        spark = session()
        with Progress(store, len(listing), progress_seconds) as progress:
            for meta in crawl_items(spark, config, items, concurrency):
                landed[meta["id"]] = meta
            if progress_seconds > 0:
                progress.poll()
    return resume.collect(org, heads, landed, todo.plans, lambda head: store.get_json(f"plans/{head}.json"))


def _fingerprint(settings: Settings, report: RunReport) -> dict[str, Any]:
    """The run's input as the ledger records it: where, how many repositories, how many were 304s."""
    unchanged = report.statuses.get(UNCHANGED, 0)
    return {
        "api": settings.github_api_url,
        "org": report.org,
        "repositories": report.repos,
        "not_modified_repositories": unchanged,
        "not_modified_share": round(unchanged / report.repos, 4) if report.repos else 0.0,
        "requests": report.requests,
        "not_modified_requests": report.not_modified,
        "secondary_limit_answers": report.secondary_answers,
        # By position in the pool, never the token's value.
        "tokens": [
            {
                "position": position,
                "requests": int(counts.get("requests", 0)),
                "pacing_waits": int(counts.get("waits", 0)),
                "pacing_wait_seconds": round(counts.get("wait_seconds", 0.0), 1),
                "secondary_limit_answers": int(counts.get("secondary", 0)),
            }
            for position, counts in sorted(report.tokens.items())
        ],
    }


def _publish(  # noqa: PLR0917 - the run's context, passed explicitly
    spark: SparkSession,
    settings: Settings,
    org: str,
    rows: dict[Table, DataFrame],
    now: datetime,
    report: RunReport,
) -> None:
    """Replace the org's rows of each table (gold ones stamped with the run's `computed_at`).

    Independent Delta tables, written at once: each write's planning and commit then overlap the
    others' tasks instead of adding up. `crawl_state` may land before a gold table whose write
    then fails: the landed commits stay pending, so the next run merges them and rewrites gold.
    """
    if GITHUB_NEW_CONTRIBUTORS in rows:
        add_missing_columns(
            spark, lake_path(settings, GITHUB_NEW_CONTRIBUTORS.path), rows[GITHUB_NEW_CONTRIBUTORS].schema
        )
    stamp = sf.lit(now).cast("timestamp").alias("computed_at")

    def write(table: Table, frame: DataFrame) -> tuple[str, float]:
        started = time.monotonic()
        gold = table != GITHUB_CRAWL_STATE
        load.write_org(frame.select("*", stamp) if gold else frame, lake_path(settings, table.path), org)
        return "gold" if gold else "crawl_state", time.monotonic() - started

    with ThreadPoolExecutor(max_workers=len(rows), thread_name_prefix="publish") as pool:
        futures = [pool.submit(write, table, frame) for table, frame in rows.items()]
        took: dict[str, float] = {}
        for future in futures:
            stage, seconds = future.result()  # the first failed write's error
            took[stage] = max(took.get(stage, 0.0), seconds)
    for stage, seconds in took.items():  # side by side: each stage is its longest write
        report.add(stage, seconds)


def main(args: argparse.Namespace) -> int:
    """Entry point behind the CLI: settings, checks that fail fast, Spark, run."""
    settings = settings_from_args(args)
    run_date: date = args.run_date or datetime.now(UTC).date()
    if args.concurrency < 1:
        raise ConfigError("--concurrency", "must be at least 1")
    check_lake(settings)
    # Fail fast on a bad token or an unknown org before Spark starts.
    pacers = driver_pacers(settings)
    probe = GitHubClient(settings.github_api_url, settings.github_tokens, pacers=pacers)
    resp = probe.get(f"orgs/{args.org}")
    if resp.status_code == 404:
        raise PlatformError(f"GitHub organization '{args.org}' not found at {settings.github_api_url}")
    run(
        # Seconds of Spark work on an org's history: C2's optimised code would not repay its CPU.
        LazySpark(settings, NAME, short_job=True),
        settings,
        args.org,
        run_date,
        full_refresh=args.full_refresh,
        concurrency=args.concurrency,
        progress_seconds=settings.github_progress_seconds,
        pacers=pacers,
    )
    return 0
