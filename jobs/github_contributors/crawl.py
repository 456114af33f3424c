"""Executor side of the crawl: work items, run by threads inside a Spark partition.

Two kinds of item:
- `head`: the first page of a repository's commits (with `If-None-Match` when an ETag is known).
  304 ends it; with a known newest sha it reads on until that sha (an incremental crawl); for a
  repository seen for the first time it stops after page 1, and the partition plans the rest.
- `window`: the rest of a new repository's history: either the continuation of page 1
  (following `rel="next"` verbatim), down to a date when the repository is split, or a
  `since`/`until` slice (committer dates, inclusive). Big repositories get several windows
  (estimated from page 1's commit rate and the creation date), within a 1% budget of extra pages.

Every finished item lands in the `PendingStore` (commits, then meta), so a killed crawl resumes
item by item.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common.errors import SourceError
from common.logging import setup_logging
from common.tables import REPO_EMPTY, REPO_GONE, REPO_OK
from common.utc import as_utc, iso
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.pacing import Budget, Pacer
from jobs.github_contributors.pending import PendingStore

log = logging.getLogger(__name__)

PER_PAGE = 100
# A head item's status when its conditional request answered 304 (besides the repository statuses).
UNCHANGED = "unchanged"
MIN_WINDOW_PAGES = 8  # a repository is split only into windows at least this long (estimated)


def item_id(*parts: object) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def parse_ts(text: str) -> datetime:
    """GitHub's ISO 8601 instant (a value without a zone is UTC, never the machine's zone)."""
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def fmt_ts(ts: datetime) -> str:
    return iso(ts)


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
        "author_type": account.get("type"),
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


def conditional(item: dict[str, Any]) -> bool:
    """A head that asks with the last run's ETag: a 304 ends it, else it reads until the known sha."""
    return item["kind"] == "head" and bool(item.get("etag")) and bool(item.get("known_sha"))


