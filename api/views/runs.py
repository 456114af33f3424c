"""The run ledger's view: each run's record (common.ledger), newest first, for /runs and /metrics."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from common import tables
from common.ledger import SUCCEEDED, latest_records
from common.utc import MICROSECONDS, iso

RUN_FIELDS = (
    "run_id",
    "job",
    "status",
    "started_at",
    "finished_at",
    "duration_seconds",
    "version",
    "mode",
    "error",
    "args",
    "settings",
    "stages",
    "inputs",
    "outputs",
)


# The ledger keeps where a run read and wrote (settings, inputs, errors): for the operator on the
# machine. The API is public: it serves those records without endpoint URLs and server paths.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()]+")
_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+~-]+/)*[\w.@+~-]+/?")


def _public(value: Any) -> Any:
    """A record's value with every URL and absolute path replaced by `<url>` / `<path>`."""
    if isinstance(value, str):
        return _PATH.sub("<path>", _URL.sub("<url>", value))
    if isinstance(value, dict):
        return {_public(k): _public(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def _iso(value: Any) -> Any:
    """A timestamp as ISO 8601 in UTC to the microsecond; any other value as it is."""
    return iso(value, MICROSECONDS) if isinstance(value, datetime) else value


@dataclass(frozen=True)
class RunsView:
    runs: list[dict[str, Any]]  # the API's records, newest first
    bodies: dict[str, bytes]  # run_id -> its record, encoded
    last_success: dict[str, datetime]  # table path -> when the newest succeeded run writing it ended
    last_success_by_job: dict[str, datetime]
    # Runs recorded as succeeded: the table cache serves a run that rewrote only some of a job's
    # tables once it is among them (api.consistency).
    succeeded: frozenset[str] = frozenset()

    def select(self, job: str | None, status: str | None, limit: int) -> bytes:
        chosen = [
            r
            for r in self.runs
            if (job is None or r["job"] == job) and (status is None or r["status"] == status)
        ]
        return orjson.dumps({"runs": chosen[:limit]})


def build_runs(data: Mapping[str, Any]) -> RunsView:
    """Collapse the ledger's log into one record per run; an absent ledger is no run at all."""
    table = data[tables.OPS_RUNS.path]
    records = [] if table is None else latest_records(table.to_pylist())
    runs = [{name: _public(_iso(record.get(name))) for name in RUN_FIELDS} for record in records]
    last_success: dict[str, datetime] = {}
    by_job: dict[str, datetime] = {}
    for record in records:  # newest first: the first succeeded run seen per table wins
        finished = record.get("finished_at")
        if record["status"] != SUCCEEDED or not isinstance(finished, datetime):
            continue
        by_job.setdefault(record["job"], finished)
        for path in record.get("outputs") or {}:
            last_success.setdefault(path, finished)
    succeeded = frozenset(str(r["run_id"]) for r in records if r["status"] == SUCCEEDED)
    return RunsView(runs, {r["run_id"]: orjson.dumps(r) for r in runs}, last_success, by_job, succeeded)
