"""data.gouv.fr: the top organizations' mobility datasets per run date, and the changes between runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from api.tables import DataUnavailableError
from api.views.common import day, rows
from common import tables
from common.tables import DATAGOUV_TOP_FIELDS

DATAGOUV_HINT = "python -m jobs.datagouv_catalog"
NO_RUN = f"no data.gouv.fr run yet: run `{DATAGOUV_HINT}`"


@dataclass(frozen=True)
class DatagouvView:
    """Answers by run date; the latest is served when none is asked for."""

    latest: str
    bodies: dict[str, bytes]  # run_date -> answer


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def build_datagouv(data: Mapping[str, Any]) -> DatagouvView:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows(data[tables.DATAGOUV_TOPS.path]):
        doc = {f: row.get(f) for f in DATAGOUV_TOP_FIELDS}
        doc["dataset_id"] = str(doc["dataset_id"])
        for number in ("dataset_followers", "organization_followers"):
            doc[number] = _int_or_none(doc[number])
        grouped[day(row["run_date"])].append(doc)
    if not grouped:
        raise DataUnavailableError(NO_RUN)
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


# --- changes since the previous run date ---


@dataclass(frozen=True)
class ChangesView(DatagouvView):
    titles: DatagouvView  # the titles of the datasets each run date lists (the dashboard names them)


def build_changes(data: Mapping[str, Any]) -> ChangesView:
    runs = rows(data[tables.DATAGOUV_CHANGE_RUNS.path])
    if not runs:
        raise DataUnavailableError(NO_RUN)
    lists: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"added": [], "removed": [], "changed": []})
    titles: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows(data[tables.DATAGOUV_CHANGES.path]):
        change, dataset_id, run_date = str(row["change"]), str(row["dataset_id"]), day(row["run_date"])
        entry: Any = {"dataset_id": dataset_id, "fields": list(row.get("fields") or [])}
        lists[run_date][change].append(dataset_id if change != "changed" else entry)
        if row.get("title") is not None:  # absent from tables written before it was kept
            titles[run_date][dataset_id] = str(row["title"])
    bodies = {}
    for run in runs:
        run_date = day(run["run_date"])
        found = lists[run_date]
        previous = run.get("previous_run_date")
        bodies[run_date] = orjson.dumps(
            {
                "run_date": run_date,
                "previous_run_date": None if previous is None else day(previous),
                "added": sorted(found["added"]),
                "removed": sorted(found["removed"]),
                "changed": sorted(found["changed"], key=lambda c: c["dataset_id"]),
            }
        )
    named = {d: orjson.dumps({"run_date": d, "titles": dict(sorted(titles[d].items()))}) for d in bodies}
    return ChangesView(max(bodies), bodies, DatagouvView(max(bodies), named))
