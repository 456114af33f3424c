"""Executor side of the crawl: work items, run by threads inside a Spark partition.

Two kinds of item:
- `head`: the first page of a repository's commits (with `If-None-Match` when an ETag is known).
  304 ends it; with a known newest sha it reads on until that sha (an incremental crawl); for a
  repository seen for the first time it stops after page 1 when the rest looks big, so the driver
  can split the rest into time windows (`plan_windows`), else it reads to the end.
- `window`: part of a big repository's history: either the continuation of page 1 (following
  `rel="next"` verbatim) down to a date, or a `since`/`until` slice (committer dates, inclusive).

Every finished item lands in the `PendingStore` (commits, then meta), so a killed crawl resumes
item by item.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.errors import SourceError
from common.logging import setup_logging
from common.settings import Settings
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.pending import PendingStore

log = logging.getLogger(__name__)

PER_PAGE = 100
INLINE_PAGES = 8  # a new repository estimated at most this many more pages is read by its head item


def item_id(*parts: object) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def fmt_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def head_item(
    org: str, repo: str, created_at: str, etag: str | None, known_sha: str | None
) -> dict[str, Any]:
    return {
        "id": item_id("head", org, repo, etag, known_sha),
        "kind": "head",
        "org": org,
        "repo": repo,
        "created_at": created_at,
        "etag": etag,
        "known_sha": known_sha,
        "cost": 1.0,
    }


def flatten(org: str, repo: str, item: dict[str, Any], fetched_at: str) -> dict[str, Any]:
    """One commit row of the silver table, from the API's commit object."""
    info = item.get("commit") or {}
    author = info.get("author") or {}
    committer = info.get("committer") or {}
    account = item.get("author") or {}
    return {
        "org": org,
        "repo": repo,
        "sha": item["sha"],
        "author_login": account.get("login"),
        "author_email": author.get("email"),
        "author_name": author.get("name"),
        "author_date": author.get("date"),
        "committer_date": committer.get("date"),
        "fetched_at": fetched_at,
    }


def _commit_date(item: dict[str, Any]) -> str:
    return str(((item.get("commit") or {}).get("committer") or {}).get("date") or "")


@dataclass
class ItemResult:
    meta: dict[str, Any]
    commits: list[dict[str, Any]]


def run_head(client: GitHubClient, item: dict[str, Any]) -> ItemResult:
    org, repo = item["org"], item["repo"]
    path = f"repos/{org}/{repo}/commits"
    meta: dict[str, Any] = {"id": item["id"], "kind": "head", "org": org, "repo": repo, "pages": 0}
    etag = item["etag"] if item.get("known_sha") else None
    resp = client.get(path, params={"per_page": PER_PAGE}, etag=etag)
    meta["pages"] = 1
    if resp.status_code == 304:
        return ItemResult({**meta, "status": "unchanged", "complete": True}, [])
    if resp.status_code == 409:
        return ItemResult({**meta, "status": "empty", "complete": True}, [])
    if resp.status_code == 404:
        return ItemResult({**meta, "status": "gone", "complete": True}, [])
    if resp.status_code != 200:
        raise SourceError(f"GET {path} answered {resp.status_code}")
    page: list[dict[str, Any]] = resp.json()
    meta.update(status="ok", etag=resp.headers.get("ETag"), newest_sha=page[0]["sha"] if page else None)
    commits: list[dict[str, Any]] = []
    known = item.get("known_sha")
    while True:
        if known is not None:
            cut = next((i for i, c in enumerate(page) if c["sha"] == known), None)
            if cut is not None:
                commits.extend(page[:cut])
                return ItemResult({**meta, "complete": True}, commits)
        commits.extend(page)
        nxt = resp.links.get("next", {}).get("url")
        if not nxt:
            return ItemResult({**meta, "complete": True}, commits)
        if known is None and meta["pages"] == 1:
            estimate = estimate_pages(page, item["created_at"])
            if estimate > INLINE_PAGES:
                # Big and new: hand the rest to the driver, which splits it into windows.
                oldest = _commit_date(page[-1])
                return ItemResult(
                    {**meta, "complete": False, "next_url": nxt, "oldest": oldest, "estimate": estimate},
                    commits,
                )
        resp = client.get(nxt)
        meta["pages"] += 1
        if resp.status_code != 200:
            raise SourceError(f"GET {path} (next page) answered {resp.status_code}")
        page = resp.json()


