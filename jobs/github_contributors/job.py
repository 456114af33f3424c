"""main(): list -> crawl (head items, then windows of big repositories) -> Delta tables -> gold."""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from common.cli import settings_from_args
from common.errors import ConfigError, PlatformError, SourceError
from common.settings import Settings
from common.spark import get_spark
from common.storage import check_lake, lake_path
from common.tables import GITHUB_COMMITS, GITHUB_CRAWL_STATE, GITHUB_NEW_CONTRIBUTORS, GITHUB_REPOSITORIES
from jobs.github_contributors import load, transform
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.crawl import CrawlConfig, head_item
from jobs.github_contributors.extract import Progress, crawl_items, list_repositories
from jobs.github_contributors.pending import PendingStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

NAME = "github_contributors"


@dataclass
class RunReport:
    """What a run did; logged as the summary line and returned to tests and the bench."""

    org: str
    repos: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    new_commits: int = 0
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    items: int = 0
    windows: int = 0
    split_repos: int = 0
    resumed_items: int = 0
    list_seconds: float = 0.0
    crawl_seconds: float = 0.0
    write_seconds: float = 0.0

    def line(self) -> str:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{NAME} org={self.org}: repos {self.repos} ({statuses}), new commits {self.new_commits}, "
            f"requests {self.requests}, 304s {self.not_modified}, retries {self.retries}, "
            f"rate-limit waits {self.rate_limit_waits} ({self.rate_limit_wait_seconds:.0f}s), "
            f"items {self.items} ({self.windows} windows, {self.split_repos} repos split, "
            f"{self.resumed_items} resumed), "
            f"crawl {self.list_seconds + self.crawl_seconds:.1f}s, "
            f"write {self.write_seconds:.1f}s"
        )


