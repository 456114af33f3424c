"""Ready-to-serve views of the gold tables: every answer that can be is encoded once per version.

Built from pyarrow tables (whatever delta-rs read) by plain Python over small row lists, so a
request is a dict lookup plus, for a `from`/`to` window, a bisect and one orjson call.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from api.tables import Dataset, DataUnavailableError, Unreadable
from common import tables
from common.tables import DATAGOUV_TOP_FIELDS

GITHUB_HINT = "python -m jobs.github_contributors --org ORG"
WIKI_HINT = "python -m jobs.wikimedia_pageviews --start-date YYYY-MM-DD"
DATAGOUV_HINT = "python -m jobs.datagouv_catalog"
DEFAULT_WIKI = "enwiki"


def _rows(table: Any) -> list[dict[str, Any]]:
    """A table's rows; an unreadable table makes the answers built from it unavailable."""
    if isinstance(table, Unreadable):
        raise DataUnavailableError(table.message)
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _iso_utc(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def _newest(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return datetime.min.replace(tzinfo=UTC)


# --- GitHub ---


@dataclass(frozen=True)
class RepoSeries:
    months: list[str]  # sorted "YYYY-MM", for bisecting a window
    entries: list[dict[str, Any]]
    body: bytes  # the whole series, encoded

    def window(self, repo: str, start: str | None, end: str | None) -> bytes:
        if start is None and end is None:
            return self.body
        lo = 0 if start is None else bisect.bisect_left(self.months, start)
        hi = len(self.months) if end is None else bisect.bisect_right(self.months, end)
        return orjson.dumps({"repo": repo, "months": self.entries[lo:hi]})


@dataclass(frozen=True)
class GithubView:
    org: str
    repos_body: bytes
    series: dict[str, RepoSeries]
    # ?exclude_bots=true: the human series (new_humans, its running total) of repositories whose
    # rows carry it (a job run since the column was added).
    humans: dict[str, RepoSeries] = field(default_factory=dict)
    listed: frozenset[str] = frozenset()  # the repositories /github/repos lists
    # Set when github/new_contributors_monthly cannot be read: the series answer 503 with it, the
    # listing (github/repositories alone) is still served.
    series_error: str | None = None


def _human_series(name: str, rows: list[dict[str, Any]]) -> RepoSeries | None:
    """The series of `new_humans` with its own running total, or None when a month lacks it."""
    if any(row.get("new_humans") is None for row in rows):
        return None
    entries, total = [], 0
    for row in rows:
        total += int(row["new_humans"])
        entries.append(
            {"month": row["month"], "new_contributors": int(row["new_humans"]), "total_contributors": total}
        )
    months = [e["month"] for e in entries]
    return RepoSeries(months, entries, orjson.dumps({"repo": name, "months": entries}))


def _pick_org(repos: list[dict[str, Any]], monthly: list[dict[str, Any]], unreadable: str | None) -> str:
    """The most recently computed organization (from the series only when no repository row)."""
    candidates = repos or monthly
    if not candidates:
        raise DataUnavailableError(unreadable or f"no repository computed yet: run `{GITHUB_HINT}`")
    return str(max(candidates, key=lambda r: (_newest(r.get("computed_at")), str(r.get("org"))))["org"])


def _listed(repos: list[dict[str, Any]], org: str) -> dict[str, dict[str, Any]]:
    """The org's repositories, the newest row of each."""
    listed: dict[str, dict[str, Any]] = {}
    for row in repos:
        # A repository that answered 404 has no row (common.tables.REPO_GONE): the API answers 404.
        if row.get("org") != org:
            continue
        name = str(row["repo"])
        if name not in listed or _newest(row.get("computed_at")) >= _newest(listed[name].get("computed_at")):
            listed[name] = row
    return listed


def _series(
    monthly: list[dict[str, Any]], org: str, listed: Mapping[str, Any]
) -> tuple[dict[str, RepoSeries], dict[str, RepoSeries]]:
    """Each listed repository's series (the newest row of each month), and its human series."""
    by_repo: dict[str, dict[str, tuple[datetime, dict[str, Any]]]] = defaultdict(dict)
    raw: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in monthly:
        if row.get("org") != org or row.get("repo") not in listed:
            continue
        month = str(row["month"])
        stamp = _newest(row.get("computed_at"))
        seen = by_repo[row["repo"]].get(month)
        if seen is None or stamp >= seen[0]:
            entry = {
                "month": month,
                "new_contributors": int(row["new_contributors"] or 0),
                "total_contributors": int(row["total_contributors"] or 0),
            }
            by_repo[row["repo"]][month] = (stamp, entry)
            raw[row["repo"]][month] = row
    series: dict[str, RepoSeries] = {}
    humans: dict[str, RepoSeries] = {}
    for name in listed:
        months = sorted(by_repo.get(name, {}))
        entries = [by_repo[name][m][1] for m in months]
        series[name] = RepoSeries(months, entries, orjson.dumps({"repo": name, "months": entries}))
        human = _human_series(name, [raw[name][m] for m in months])
        if human is not None:
            humans[name] = human
    return series, humans


def build_github(data: Mapping[str, Any], org: str | None) -> GithubView:
    """One organization's repositories and series; `org` None means the most recently computed one.

    An unreadable series table leaves the listing served and the series answering 503.
    """
    repos = _rows(data[tables.GITHUB_REPOSITORIES.path])
    found = data[tables.GITHUB_NEW_CONTRIBUTORS.path]
    unreadable = found.message if isinstance(found, Unreadable) else None
    monthly = [] if unreadable is not None else _rows(found)
    org = _pick_org(repos, monthly, unreadable) if org is None else str(org)
    listed = _listed(repos, org)
    if not listed and not any(r.get("org") == org for r in monthly):
        raise DataUnavailableError(
            unreadable
            or f"no data for organization '{org}': run `python -m jobs.github_contributors --org {org}`"
        )
    series, humans = ({}, {}) if unreadable is not None else _series(monthly, org, listed)
    listing = [
        {
            "repo": name,
            "created_at": _iso_utc(listed[name].get("created_at")),
            "total_contributors": int(listed[name].get("total_contributors") or 0),
        }
        for name in sorted(listed)
    ]
    body = orjson.dumps({"org": org, "repos": listing})
    return GithubView(org, body, series, humans, frozenset(listed), unreadable)


# --- Wikipedia ---


@dataclass(frozen=True)
class WikiView:
    default_wiki: str
    days_body: dict[str, bytes]  # wiki -> {"wiki", "days"}
    day_body: dict[tuple[str, str], bytes]  # (wiki, YYYY-MM-DD) -> the day's answer


def build_wiki(data: Mapping[str, Any]) -> WikiView:
    summary = _rows(data[tables.WIKI_DAILY_SUMMARY.path])
    categories = _rows(data[tables.WIKI_TOP_CATEGORIES.path])
    tops: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in categories:
        tops[(str(row["wiki"]), _day(row["day"]))].append(
            {
                "rank": int(row["rank"]),
                "category": row["category"],
                "views": int(row["views"] or 0),
                "articles": int(row["articles"] or 0),
            }
        )
    days: dict[str, set[str]] = defaultdict(set)
    day_body: dict[tuple[str, str], bytes] = {}
    for row in summary:
        wiki, day = str(row["wiki"]), _day(row["day"])
        days[wiki].add(day)
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
        day_body[(wiki, day)] = orjson.dumps(
            {
                "day": day,
                "wiki": wiki,
                "hours": hours,
                "complete": bool(hours == 24 if complete is None else complete),
                "most_requested": most,
                "least_requested": least,
                "top_categories": sorted(tops.get((wiki, day), []), key=lambda c: c["rank"]),
            }
        )
    if not days:
        raise DataUnavailableError(f"no Wikipedia day computed yet: run `{WIKI_HINT}`")
    default = DEFAULT_WIKI if DEFAULT_WIKI in days else sorted(days)[0]
    days_body = {w: orjson.dumps({"wiki": w, "days": sorted(d)}) for w, d in days.items()}
    return WikiView(default, days_body, day_body)


# --- data.gouv.fr ---

DATASET_FIELDS = DATAGOUV_TOP_FIELDS


@dataclass(frozen=True)
class DatagouvView:
    latest: str
    bodies: dict[str, bytes]  # run_date -> answer


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def build_datagouv(data: Mapping[str, Any]) -> DatagouvView:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows(data[tables.DATAGOUV_TOPS.path]):
        doc = {f: row.get(f) for f in DATASET_FIELDS}
        doc["dataset_id"] = str(doc["dataset_id"])
        for number in ("dataset_followers", "organization_followers"):
            doc[number] = _int_or_none(doc[number])
        grouped[_day(row["run_date"])].append(doc)
    if not grouped:
        raise DataUnavailableError(f"no data.gouv.fr run yet: run `{DATAGOUV_HINT}`")
    bodies = {}
    for run_date, docs in grouped.items():
        docs.sort(
            key=lambda d: (
                -(d["organization_followers"] or 0),
                -(d["dataset_followers"] or 0),
                d["dataset_id"],
            )
        )
        bodies[run_date] = orjson.dumps({"run_date": run_date, "datasets": docs})
    return DatagouvView(max(grouped), bodies)


def datasets(github_org: str | None) -> list[Dataset[Any]]:
    """The three datasets the API serves, in the order the dashboard shows them."""
    return [
        Dataset(
            "github",
            (tables.GITHUB_REPOSITORIES, tables.GITHUB_NEW_CONTRIBUTORS),
            lambda data: build_github(data, github_org),
            GITHUB_HINT if github_org is None else f"python -m jobs.github_contributors --org {github_org}",
            partial=(tables.GITHUB_NEW_CONTRIBUTORS,),
        ),
        Dataset("wikipedia", (tables.WIKI_DAILY_SUMMARY, tables.WIKI_TOP_CATEGORIES), build_wiki, WIKI_HINT),
        Dataset("datagouv", (tables.DATAGOUV_TOPS,), build_datagouv, DATAGOUV_HINT),
    ]