def run_head(client: GitHubClient, item: dict[str, Any]) -> ItemResult:
    org, repo = item["org"], item["repo"]
    path = f"repos/{org}/{repo}/commits"
    meta: dict[str, Any] = {"id": item["id"], "kind": "head", "org": org, "repo": repo, "pages": 0}
    resp = client.get(path, params={"per_page": PER_PAGE}, etag=item["etag"] if conditional(item) else None)
    meta["pages"] = 1
    if resp.status_code == 304:
        return ItemResult({**meta, "status": UNCHANGED, "complete": True}, [])
    if resp.status_code == 409:
        return ItemResult({**meta, "status": REPO_EMPTY, "complete": True}, [])
    if resp.status_code == 404:
        return ItemResult({**meta, "status": REPO_GONE, "complete": True}, [])
    if resp.status_code != 200:
        raise SourceError(f"GET {path} answered {resp.status_code}")
    page: list[dict[str, Any]] = resp.json()
    meta.update(status=REPO_OK, etag=resp.headers.get("ETag"), newest_sha=page[0]["sha"] if page else None)
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
        if known is None:
            # New repository: the rest goes to windows, planned once every head of the partition is in.
            return ItemResult(
                {
                    **meta,
                    "complete": False,
                    "next_url": nxt,
                    "oldest": _commit_date(page[-1]),
                    "estimate": estimate_pages(page, item["created_at"]),
                    "created_at": item["created_at"],
                },
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
    (`sum of pages / concurrency`, at least MIN_WINDOW_PAGES).
    """
    todo = [h for h in heads if not h.get("complete")]
    total = sum(float(h["estimate"]) for h in todo)
    target = max(float(MIN_WINDOW_PAGES), total / max(1, concurrency))
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
            status = REPO_GONE if resp.status_code == 404 else REPO_EMPTY
            return ItemResult({**meta, "status": status}, commits)
        if resp.status_code != 200:
            raise SourceError(f"GET commits of {org}/{repo} answered {resp.status_code}")
        page: list[dict[str, Any]] = resp.json()
        commits.extend(c for c in page if stop is None or _commit_date(c) >= stop)
        nxt = resp.links.get("next", {}).get("url")
        if not nxt or (stop is not None and page and _commit_date(page[-1]) < stop):
            return ItemResult({**meta, "status": REPO_OK}, commits)
        resp = client.get(nxt)


@dataclass(frozen=True)
class CrawlConfig:
    """Everything an executor needs (pickled into the Spark closure; no pydantic for a local lake)."""

    store: PendingStore
    org: str
    base_url: str
    tokens: tuple[str, ...]
    threads: int
    backoff: float = 0.3
    budgets: tuple[tuple[int | None, float], ...] = ()
    # Extra windows (each may cost one extra page) per estimated page: inside the 2% margin.
    extra_ratio: float = 0.015
    # Each token's pacing budget, and what the driver's pacers sent in their last window (per
    # token, in pool order): a partition's share starts from its part of it.
    pacing: Budget = field(default_factory=Budget)
    history: tuple[dict[str, Any], ...] = ()
    secondary_wait_limit: float | None = None


def partition_client(config: CrawlConfig, share: list[tuple[int, Budget]] | None) -> GitHubClient:
    """The client of one partition: its tokens (positions in the pool) and their budget shares."""
    if share is None:  # every token, each its whole budget
        share = [(index, config.pacing) for index in range(max(1, len(config.tokens)))]
    pacers = []
    for index, budget in share:
        pacer = Pacer(budget)
        if index < len(config.history):
            pacer.preload(config.history[index], budget.fraction)
        pacers.append(pacer)
    tokens = [config.tokens[index] for index, _ in share] if config.tokens else []
    client = GitHubClient(
        config.base_url,
        tokens,
        backoff=config.backoff,
        pool_size=max(4, config.threads),
        pacers=pacers,
        positions=[index + 1 for index, _ in share],
        pool=max(1, len(config.tokens)),
        secondary_wait_limit=config.secondary_wait_limit,
    )
    if config.budgets:
        client.seed_budgets([config.budgets[index] for index, _ in share if index < len(config.budgets)])
    return client


def run_partition(
    config: CrawlConfig, items: Iterable[dict[str, Any]], share: list[tuple[int, Budget]] | None = None
) -> Iterator[str]:
    """mapPartitions body: one HTTP client shared by `threads` workers; yields every finished meta.

    Stage 1 runs the head items; then the partition plans windows for its new repositories (those
    with more than one page, plus `open` items: heads landed by a killed run without a plan) and
    writes the plan, and stage 2 runs the windows (and windows of earlier plans, when resuming).
    """
    setup_logging()
    items = list(items)
    if not items:
        return
    store = config.store
    client = partition_client(config, share)
    metas: list[dict[str, Any]] = []
    heads = [i for i in items if i["kind"] == "head"]
    metas.extend(run_items(client, store, heads, config.threads))
    open_heads = [m for m in metas if not m.get("complete")] + [
        i["head"] for i in items if i["kind"] == "open"
    ]
    windows = plan_and_save(store, open_heads, len(heads), config.threads, config.extra_ratio)
    windows += [i for i in items if i["kind"] == "window"]
    metas.extend(run_items(client, store, windows, config.threads))
    log.info(
        "partition done: %d items, %d requests, %d retries, %d 304s",
        len(metas),
        client.stats.requests,
        client.stats.retries,
        client.stats.not_modified,
    )
    yield from (json.dumps(m) for m in metas)


def plan_and_save(
    store: PendingStore, open_heads: list[dict[str, Any]], heads: int, threads: int, extra_ratio: float
) -> list[dict[str, Any]]:
    """`plan_windows` for the open heads, each repository's plan saved before any window runs (a
    resumed run then runs only the windows that did not land). `heads`: the head pages read with
    them, counted in the pages the extra-window budget is a share of."""
    planned_pages = heads + sum(float(h["estimate"]) for h in open_heads)
    windows = plan_windows(open_heads, threads, int(planned_pages * extra_ratio))
    for head in open_heads:
        store.put_json(f"plans/{head['id']}.json", [w for w in windows if w["repo"] == head["repo"]])
    return windows


def run_items(
    client: GitHubClient,
    store: PendingStore,
    items: list[dict[str, Any]],
    threads: int,
    on_commits: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Run items on `threads` threads, biggest first; land each one; stop at the first failure.
    `on_commits` is called each time an item lands commits (the driver then starts Spark).

    Each meta carries its own request counters, so `client` must not be one whose counters are
    also summed (the driver's)."""
    if not items:
        return []
    todo = iter(sorted(items, key=lambda i: -float(i.get("cost", 1.0))))
    lock = threading.Lock()
    stop = threading.Event()
    metas: list[dict[str, Any]] = []

    def worker() -> None:
        while not stop.is_set():
            with lock:
                item = next(todo, None)
            if item is None:
                return
            stats = client.track()
            result = run_head(client, item) if item["kind"] == "head" else run_window(client, item)
            counted = stats.as_dict()
            fetched_at = fmt_ts(datetime.now(UTC))
            rows = [flatten(item["org"], item["repo"], c, fetched_at) for c in result.commits]
            if rows:
                body = "\n".join(json.dumps(r, separators=(",", ":")) for r in rows).encode()
                store.write_bytes(f"items/{item['id']}.jsonl", body)
                if on_commits is not None:
                    on_commits()
            meta = {**result.meta, "commits": len(rows), "requests": counted["requests"], "stats": counted}
            store.put_json(f"items/{item['id']}.meta.json", meta)
            with lock:
                metas.append(meta)

    workers = min(threads, len(items))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            stop.set()  # the other workers stop after their current item
            error = failed[0].exception()
            assert error is not None
            raise error
    return metas


def split_for_partitions(items: list[dict[str, Any]], partitions: int) -> list[list[dict[str, Any]]]:
    """Longest-processing-time-first assignment of items to partitions by estimated cost."""
    bins: list[tuple[float, int, list[dict[str, Any]]]] = [(0.0, i, []) for i in range(partitions)]
    heapq.heapify(bins)
    for item in sorted(items, key=lambda i: -float(i.get("cost", 1.0))):
        load, idx, content = heapq.heappop(bins)
        content.append(item)
        heapq.heappush(bins, (load + float(item.get("cost", 1.0)), idx, content))
    return [content for _, _, content in sorted(bins, key=lambda b: b[1]) if content]