def estimate_pages(page: list[dict[str, Any]], created_at: str) -> float:
    """Pages left after this full first page, assuming the page's commit rate over the history left.

    Only a planning guess: a wrong guess costs balance, never correctness.
    """
    newest, oldest = parse_ts(_commit_date(page[0])), parse_ts(_commit_date(page[-1]))
    span = max(60.0, (newest - oldest).total_seconds())
    rest = max(0.0, (oldest - parse_ts(created_at)).total_seconds())
    return max(1.0, len(page) * rest / span / PER_PAGE)


def plan_windows(heads: list[dict[str, Any]], concurrency: int, extra_budget: int) -> list[dict[str, Any]]:
    """Window items for the incomplete heads: each repository gets k >= 1 windows, the biggest first.

    Each extra window can cost one extra (partial or empty) page, so at most `extra_budget` extra
    windows are handed out, and only while a window would be longer than an even share
    (`sum of pages / concurrency`, at least INLINE_PAGES).
    """
    todo = [h for h in heads if not h.get("complete")]
    total = sum(float(h["estimate"]) for h in todo)
    target = max(float(INLINE_PAGES), total / max(1, concurrency))
    windows = {h["repo"]: 1 for h in todo}
    heap = [(-float(h["estimate"]), h["repo"]) for h in todo]
    heapq.heapify(heap)
    estimates = {h["repo"]: float(h["estimate"]) for h in todo}
    while heap and extra_budget > 0:
        neg, repo = heapq.heappop(heap)
        if -neg <= target:
            break
        windows[repo] += 1
        extra_budget -= 1
        heapq.heappush(heap, (-estimates[repo] / windows[repo], repo))
    items: list[dict[str, Any]] = []
    for head in todo:
        items.extend(_split(head, windows[head["repo"]]))
    return items


def _split(head: dict[str, Any], k: int) -> list[dict[str, Any]]:
    org, repo = head["org"], head["repo"]
    oldest = parse_ts(head["oldest"])
    created = parse_ts(head["created_at"])
    cost = float(head["estimate"]) / k
    if k == 1 or oldest <= created:
        return [
            _window(
                org,
                repo,
                next_url=head["next_url"],
                stop=None,
                since=None,
                until=None,
                cost=float(head["estimate"]),
            )
        ]
    step = (oldest - created) / k
    bounds = [oldest - step * j for j in range(1, k)]  # t_1 > t_2 > ... > t_{k-1}
    bounds = [b.replace(microsecond=0) for b in bounds]
    items = [
        _window(
            org, repo, next_url=head["next_url"], stop=fmt_ts(bounds[0]), since=None, until=None, cost=cost
        )
    ]
    for j in range(1, k):
        until = fmt_ts(bounds[j - 1] - timedelta(seconds=1))
        since = fmt_ts(bounds[j]) if j < k - 1 else None  # the oldest window also takes pre-creation history
        items.append(_window(org, repo, next_url=None, stop=None, since=since, until=until, cost=cost))
    return items


def _window(
    org: str,
    repo: str,
    *,
    next_url: str | None,
    stop: str | None,
    since: str | None,
    until: str | None,
    cost: float,
) -> dict[str, Any]:
    return {
        "id": item_id("window", org, repo, next_url, stop, since, until),
        "kind": "window",
        "org": org,
        "repo": repo,
        "next_url": next_url,
        "stop": stop,
        "since": since,
        "until": until,
        "cost": cost,
    }


