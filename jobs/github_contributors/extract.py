"""Extract: list an organization's repositories (driver) and crawl their commits (Spark executors)."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pyspark.errors import PySparkException

from common.errors import PlatformError, SourceError
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.crawl import CrawlConfig, run_partition, split_for_partitions
from jobs.github_contributors.pacing import most_partitions, shares
from jobs.github_contributors.pending import PendingStore
from jobs.github_contributors.report import add_up

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

LISTING_FIELDS = ("name", "created_at", "pushed_at", "fork", "archived", "default_branch")


def list_repositories(
    client: GitHubClient, org: str, cache: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every repository `GET /orgs/{org}/repos?type=public` lists, following `Link: rel="next"`.

    `cache` is the previous run's listing ({url: {etag, items, next}}): each page is asked with
    `If-None-Match`, so an unchanged listing costs only free 304s. Returns (repos, new cache).
    """
    cache = cache or {}
    fresh: dict[str, Any] = {}
    repos: list[dict[str, Any]] = []
    url: str | None = f"orgs/{org}/repos?type=public&per_page=100"
    while url:
        known = cache.get(url)
        resp = client.get(url, etag=known["etag"] if known else None)
        if resp.status_code == 404 and not repos:
            raise PlatformError(f"GitHub organization '{org}' not found (404 from {client.base_url})")
        if resp.status_code == 304 and known:
            page, nxt = known["items"], resp.links.get("next", {}).get("url") or known.get("next")
        elif resp.status_code == 200:
            page, nxt = resp.json(), resp.links.get("next", {}).get("url")
        else:
            raise SourceError(f"listing repositories of '{org}' answered {resp.status_code}")
        slim = [{k: r.get(k) for k in LISTING_FIELDS} for r in page]
        fresh[url] = {"etag": resp.headers.get("ETag"), "items": slim, "next": nxt}
        repos.extend(slim)
        url = nxt
    seen: dict[str, dict[str, Any]] = {}
    for repo in repos:
        seen.setdefault(str(repo["name"]), repo)
    return list(seen.values()), fresh


def crawl_items(
    spark: SparkSession, config: CrawlConfig, items: list[dict[str, Any]], concurrency: int
) -> list[dict[str, Any]]:
    """Run work items on Spark: partitions x threads ~ `concurrency`; returns the items' metas.

    One partition per token (at most as many as run at once), each with a fixed 1/P share of
    every token's pacing budget: the shares add up to each token's budget, all in use. A token
    answers ~15 requests a second at GitHub's limits, I/O that one partition's threads keep busy;
    more partitions than tokens would only split a token's budget into shares that sit idle once
    their partition's items are done."""
    if not items:
        return []
    tokens = max(1, len(config.tokens))
    slots = spark.sparkContext.defaultParallelism
    partitions = max(1, min(len(items), slots, tokens, most_partitions(config.pacing)))
    groups = split_for_partitions(items, partitions)
    threads = max(1, -(-concurrency // len(groups)))
    cfg = replace(config, threads=threads)
    plan = shares(tokens, len(groups), config.pacing)

    def body(index: int, chunks: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
        return run_partition(cfg, [item for chunk in chunks for item in chunk], plan[index])

    sc = spark.sparkContext
    rdd = sc.parallelize(groups, len(groups))
    group = f"crawl-{config.org}-{time.monotonic_ns()}"
    sc.setJobGroup(group, f"crawl {len(items)} GitHub work items of {config.org}", interruptOnCancel=True)
    try:
        metas = rdd.mapPartitionsWithIndex(body).collect()
    except PySparkException as exc:
        sc.cancelJobGroup(group)
        _wait_for_tasks(spark, group)
        raise executor_error(exc) from None
    finally:
        # setJobGroup's thread-local properties would otherwise label the job's later Delta writes.
        for key in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(key, None)  # type: ignore[arg-type]
    return [json.loads(m) for m in metas]


def _wait_for_tasks(spark: SparkSession, group: str, timeout: float = 60.0) -> None:
    """Return once no task of the job group runs (bounded by `timeout`).

    When one partition fails, Spark fails the job at once but the other partitions' Python workers
    are only killed a few seconds later: returning before that would let a rerun in the same
    process race those workers on the API and on the pending store.
    """
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages = [
            stage
            for job_id in tracker.getJobIdsForGroup(group)
            if (job := tracker.getJobInfo(job_id)) is not None
            for stage in job.stageIds
        ]
        infos = [tracker.getStageInfo(s) for s in stages]
        if not any(info is not None and info.numActiveTasks > 0 for info in infos):
            return
        time.sleep(0.2)
    log.warning("crawl tasks still running %.0fs after the failure", timeout)


_EXECUTOR_ERROR = re.compile(r"(?:common\.errors|jobs\.github_contributors\.client)\.(\w+): (.+)")


def executor_error(exc: Exception) -> Exception:
    """An executor's PlatformError comes back wrapped in a Spark exception: unwrap its one line."""
    found = _EXECUTOR_ERROR.findall(str(exc))
    if not found:
        return exc
    kind, message = found[-1]
    return SourceError(message.strip()) if kind == "SourceError" else PlatformError(message.strip())


class Progress:
    """A driver thread that logs crawl progress from the metas landing in the pending store."""

    def __init__(self, store: PendingStore, total_repos: int, interval: float) -> None:
        self.store = store
        self.total = total_repos
        self.interval = interval
        self.metas: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crawl-progress", daemon=True)
        self.started = time.monotonic()

    def __enter__(self) -> Progress:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - progress must never break the crawl
                log.debug("progress poll failed: %s", exc)

    def poll(self) -> None:
        for name in self.store.names("items", ".meta.json"):
            if name not in self.metas:
                meta = self.store.get_json(name)
                if meta is not None:
                    self.metas[name] = meta
        log.info("progress: %s", summarize(list(self.metas.values()), self.total))


def summarize(metas: list[dict[str, Any]], total_repos: int) -> str:
    """`repos done/total, commits, requests, 304s, retries, rate-limit waits` of the metas so far."""
    heads = [m for m in metas if m.get("kind") == "head"]
    open_repos = {m["repo"] for m in heads if not m.get("complete")}
    windows_open = {m["repo"] for m in metas if m.get("kind") == "window"}
    done = sum(1 for m in heads if m.get("complete")) + len(open_repos & windows_open)
    stats = add_up(meta.get("stats") or {} for meta in metas)
    return (
        f"repos {done}/{total_repos}, commits {sum(int(m.get('commits', 0)) for m in metas)}, "
        f"requests {int(stats.get('requests', 0))}, 304s {int(stats.get('not_modified', 0))}, "
        f"retries {int(stats.get('retries', 0))}, rate-limit waits {int(stats.get('rate_limit_waits', 0))} "
        f"({stats.get('rate_limit_wait_seconds', 0):.0f}s)"
    )
