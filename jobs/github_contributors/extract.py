"""Extract: list an organization's repositories (driver) and crawl their commits (Spark executors)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from common.errors import PlatformError, SourceError
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.crawl import CrawlConfig, run_partition, split_for_partitions
from jobs.github_contributors.pending import PendingStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def list_repositories(client: GitHubClient, org: str) -> list[dict[str, Any]]:
    """Every repository `GET /orgs/{org}/repos?type=public` lists, following `Link: rel="next"`."""
    first = client.get(f"orgs/{org}/repos", params={"type": "public", "per_page": 100})
    if first.status_code == 404:
        raise PlatformError(f"GitHub organization '{org}' not found (404 from {client.base_url})")
    if first.status_code != 200:
        raise SourceError(f"listing repositories of '{org}' answered {first.status_code}")
    repos: list[dict[str, Any]] = list(first.json())
    nxt = first.links.get("next", {}).get("url")
    while nxt:
        resp = client.get(nxt)
        if resp.status_code != 200:
            raise SourceError(f"listing repositories of '{org}' (next page) answered {resp.status_code}")
        repos.extend(resp.json())
        nxt = resp.links.get("next", {}).get("url")
    seen: dict[str, dict[str, Any]] = {}
    for repo in repos:
        seen.setdefault(str(repo["name"]), repo)
    return list(seen.values())


def crawl_items(
    spark: SparkSession, config: CrawlConfig, items: list[dict[str, Any]], concurrency: int
) -> list[dict[str, Any]]:
    """Run work items on Spark: partitions x threads ~ `concurrency`; returns the items' metas."""
    if not items:
        return []
    partitions = max(1, min(len(items), max(2, spark.sparkContext.defaultParallelism)))
    groups = split_for_partitions(items, partitions)
    threads = max(1, -(-concurrency // len(groups)))
    cfg = CrawlConfig(config.settings, config.org, config.base_url, config.tokens, threads, config.backoff)

    def body(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
        return run_partition(cfg, [item for chunk in chunks for item in chunk])

    rdd = spark.sparkContext.parallelize(groups, len(groups))
    spark.sparkContext.setJobDescription(f"crawl {len(items)} GitHub work items of {config.org}")
    return [json.loads(m) for m in rdd.mapPartitions(body).collect()]


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
    stats: dict[str, float] = {}
    for meta in metas:
        for key, value in (meta.get("stats") or {}).items():
            stats[key] = stats.get(key, 0) + value
    return (
        f"repos {done}/{total_repos}, commits {sum(int(m.get('commits', 0)) for m in metas)}, "
        f"requests {int(stats.get('requests', 0))}, 304s {int(stats.get('not_modified', 0))}, "
        f"retries {int(stats.get('retries', 0))}, rate-limit waits {int(stats.get('rate_limit_waits', 0))} "
        f"({stats.get('rate_limit_wait_seconds', 0):.0f}s)"
    )
