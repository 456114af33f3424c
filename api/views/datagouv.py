"""Views of the second-wave additions (contributors, catalogue changes, the Wikipedia top).

Each is its own dataset, so a lake whose jobs ran before these tables existed still serves every
contract answer; only the new routes answer 503 until the jobs run again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from api.tables import Dataset, DataUnavailableError
from api.views import DATAGOUV_HINT, GITHUB_HINT, WIKI_HINT, _day, _iso_utc, _newest, _rows
from common import tables

# --- GitHub: contributors ---


@dataclass(frozen=True)
class ContributorsView:
    bodies: dict[tuple[str, str], bytes]  # (org, repo) -> {"repo", "contributors"}

    def body(self, org: str, repo: str) -> bytes:
        """A listed repository with no contributor row (empty, or nobody yet) has an empty list."""
        found = self.bodies.get((org, repo))
        return found if found is not None else orjson.dumps({"repo": repo, "contributors": []})


def build_contributors(data: Mapping[str, Any]) -> ContributorsView:
    grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in _rows(data[tables.GITHUB_CONTRIBUTORS.path]):
        key = (str(row["org"]), str(row["repo"]))
        seen = grouped[key].get(row["identity"])
        if seen is None or _newest(row.get("computed_at")) >= _newest(seen.get("computed_at")):
            grouped[key][str(row["identity"])] = row
    bodies = {}
    for (org, repo), rows in grouped.items():
        people = [
            {
                "identity": identity,
                "kind": str(row["kind"]),
                "first_commit_at": _iso_utc(row.get("first_commit_at")),
                "commits": int(row.get("commits") or 0),
            }
            for identity, row in rows.items()
        ]
        people.sort(key=lambda p: (p["first_commit_at"] or "9999", p["identity"]))
        bodies[(org, repo)] = orjson.dumps({"repo": repo, "contributors": people})
    return ContributorsView(bodies)


# --- data.gouv.fr: changes since the previous run date ---


@dataclass(frozen=True)
class ChangesView:
    latest: str
    bodies: dict[str, bytes]  # run_date -> answer


def build_changes(data: Mapping[str, Any]) -> ChangesView:
    runs = _rows(data[tables.DATAGOUV_CHANGE_RUNS.path])
    if not runs:
        raise DataUnavailableError(f"no data.gouv.fr run yet: run `{DATAGOUV_HINT}`")
    lists: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"added": [], "removed": [], "changed": []})
    for row in _rows(data[tables.DATAGOUV_CHANGES.path]):
        change, dataset_id = str(row["change"]), str(row["dataset_id"])
        entry: Any = {"dataset_id": dataset_id, "fields": list(row.get("fields") or [])}
        lists[_day(row["run_date"])][change].append(dataset_id if change != "changed" else entry)
    bodies = {}
    for run in runs:
        run_date = _day(run["run_date"])
        found = lists[run_date]
        previous = run.get("previous_run_date")
        bodies[run_date] = orjson.dumps(
            {
                "run_date": run_date,
                "previous_run_date": None if previous is None else _day(previous),
                "added": sorted(found["added"]),
                "removed": sorted(found["removed"]),
                "changed": sorted(found["changed"], key=lambda c: c["dataset_id"]),
            }
        )
    return ChangesView(max(bodies), bodies)


# --- Wikipedia: the day's top articles and their flags ---

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
    for row in _rows(data[tables.WIKI_TOP_ARTICLES.path]):
        grouped[(str(row["wiki"]), _day(row["day"]))].append(row)
    extras = {}
    for key, rows in grouped.items():
        rows.sort(key=lambda r: int(r["rank"]))
        top = [
            {
                "rank": int(r["rank"]),
                "title": r["title"],
                "views": int(r["views"] or 0),
                "mobile_share": _share(r.get("mobile_share")),
                "peak_hour_share": _share(r.get("peak_hour_share")),
                "flags": list(r.get("flags") or []),
            }
            for r in rows[:SERVED_TOP]
        ]
        clean = next((r for r in rows if not r.get("flags")), None)
        unflagged = None if clean is None else {"title": clean["title"], "views": int(clean["views"] or 0)}
        extras[key] = (
            b',"top":' + orjson.dumps(top) + b',"most_requested_unflagged":' + orjson.dumps(unflagged)
        )
    return WikiTopView(extras)


def datasets(github_org: str | None) -> list[Dataset[Any]]:
    """The additions' datasets, served beside `api.views.datasets`."""
    github_hint = (
        GITHUB_HINT if github_org is None else f"python -m jobs.github_contributors --org {github_org}"
    )
    return [
        Dataset("github_contributors", (tables.GITHUB_CONTRIBUTORS,), build_contributors, github_hint),
        Dataset(
            "datagouv_changes",
            (tables.DATAGOUV_CHANGE_RUNS, tables.DATAGOUV_CHANGES),
            build_changes,
            DATAGOUV_HINT,
        ),
        Dataset("wikipedia_top", (tables.WIKI_TOP_ARTICLES,), build_wiki_top, WIKI_HINT),
    ]