def run_window(client: GitHubClient, item: dict[str, Any]) -> ItemResult:
    org, repo = item["org"], item["repo"]
    meta: dict[str, Any] = {"id": item["id"], "kind": "window", "org": org, "repo": repo, "pages": 0}
    stop: str | None = item.get("stop")
    if item.get("next_url"):
        resp = client.get(item["next_url"])
    else:
        params = {"per_page": PER_PAGE, **{k: item[k] for k in ("since", "until") if item.get(k)}}
        resp = client.get(f"repos/{org}/{repo}/commits", params=params)
    commits: list[dict[str, Any]] = []
    while True:
        meta["pages"] += 1
        if resp.status_code in (404, 409):
            # Deleted or emptied since the head item ran: what was read stays, the rest is gone.
            return ItemResult({**meta, "status": "gone" if resp.status_code == 404 else "empty"}, commits)
        if resp.status_code != 200:
            raise SourceError(f"GET commits of {org}/{repo} answered {resp.status_code}")
        page: list[dict[str, Any]] = resp.json()
        commits.extend(c for c in page if stop is None or _commit_date(c) >= stop)
        nxt = resp.links.get("next", {}).get("url")
        if not nxt or (stop is not None and page and _commit_date(page[-1]) < stop):
            return ItemResult({**meta, "status": "ok"}, commits)
        resp = client.get(nxt)


@dataclass(frozen=True)
class CrawlConfig:
    """Everything an executor needs (pickled into the Spark closure)."""

    settings: Settings
    org: str
    base_url: str
    tokens: tuple[str, ...]
    threads: int
    backoff: float = 0.3
    budgets: tuple[tuple[int | None, float], ...] = ()


def run_partition(config: CrawlConfig, items: Iterable[dict[str, Any]]) -> Iterator[str]:
    """mapPartitions body: one HTTP client, `threads` workers; yields each finished item's meta JSON."""
    setup_logging()
    todo = sorted(items, key=lambda i: -float(i.get("cost", 1.0)))
    if not todo:
        return
    store = PendingStore(config.settings, config.org)
    client = GitHubClient(
        config.base_url, list(config.tokens), backoff=config.backoff, pool_size=max(4, config.threads)
    )
    client.seed_budgets(list(config.budgets))
    lock = threading.Lock()
    queue = iter(todo)
    metas: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            stats = client.track()
            result = run_head(client, item) if item["kind"] == "head" else run_window(client, item)
            counted = stats.as_dict()
            fetched_at = fmt_ts(datetime.now(UTC))
            rows = [flatten(item["org"], item["repo"], c, fetched_at) for c in result.commits]
            if rows:
                body = "\n".join(json.dumps(r, separators=(",", ":")) for r in rows).encode()
                store.put(f"items/{item['id']}.jsonl", body)
            meta = {
                **result.meta,
                "commits": len(rows),
                "requests": counted["requests"],
                "stats": counted,
            }
            store.put_json(f"items/{item['id']}.meta.json", meta)
            with lock:
                metas.append(json.dumps(meta))

    with ThreadPoolExecutor(max_workers=min(config.threads, len(todo))) as pool:
        futures = [pool.submit(worker) for _ in range(min(config.threads, len(todo)))]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            with lock:
                queue = iter(())  # let the other workers stop after their current item
            error = failed[0].exception()
            assert error is not None
            raise error
    log.info(
        "partition done: %d items, %d requests, %d retries, %d 304s",
        len(metas),
        client.stats.requests,
        client.stats.retries,
        client.stats.not_modified,
    )
    yield from metas


def split_for_partitions(items: list[dict[str, Any]], partitions: int) -> list[list[dict[str, Any]]]:
    """Longest-processing-time-first assignment of items to partitions by estimated cost."""
    bins: list[tuple[float, int, list[dict[str, Any]]]] = [(0.0, i, []) for i in range(partitions)]
    heapq.heapify(bins)
    for item in sorted(items, key=lambda i: -float(i.get("cost", 1.0))):
        load, idx, content = heapq.heappop(bins)
        content.append(item)
        heapq.heappush(bins, (load + float(item.get("cost", 1.0)), idx, content))
    return [content for _, _, content in sorted(bins, key=lambda b: b[1]) if content]


def min_pages(commits: int) -> int:
    return math.ceil(commits / PER_PAGE)
