"""Small gold tables of exactly the jobs' schemas, written with delta-rs (no Spark): the API's tests
and its benchmark start from them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

import pyarrow as pa
from deltalake import write_deltalake

from common import tables
from common.settings import Settings
from common.storage import delta_rs_uri, delta_storage_options, lake_path

TS = pa.timestamp("us", tz="UTC")
REPOSITORIES = pa.schema(
    [
        ("org", pa.string()),
        ("repo", pa.string()),
        ("created_at", TS),
        ("total_contributors", pa.int64()),
        ("status", pa.string()),
        ("fork", pa.bool_()),
        ("archived", pa.bool_()),
        ("computed_at", TS),
    ]
)
MONTHLY = pa.schema(
    [
        ("org", pa.string()),
        ("repo", pa.string()),
        ("month", pa.string()),
        ("new_contributors", pa.int64()),
        ("total_contributors", pa.int64()),
        ("computed_at", TS),
        # The bots/identities additions (docs/contract.md 6.3): here every contributor is human.
        ("new_humans", pa.int64()),
        ("new_bots", pa.int64()),
        ("new_humans_merged", pa.int64()),
    ]
)
CONTRIBUTORS = pa.schema(
    [
        ("org", pa.string()),
        ("repo", pa.string()),
        ("identity", pa.string()),
        ("kind", pa.string()),
        ("first_commit_at", TS),
        ("commits", pa.int64()),
        ("merged_identity", pa.string()),
        ("computed_at", TS),
    ]
)
CHANGE_RUNS = pa.schema(
    [
        ("run_date", pa.string()),
        ("previous_run_date", pa.string()),
        ("matching", pa.int64()),
        ("added", pa.int64()),
        ("removed", pa.int64()),
        ("changed", pa.int64()),
    ]
)
CHANGES = pa.schema(
    [
        ("run_date", pa.string()),
        ("previous_run_date", pa.string()),
        ("dataset_id", pa.string()),
        ("change", pa.string()),
        ("fields", pa.list_(pa.string())),
        ("title", pa.string()),
    ]
)
SUMMARY = pa.schema(
    [
        ("wiki", pa.string()),
        ("day", pa.date32()),
        ("hours", pa.int32()),
        ("complete", pa.bool_()),
        ("most_title", pa.string()),
        ("most_views", pa.int64()),
        ("least_title", pa.string()),
        ("least_views", pa.int64()),
        ("least_ties", pa.int64()),
    ]
)
TOP_CATEGORIES = pa.schema(
    [
        ("wiki", pa.string()),
        ("day", pa.date32()),
        ("rank", pa.int32()),
        ("category", pa.string()),
        ("views", pa.int64()),
        ("articles", pa.int64()),
    ]
)
TOPS = pa.schema(
    [
        ("run_date", pa.string()),
        ("dataset_id", pa.string()),
        ("title", pa.string()),
        ("dataset_followers", pa.int64()),
        ("organization", pa.string()),
        ("organization_id", pa.string()),
        ("organization_followers", pa.int64()),
    ]
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
EARLIER = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

# alpha: six months, 2023-01 .. 2023-06
ALPHA = [("2023-01", 2), ("2023-02", 0), ("2023-03", 3), ("2023-04", 1), ("2023-05", 0), ("2023-06", 4)]


def monthly_rows(
    org: str, repo: str, counts: list[tuple[str, int]], at: datetime = NOW
) -> list[dict[str, Any]]:
    rows, total = [], 0
    for month, new in counts:
        total += new
        rows.append(
            {
                "org": org,
                "repo": repo,
                "month": month,
                "new_contributors": new,
                "total_contributors": total,
                "computed_at": at,
                "new_humans": new,
                "new_bots": 0,
                "new_humans_merged": new,
            }
        )
    return rows


def repo_row(
    org: str, repo: str, created: datetime, total: int, *, status: str = tables.REPO_OK, at: datetime = NOW
) -> dict[str, Any]:
    return {
        "org": org,
        "repo": repo,
        "created_at": created,
        "total_contributors": total,
        "status": status,
        "fork": False,
        "archived": False,
        "computed_at": at,
    }


def write(
    settings: Settings,
    table: tables.Table,
    schema: pa.Schema,
    rows: list[dict[str, Any]],
    mode: Literal["append", "overwrite"] = "overwrite",
) -> None:
    uri = delta_rs_uri(lake_path(settings, table.path))
    data = pa.Table.from_pylist(rows, schema=schema)
    options = {k: str(v) for k, v in delta_storage_options(settings).items()}
    write_deltalake(
        uri,
        data,
        mode=mode,
        storage_options=options or None,
        partition_by=list(table.partition_by) or None,
    )


def write_github(settings: Settings) -> None:
    write(
        settings,
        tables.GITHUB_REPOSITORIES,
        REPOSITORIES,
        [
            # An empty repository (409): listed, with an all-zero series.
            repo_row("acme", "beta", datetime(2023, 11, 2, 8, 30, tzinfo=UTC), 0, status=tables.REPO_EMPTY),
            repo_row("acme", "alpha", datetime(2023, 1, 15, 10, 0, 5, tzinfo=UTC), 10),
            repo_row("oldorg", "legacy", datetime(2020, 1, 1, tzinfo=UTC), 1, at=EARLIER),
        ],
    )
    write(
        settings,
        tables.GITHUB_NEW_CONTRIBUTORS,
        MONTHLY,
        [
            *monthly_rows("acme", "alpha", ALPHA),
            *monthly_rows("acme", "beta", [("2023-11", 0), ("2023-12", 0), ("2024-01", 0)]),
            *monthly_rows("oldorg", "legacy", [("2020-01", 1)], at=EARLIER),
        ],
    )
    first = datetime(2023, 1, 20, 9, 0, tzinfo=UTC)
    write(
        settings,
        tables.GITHUB_CONTRIBUTORS,
        CONTRIBUTORS,
        [
            {
                "org": "acme",
                "repo": "alpha",
                "identity": who,
                "kind": "human",
                "first_commit_at": first,
                "commits": 1,
                "merged_identity": who,
                "computed_at": NOW,
            }
            for who in ("ann", "bob@corp.com")
        ],
    )


def write_wiki(settings: Settings) -> None:
    write(
        settings,
        tables.WIKI_DAILY_SUMMARY,
        SUMMARY,
        [
            {
                "wiki": "enwiki",
                "day": date(2024, 3, 2),
                "hours": 23,
                "complete": False,
                "most_title": "Cat",
                "most_views": 900,
                "least_title": "Aardvark",
                "least_views": 1,
                "least_ties": 3,
            },
            {
                "wiki": "enwiki",
                "day": date(2024, 3, 1),
                "hours": 24,
                "complete": True,
                "most_title": "Dog_(animal)",
                "most_views": 1000,
                "least_title": "Zebu",
                "least_views": 2,
                "least_ties": 1,
            },
            {
                "wiki": "dewiki",
                "day": date(2024, 3, 1),
                "hours": 24,
                "complete": True,
                "most_title": "Hund",
                "most_views": 50,
                "least_title": "Katze",
                "least_views": 1,
                "least_ties": 1,
            },
        ],
    )
    cats = [
        ("Mammals", 1900, 2),
        ("Domesticated_animals", 1000, 1),
        ("Pets", 900, 1),
        ("Felines", 800, 1),
        ("Zoology", 10, 4),
    ]
    write(
        settings,
        tables.WIKI_TOP_CATEGORIES,
        TOP_CATEGORIES,
        [
            *[
                {
                    "wiki": "enwiki",
                    "day": date(2024, 3, 1),
                    "rank": i + 1,
                    "category": c,
                    "views": v,
                    "articles": a,
                }
                for i, (c, v, a) in reversed(list(enumerate(cats)))
            ],
            {
                "wiki": "enwiki",
                "day": date(2024, 3, 2),
                "rank": 1,
                "category": "Pets",
                "views": 900,
                "articles": 1,
            },
        ],
    )


def tops_row(run_date: str, dataset_id: str, followers: int, org: str, org_followers: int) -> dict[str, Any]:
    return {
        "run_date": run_date,
        "dataset_id": dataset_id,
        "title": f"Transport {dataset_id}",
        "dataset_followers": followers,
        "organization": org,
        "organization_id": f"id-{org}",
        "organization_followers": org_followers,
    }


def write_datagouv(settings: Settings) -> None:
    write(
        settings,
        tables.DATAGOUV_TOPS,
        TOPS,
        [
            tops_row("2024-05-01", "d1", 5, "SNCF", 900),
            tops_row("2024-05-08", "d3", 5, "SNCF", 1000),
            tops_row("2024-05-08", "d2", 7, "RATP", 800),
            tops_row("2024-05-08", "d1", 5, "SNCF", 1000),
            tops_row("2024-05-08", "d0", 9, "SNCF", 1000),
        ],
    )
    write(
        settings,
        tables.DATAGOUV_CHANGE_RUNS,
        CHANGE_RUNS,
        [
            {
                "run_date": "2024-05-01",
                "previous_run_date": None,
                "matching": 1,
                "added": 1,
                "removed": 0,
                "changed": 0,
            },
            {
                "run_date": "2024-05-08",
                "previous_run_date": "2024-05-01",
                "matching": 4,
                "added": 3,
                "removed": 0,
                "changed": 0,
            },
        ],
    )
    write(
        settings,
        tables.DATAGOUV_CHANGES,
        CHANGES,
        [
            {
                "run_date": d,
                "previous_run_date": p,
                "dataset_id": i,
                "change": "added",
                "fields": [],
                "title": f"Transport {i}",
            }
            for d, p, i in [
                ("2024-05-01", None, "d1"),
                *[("2024-05-08", "2024-05-01", i) for i in ("d0", "d2", "d3")],
            ]
        ],
    )


def write_all(settings: Settings) -> None:
    write_github(settings)
    write_wiki(settings)
    write_datagouv(settings)
