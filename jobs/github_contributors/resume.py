"""Resume planning: which work items a run still has to do, and the crawl's outcome once done.

Everything here is plain data in, plain data out (item dicts, landed metas, saved window plans),
so the rules are tested without Spark or HTTP. The rules: a head that did not land runs again;
a landed head whose windows were planned runs only the windows that did not land; a landed head
without a plan (killed between landing and planning) comes back as an `open` item, to be planned
again. The run is complete only when every planned window landed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.errors import SourceError
from common.tables import REPO_OK
from jobs.github_contributors.crawl import head_item

Item = dict[str, Any]
# A saved window plan, by head item id (None when that head was never planned).
PlanLoader = Callable[[str], list[Item] | None]


def head_items(
    org: str, listing: Sequence[Mapping[str, Any]], state: Mapping[str, Mapping[str, Any]]
) -> list[Item]:
    """One head item per listed repository, conditional (ETag, newest sha) when the last run read it."""
    heads = []
    for repo in listing:
        name = str(repo["name"])
        previous = state.get(name) or {}
        known = previous.get("newest_sha") if previous.get("status") == REPO_OK else None
        heads.append(head_item(org, name, str(repo["created_at"]), previous.get("etag"), known))
    return heads


def open_item(meta: Item) -> Item:
    """A landed head that read page 1 of a new history but has no window plan yet: its windows are
    planned again (by the driver, or by the partition that gets it)."""
    return {"kind": "open", "id": meta["id"], "head": meta, "cost": meta["estimate"]}


@dataclass
class Todo:
    """The items to run now, and the window plans of heads a previous run landed."""

    items: list[Item] = field(default_factory=list)
    plans: dict[str, list[Item]] = field(default_factory=dict)


def plan(heads: Sequence[Item], landed: Mapping[str, Item], load_plan: PlanLoader) -> Todo:
    """What is left to do of `heads`, given the metas already landed (by item id)."""
    todo = Todo()
    for head in heads:
        meta = landed.get(head["id"])
        if meta is None:
            todo.items.append(head)
        elif not meta.get("complete"):
            saved = load_plan(head["id"])
            if saved is None:
                todo.items.append(open_item(meta))
            else:
                todo.plans[head["id"]] = saved
                todo.items.extend(w for w in saved if w["id"] not in landed)
    return todo


@dataclass
class Crawled:
    """The landed metas of a finished crawl: one per head, then every window of the split heads."""

    heads: list[Item]
    windows: list[Item]
    split_repos: int = 0

    @property
    def items(self) -> list[Item]:
        return [*self.heads, *self.windows]


def collect(
    org: str,
    heads: Sequence[Item],
    landed: Mapping[str, Item],
    plans: Mapping[str, list[Item]],
    load_plan: PlanLoader,
) -> Crawled:
    """The metas of every item of `heads` (and their windows); SourceError when one is missing."""
    head_metas = []
    for head in heads:
        meta = landed.get(head["id"])
        if meta is None:
            raise SourceError(f"crawl of {org}/{head['repo']} incomplete (the head item did not land); rerun")
        head_metas.append(meta)
    crawled = Crawled(head_metas, [])
    for meta in head_metas:
        if meta.get("complete"):
            continue
        windows = plans.get(meta["id"]) or load_plan(meta["id"]) or []
        missing = [w["id"] for w in windows if w["id"] not in landed]
        if not windows or missing:
            raise SourceError(f"crawl of {org}/{meta['repo']} incomplete ({len(missing)} windows); rerun")
        crawled.windows.extend(landed[w["id"]] for w in windows)
        crawled.split_repos += len(windows) > 1
    return crawled
