"""Wikipedia: the computed days, and each day's most/least requested article, top categories, top."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from api.tables import DataUnavailableError
from api.views.common import day, rows
from common import tables

WIKI_HINT = "python -m jobs.wikimedia_pageviews --start-date YYYY-MM-DD"
DEFAULT_WIKI = "enwiki"


@dataclass(frozen=True)
class WikiView:
    default_wiki: str
    days_body: dict[str, bytes]  # wiki -> {"wiki", "days"}
    day_body: dict[tuple[str, str], bytes]  # (wiki, YYYY-MM-DD) -> the day's answer


def _top_categories(categories: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each (wiki, day)'s categories, by rank."""
    tops: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in categories:
        tops[(str(row["wiki"]), day(row["day"]))].append(
            {
                "rank": int(row["rank"]),
                "category": row["category"],
                "views": int(row["views"] or 0),
                "articles": int(row["articles"] or 0),
            }
        )
    return {key: sorted(found, key=lambda c: c["rank"]) for key, found in tops.items()}


def _day_answer(row: dict[str, Any], top_categories: list[dict[str, Any]]) -> dict[str, Any]:
    """One daily summary row as the day's answer."""
    most = None
    if row.get("most_title") is not None:
        most = {"title": row["most_title"], "views": int(row.get("most_views") or 0)}
    least = None
    if row.get("least_title") is not None:
        least = {
            "title": row["least_title"],
            "views": int(row.get("least_views") or 0),
            "ties": int(row.get("least_ties") or 0),
        }
    hours = int(row.get("hours") or 0)
    complete = row.get("complete")
    return {
        "day": day(row["day"]),
        "wiki": str(row["wiki"]),
        "hours": hours,
        "complete": bool(hours == 24 if complete is None else complete),
        "most_requested": most,
        "least_requested": least,
        "top_categories": top_categories,
    }


def build_wiki(data: Mapping[str, Any]) -> WikiView:
    summary = rows(data[tables.WIKI_DAILY_SUMMARY.path])
    tops = _top_categories(rows(data[tables.WIKI_TOP_CATEGORIES.path]))
    days: dict[str, set[str]] = defaultdict(set)
    day_body: dict[tuple[str, str], bytes] = {}
    for row in summary:
        key = (str(row["wiki"]), day(row["day"]))
        days[key[0]].add(key[1])
        day_body[key] = orjson.dumps(_day_answer(row, tops.get(key, [])))
    if not days:
        raise DataUnavailableError(f"no Wikipedia day computed yet: run `{WIKI_HINT}`")
    default = DEFAULT_WIKI if DEFAULT_WIKI in days else sorted(days)[0]
    days_body = {w: orjson.dumps({"wiki": w, "days": sorted(d)}) for w, d in days.items()}
    return WikiView(default, days_body, day_body)


# --- the day's top articles and their flags ---

SERVED_TOP = 25
NO_TOP = b',"top":[],"most_requested_unflagged":null'


@dataclass(frozen=True)
class WikiTopView:
    extras: dict[tuple[str, str], bytes]  # (wiki, day) -> `,"top":[...],"most_requested_unflagged":...`

    def extend(self, wiki: str, day: str, body: bytes) -> bytes:
        """The day's answer (a JSON object) with the two keys added before its closing brace."""
        return body[:-1] + self.extras.get((wiki, day), NO_TOP) + b"}"


def _share(value: Any) -> float | None:
    return None if value is None else float(value)


def build_wiki_top(data: Mapping[str, Any]) -> WikiTopView:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows(data[tables.WIKI_TOP_ARTICLES.path]):
        grouped[(str(row["wiki"]), day(row["day"]))].append(row)
    extras = {}
    for key, articles in grouped.items():
        articles.sort(key=lambda r: int(r["rank"]))
        top = [
            {
                "rank": int(r["rank"]),
                "title": r["title"],
                "views": int(r["views"] or 0),
                "mobile_share": _share(r.get("mobile_share")),
                "peak_hour_share": _share(r.get("peak_hour_share")),
                "flags": list(r.get("flags") or []),
            }
            for r in articles[:SERVED_TOP]
        ]
        clean = next((r for r in articles if not r.get("flags")), None)
        unflagged = None if clean is None else {"title": clean["title"], "views": int(clean["views"] or 0)}
        extras[key] = (
            b',"top":' + orjson.dumps(top) + b',"most_requested_unflagged":' + orjson.dumps(unflagged)
        )
    return WikiTopView(extras)