def run(
    spark: SparkSession,
    settings: Settings,
    org: str,
    run_date: date,
    *,
    full_refresh: bool = False,
    concurrency: int = 32,
    progress_seconds: float = 10.0,
) -> RunReport:
    """The whole job for one organization; idempotent, resumable (see jobs.github_contributors.crawl)."""
    report = RunReport(org)
    base_url = settings.github_api_url
    tokens = settings.github_tokens
    client = GitHubClient(base_url, tokens)
    client.probe_budgets()  # free: the driver learns which tokens are dry before listing
    listed_at = time.monotonic()
    listing_store = PendingStore(settings, org, "listing")
    previous_listing = None if full_refresh else listing_store.get_json("listing.json")
    listing, listing_cache = list_repositories(client, org, previous_listing)
    report.list_seconds = time.monotonic() - listed_at
    report.repos = len(listing)
    created = {str(r["name"]): str(r["created_at"]) for r in listing}

    paths = {t.path: lake_path(settings, t.path) for t in (GITHUB_COMMITS, GITHUB_CRAWL_STATE)}
    store = PendingStore(settings, org)
    if full_refresh:
        store.clear()
        state: dict[str, dict[str, Any]] = {}
    else:
        state = load.state_rows(load.read_org(spark, paths[GITHUB_CRAWL_STATE.path], org))

    client.probe_budgets()
    config = CrawlConfig(store, org, base_url, tuple(tokens), threads=1, budgets=tuple(client.budgets()))
    started = time.monotonic()
    landed: dict[str, dict[str, Any]] = {}
    for name in store.names("items", ".meta.json"):
        meta = store.get_json(name)
        if meta is not None:
            landed[meta["id"]] = meta
    report.resumed_items = len(landed)

    heads = []
    for repo in listing:
        name = str(repo["name"])
        previous = state.get(name) or {}
        known = previous.get("newest_sha") if previous.get("status") == "ok" else None
        heads.append(head_item(org, name, created[name], previous.get("etag"), known))
    # Resume: heads not landed run again; windows of a landed plan run if not landed; a landed
    # head without a plan is planned again by the partition that gets it.
    todo: list[dict[str, Any]] = []
    plans: dict[str, list[dict[str, Any]]] = {}
    for head in heads:
        meta = landed.get(head["id"])
        if meta is None:
            todo.append(head)
        elif not meta.get("complete"):
            plan = store.get_json(f"plans/{head['id']}.json")
            if plan is None:
                todo.append({"kind": "open", "id": head["id"], "head": meta, "cost": meta["estimate"]})
            else:
                plans[head["id"]] = plan
                todo.extend(w for w in plan if w["id"] not in landed)
    with Progress(store, len(listing), progress_seconds) as progress:
        for meta in crawl_items(spark, config, todo, concurrency):
            landed[meta["id"]] = meta
        if progress_seconds > 0:
            progress.poll()
    report.crawl_seconds = time.monotonic() - started

    head_metas = [landed[h["id"]] for h in heads]
    windows: list[dict[str, Any]] = []
    for meta in head_metas:
        if not meta.get("complete"):
            plan = plans.get(meta["id"]) or store.get_json(f"plans/{meta['id']}.json") or []
            missing = [w["id"] for w in plan if w["id"] not in landed]
            if not plan or missing:
                raise SourceError(f"crawl of {org}/{meta['repo']} incomplete ({len(missing)} windows); rerun")
            windows.extend(landed[w["id"]] for w in plan)
            report.split_repos += len(plan) > 1
    report.windows = len(windows)
    item_metas = [*head_metas, *windows]
    report.items = len(item_metas)
    for meta in item_metas:
        stats = meta.get("stats") or {}
        report.requests += int(stats.get("requests", 0))
        report.not_modified += int(stats.get("not_modified", 0))
        report.retries += int(stats.get("retries", 0))
        report.rate_limit_waits += int(stats.get("rate_limit_waits", 0))
        report.rate_limit_wait_seconds += float(stats.get("rate_limit_wait_seconds", 0))
        report.new_commits += int(meta.get("commits", 0))
    driver_stats = client.stats.as_dict()
    report.requests += int(driver_stats["requests"])
    report.retries += int(driver_stats["retries"])
    report.rate_limit_waits += int(driver_stats["rate_limit_waits"])

    # Statuses: a window that met a 404/409 marks its repository so.
    status = {m["repo"]: m["status"] for m in head_metas}
    for window in windows:
        if window.get("status") in ("gone", "empty"):
            status[window["repo"]] = window["status"]
    for value in status.values():
        report.statuses[value] = report.statuses.get(value, 0) + 1
    status = {name: "ok" if value == "unchanged" else value for name, value in status.items()}
    report.gone = sorted(name for name, value in status.items() if value == "gone")
    for name in report.gone:
        log.warning("repository %s/%s answered 404 (deleted or private): skipped", org, name)

    write_started = time.monotonic()
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    commit_files = [store.spark_path(n) for n in store.names("items", ".jsonl")]
    new = load.read_landed_commits(spark, commit_files)
    load.merge_commits(spark, paths[GITHUB_COMMITS.path], new, org, replace=full_refresh)
    log.info("commits merged in %.1fs", time.monotonic() - write_started)

    repo_rows = [
        (
            org,
            name,
            _ts(created[name]),
            _ts(str(r.get("pushed_at"))) if r.get("pushed_at") else None,
            "empty" if status[name] == "empty" else "ok",
            bool(r.get("fork", False)),
            bool(r.get("archived", False)),
        )
        for r in listing
        if (name := str(r["name"])) not in report.gone
    ]
    repos = spark.createDataFrame(repo_rows, load.REPO_SCHEMA)
    all_commits = load.read_org(spark, paths[GITHUB_COMMITS.path], org)
    if all_commits is None:
        all_commits = spark.createDataFrame([], load.COMMIT_SCHEMA)
    ok_repos = repos.where(sf.col("status") == "ok").select("org", "repo")
    series, totals = transform.new_contributors(all_commits.join(ok_repos, ["org", "repo"]), repos, run_date)
    series = series.cache()
    stamp = sf.lit(now).cast("timestamp").alias("computed_at")
    load.write_org(series.select("*", stamp), lake_path(settings, GITHUB_NEW_CONTRIBUTORS.path), org)
    load.write_org(
        totals.select(
            "org",
            "repo",
            "created_at",
            "pushed_at",
            "total_contributors",
            "status",
            "fork",
            "archived",
            stamp,
        ),
        lake_path(settings, GITHUB_REPOSITORIES.path),
        org,
    )

    state_out = []
    for meta in head_metas:
        name = meta["repo"]
        previous = state.get(name) or {}
        changed = meta["status"] == "ok"
        state_out.append(
            (
                org,
                name,
                status[name],
                meta.get("etag") if changed else previous.get("etag"),
                meta.get("newest_sha") if changed else previous.get("newest_sha"),
                None,
                True,
                now,
            )
        )
    log.info("gold tables written at %.1fs", time.monotonic() - write_started)
    load.write_org(spark.createDataFrame(state_out, load.STATE_SCHEMA), paths[GITHUB_CRAWL_STATE.path], org)
    series.unpersist()
    listing_store.put_json("listing.json", listing_cache)
    store.clear()
    report.write_seconds = time.monotonic() - write_started
    log.info("%s", report.line())
    return report


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def main(args: argparse.Namespace) -> int:
    """Entry point behind the CLI: settings, checks that fail fast, Spark, run."""
    settings = settings_from_args(args)
    run_date: date = args.run_date or datetime.now(UTC).date()
    if args.concurrency < 1:
        raise ConfigError("--concurrency", "must be at least 1")
    check_lake(settings)
    # Fail fast on a bad token or an unknown org before Spark starts.
    probe = GitHubClient(settings.github_api_url, settings.github_tokens)
    resp = probe.get(f"orgs/{args.org}")
    if resp.status_code == 404:
        raise PlatformError(f"GitHub organization '{args.org}' not found at {settings.github_api_url}")
    spark = get_spark(settings, NAME)
    progress = float(os.environ.get("GITHUB_PROGRESS_SECONDS", "10"))
    run(
        spark,
        settings,
        args.org,
        run_date,
        full_refresh=args.full_refresh,
        concurrency=args.concurrency,
        progress_seconds=progress,
    )
    return 0
