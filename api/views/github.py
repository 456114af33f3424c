"""GitHub: the organization's repositories, their monthly series (all and humans only), contributors."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from api.tables import DataUnavailableError, Unreadable
from api.views.common import iso_utc, rows
from common import tables
from common.utc import sort_key

JOB = "python -m jobs.github_contributors"


def job_command(org: str | None) -> str:
    """The command that computes `org` (any organization when None), quoted in 503 answers."""
    return f"{JOB} --org {'ORG' if org is None else org}"


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


def _human_series(name: str, monthly: list[dict[str, Any]]) -> RepoSeries | None:
    """The series of `new_humans` with its own running total, or None when a month lacks it."""
    if any(row.get("new_humans") is None for row in monthly):
        return None
    entries, total = [], 0
    for row in monthly:
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
        raise DataUnavailableError(unreadable or f"no repository computed yet: run `{job_command(None)}`")
    return str(max(candidates, key=lambda r: (sort_key(r.get("computed_at")), str(r.get("org"))))["org"])


def _listed(repos: list[dict[str, Any]], org: str) -> dict[str, dict[str, Any]]:
    """The org's repositories, the newest row of each."""
    listed: dict[str, dict[str, Any]] = {}
    for row in repos:
        # A repository that answered 404 has no row (common.tables.REPO_GONE): the API answers 404.
        if row.get("org") != org:
            continue
        name = str(row["repo"])
        seen = listed.get(name)
        if seen is None or sort_key(row.get("computed_at")) >= sort_key(seen.get("computed_at")):
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
        stamp = sort_key(row.get("computed_at"))
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
    repos = rows(data[tables.GITHUB_REPOSITORIES.path])
    found = data[tables.GITHUB_NEW_CONTRIBUTORS.path]
    unreadable = found.message if isinstance(found, Unreadable) else None
    monthly = [] if unreadable is not None else rows(found)
    org = _pick_org(repos, monthly, unreadable) if org is None else str(org)
    listed = _listed(repos, org)
    if not listed and not any(r.get("org") == org for r in monthly):
        missing = f"no data for organization '{org}': run `{job_command(org)}`"
        raise DataUnavailableError(unreadable or missing)
    series, humans = ({}, {}) if unreadable is not None else _series(monthly, org, listed)
    listing = [
        {
            "repo": name,
            "created_at": iso_utc(listed[name].get("created_at")),
            "total_contributors": int(listed[name].get("total_contributors") or 0),
        }
        for name in sorted(listed)
    ]
    body = orjson.dumps({"org": org, "repos": listing})
    return GithubView(org, body, series, humans, frozenset(listed), unreadable)


# --- contributors: who committed first when, per repository ---


@dataclass(frozen=True)
class ContributorsView:
    bodies: dict[tuple[str, str], bytes]  # (org, repo) -> {"repo", "contributors"}

    def body(self, org: str, repo: str) -> bytes:
        """A listed repository with no contributor row (empty, or nobody yet) has an empty list."""
        found = self.bodies.get((org, repo))
        return found if found is not None else orjson.dumps({"repo": repo, "contributors": []})


def build_contributors(data: Mapping[str, Any]) -> ContributorsView:
    grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows(data[tables.GITHUB_CONTRIBUTORS.path]):
        key = (str(row["org"]), str(row["repo"]))
        seen = grouped[key].get(row["identity"])
        if seen is None or sort_key(row.get("computed_at")) >= sort_key(seen.get("computed_at")):
            grouped[key][str(row["identity"])] = row
    bodies = {}
    for (org, repo), people_rows in grouped.items():
        people = [
            {
                "identity": identity,
                "kind": str(row["kind"]),
                "first_commit_at": iso_utc(row.get("first_commit_at")),
                "commits": int(row.get("commits") or 0),
            }
            for identity, row in people_rows.items()
        ]
        people.sort(key=lambda p: (p["first_commit_at"] or "9999", p["identity"]))
        bodies[(org, repo)] = orjson.dumps({"repo": repo, "contributors": people})
    return ContributorsView(bodies)
