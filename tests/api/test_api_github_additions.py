"""The GitHub additions over HTTP: ?exclude_bots=true and /contributors, their 404/422/503 paths."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common import tables
from common.settings import Settings
from common.storage import delta_rs_uri, lake_path
from emulators import lake_data

MONTHLY_KINDS = lake_data.MONTHLY
# The contract's columns only: a table the job wrote before the additions.
MONTHLY_CONTRACT = pa.schema(
    [f for f in lake_data.MONTHLY if not f.name.startswith("new_") or f.name == "new_contributors"]
)
CONTRIBUTORS = pa.schema(
    [
        ("org", pa.string()),
        ("repo", pa.string()),
        ("identity", pa.string()),
        ("kind", pa.string()),
        ("first_commit_at", lake_data.TS),
        ("commits", pa.int64()),
        ("merged_identity", pa.string()),
        ("computed_at", lake_data.TS),
    ]
)
# alpha's contract counts (lake_data.ALPHA) split into humans and bots.
HUMANS = [2, 0, 2, 1, 0, 3]


def replace_table(
    settings: Settings, table: tables.Table, schema: pa.Schema, rows: list[dict[str, Any]]
) -> None:
    """Overwrite a local table with another schema (the job's additive columns come and go here)."""
    from deltalake import write_deltalake

    uri = delta_rs_uri(lake_path(settings, table.path))
    write_deltalake(uri, pa.Table.from_pylist(rows, schema=schema), mode="overwrite", schema_mode="overwrite")


def person(repo: str, identity: str, kind: str, first: datetime, commits: int) -> dict[str, Any]:
    return {
        "org": "acme",
        "repo": repo,
        "identity": identity,
        "kind": kind,
        "first_commit_at": first,
        "commits": commits,
        "merged_identity": identity,
        "computed_at": lake_data.NOW,
    }


@pytest.fixture
def client(filled_settings: ApiSettings) -> TestClient:
    rows = lake_data.monthly_rows("acme", "alpha", lake_data.ALPHA)
    for row, humans in zip(rows, HUMANS, strict=True):
        row.update(new_humans=humans, new_bots=row["new_contributors"] - humans, new_humans_merged=humans)
    beta = lake_data.monthly_rows("acme", "beta", [("2023-11", 0), ("2023-12", 0), ("2024-01", 0)])
    replace_table(filled_settings, tables.GITHUB_NEW_CONTRIBUTORS, MONTHLY_KINDS, [*rows, *beta])
    when = datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC)
    lake_data.write(
        filled_settings,
        tables.GITHUB_CONTRIBUTORS,
        CONTRIBUTORS,
        [
            person("alpha", "zed", "human", when, 3),
            person("alpha", "dependabot[bot]", "bot", datetime(2023, 1, 20, tzinfo=UTC), 40),
            person("alpha", "amy", "human", when, 1),
            person("alpha", "bob@corp.com", "human", datetime(2023, 1, 16, tzinfo=UTC), 2),
        ],
    )
    return TestClient(create_app(filled_settings))


def test_exclude_bots_serves_the_human_series_with_its_running_total(client: TestClient) -> None:
    whole = client.get("/github/repos/alpha/new-contributors").json()
    assert [m["new_contributors"] for m in whole["months"]] == [2, 0, 3, 1, 0, 4]  # unchanged
    humans = client.get("/github/repos/alpha/new-contributors?exclude_bots=true").json()
    assert humans == {
        "repo": "alpha",
        "months": [
            {"month": m, "new_contributors": n, "total_contributors": t}
            for m, n, t in zip([m for m, _ in lake_data.ALPHA], HUMANS, [2, 2, 4, 5, 5, 8], strict=True)
        ],
    }
    window = client.get(
        "/github/repos/alpha/new-contributors?exclude_bots=true&from=2023-03&to=2023-04"
    ).json()
    assert window["months"] == humans["months"][2:4]
    assert client.get("/github/repos/alpha/new-contributors?exclude_bots=false").json() == whole


@pytest.mark.parametrize(
    ("query", "status"),
    [("exclude_bots=maybe", 422), ("exclude_bots=", 422), ("exclude_bots=true&from=2023-13", 422)],
)
def test_exclude_bots_bad_values(client: TestClient, query: str, status: int) -> None:
    response = client.get(f"/github/repos/alpha/new-contributors?{query}")
    assert response.status_code == status
    assert "detail" in response.json()


def test_exclude_bots_unknown_repo_is_404(client: TestClient) -> None:
    assert client.get("/github/repos/nope/new-contributors?exclude_bots=true").status_code == 404


def test_exclude_bots_before_the_job_wrote_the_columns_is_503(
    client: TestClient, filled_settings: ApiSettings
) -> None:
    rows = lake_data.monthly_rows("acme", "alpha", lake_data.ALPHA)
    replace_table(filled_settings, tables.GITHUB_NEW_CONTRIBUTORS, MONTHLY_CONTRACT, rows)
    fresh = TestClient(create_app(filled_settings))
    response = fresh.get("/github/repos/alpha/new-contributors?exclude_bots=true")
    assert response.status_code == 503
    assert "python -m jobs.github_contributors --org acme" in response.json()["detail"]
    assert fresh.get("/github/repos/alpha/new-contributors").status_code == 200


def test_contributors_sorted_by_first_commit_then_identity(client: TestClient) -> None:
    body = client.get("/github/repos/alpha/contributors").json()
    assert body == {
        "repo": "alpha",
        "contributors": [
            {
                "identity": "bob@corp.com",
                "kind": "human",
                "first_commit_at": "2023-01-16T00:00:00Z",
                "commits": 2,
            },
            {
                "identity": "dependabot[bot]",
                "kind": "bot",
                "first_commit_at": "2023-01-20T00:00:00Z",
                "commits": 40,
            },
            {"identity": "amy", "kind": "human", "first_commit_at": "2023-03-04T05:06:07Z", "commits": 1},
            {"identity": "zed", "kind": "human", "first_commit_at": "2023-03-04T05:06:07Z", "commits": 3},
        ],
    }
    assert client.get("/github/repos/beta/contributors").json() == {"repo": "beta", "contributors": []}


def test_contributors_unknown_or_gone_repo_is_404(client: TestClient) -> None:
    for repo in ("nope", "gone"):
        response = client.get(f"/github/repos/{repo}/contributors")
        assert response.status_code == 404
        assert repo in response.json()["detail"]


def test_contributors_table_missing_is_503_naming_the_job(api_settings: ApiSettings) -> None:
    lake_data.write_github(api_settings)
    shutil.rmtree(lake_path(api_settings, tables.GITHUB_CONTRIBUTORS.path))
    response = TestClient(create_app(api_settings)).get("/github/repos/alpha/contributors")
    assert response.status_code == 503
    assert "python -m jobs.github_contributors" in response.json()["detail"]
