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
from api.views import DATAGOUV_HINT, GITHUB_HINT, WIKI_HINT, _iso_utc, _newest, _rows
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


def datasets(github_org: str | None) -> list[Dataset[Any]]:
    """The additions' datasets, served beside `api.views.datasets`."""
    github_hint = (
        GITHUB_HINT if github_org is None else f"python -m jobs.github_contributors --org {github_org}"
    )
    return [
        Dataset("github_contributors", (tables.GITHUB_CONTRIBUTORS,), build_contributors, github_hint),
    ]


__all__ = ["DATAGOUV_HINT", "WIKI_HINT", "ContributorsView", "DataUnavailableError", "datasets"]
