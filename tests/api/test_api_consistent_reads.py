"""Consistent reads (issue 31): the API never serves a job's gold tables at versions of two runs.

Each run's commits carry its run id as commit `userMetadata` (what `common.spark.start_session` makes
Spark write); here delta-rs writes the same field, and the runs are opened and closed in the real
ledger (`ops/runs`), as a job's entry point does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common import ledger, tables
from common.settings import Settings, load_settings
from common.storage import delta_rs_uri, delta_storage_options, lake_path
from emulators import lake_data

pytestmark = pytest.mark.integration
JOB = "github_contributors"
CREATED = datetime(2023, 1, 15, 10, 0, 5, tzinfo=UTC)


def tagged_write(
    settings: Settings, table: tables.Table, schema: pa.Schema, rows: list[dict[str, Any]], run_id: str
) -> None:
    """One Delta commit of `rows` replacing the table, tagged with `run_id` like a job's commit."""
    options = {k: str(v) for k, v in delta_storage_options(settings).items()}
    write_deltalake(
        delta_rs_uri(lake_path(settings, table.path)),
        pa.Table.from_pylist(rows, schema=schema),
        mode="overwrite",
        storage_options=options or None,
        commit_properties=CommitProperties(custom_metadata={"userMetadata": run_id}),
    )


def publish(settings: Settings, run_id: str, total: int, table: tables.Table) -> None:
    """One gold table of a GitHub run whose repository `alpha` has `total` contributors."""
    counts = [("2023-01", total - 1), ("2023-02", 1)]
    if table == tables.GITHUB_REPOSITORIES:
        rows = [lake_data.repo_row("acme", "alpha", CREATED, total)]
        tagged_write(settings, table, lake_data.REPOSITORIES, rows, run_id)
    elif table == tables.GITHUB_NEW_CONTRIBUTORS:
        rows = lake_data.monthly_rows("acme", "alpha", counts)
        tagged_write(settings, table, lake_data.MONTHLY, rows, run_id)
    else:
        rows = [_person(f"dev{i}") for i in range(total)]
        tagged_write(settings, table, lake_data.CONTRIBUTORS, rows, run_id)


def _person(identity: str) -> dict[str, Any]:
    return {
        "org": "acme",
        "repo": "alpha",
        "identity": identity,
        "kind": "human",
        "first_commit_at": CREATED,
        "commits": 1,
        "merged_identity": identity,
        "computed_at": lake_data.NOW,
    }


GOLD = (tables.GITHUB_REPOSITORIES, tables.GITHUB_NEW_CONTRIBUTORS, tables.GITHUB_CONTRIBUTORS)


@pytest.fixture
def first_run(api_settings: ApiSettings, monkeypatch: pytest.MonkeyPatch) -> str:
    """A complete, succeeded first run: alpha has 30 contributors in all three gold tables."""
    run = ledger.open_run(JOB, load_settings(lake_root=api_settings.lake_root), {"org": "acme"})
    for table in GOLD:
        publish(api_settings, run.run_id, 30, table)
    ledger.close_run(run, None)
    return run.run_id


def totals(client: TestClient) -> tuple[int, int, int]:
    """alpha's total as /repos, /new-contributors and /contributors answer it."""
    listed = client.get("/github/repos").json()["repos"][0]["total_contributors"]
    series = client.get("/github/repos/alpha/new-contributors").json()["months"][-1]["total_contributors"]
    people = len(client.get("/github/repos/alpha/contributors").json()["contributors"])
    return listed, series, people


def snapshot(cache: Any) -> tuple[int, int, int]:
    """alpha's three totals in what the cache serves at one instant (one switch of the group)."""
    github, people = cache.get_together("github", "github_contributors")
    listed = orjson.loads(github.repos_body)["repos"][0]["total_contributors"]
    series = orjson.loads(github.series["alpha"].body)["months"][-1]["total_contributors"]
    return listed, series, len(orjson.loads(people.body("acme", "alpha"))["contributors"])


def github_versions(client: TestClient) -> dict[str, Any]:
    versions = client.app.state.cache.versions()  # type: ignore[attr-defined]
    return {name: versions[name] for name in ("github", "github_contributors")}


def test_a_run_half_published_is_not_served_until_its_last_table_lands(
    api_settings: ApiSettings, first_run: str
) -> None:
    client = TestClient(create_app(api_settings))
    assert totals(client) == (30, 30, 30)
    versions = github_versions(client)
    run = ledger.open_run(JOB, load_settings(lake_root=api_settings.lake_root), {"org": "acme"})
    publish(api_settings, run.run_id, 34, tables.GITHUB_REPOSITORIES)
    # The second run's repositories landed 1.7 s before its series: the first run's versions stay.
    assert totals(client) == (30, 30, 30)
    assert github_versions(client) == versions
    publish(api_settings, run.run_id, 34, tables.GITHUB_NEW_CONTRIBUTORS)
    assert totals(client) == (30, 30, 30)
    publish(api_settings, run.run_id, 34, tables.GITHUB_CONTRIBUTORS)
    assert totals(client) == (34, 34, 34)  # the whole group at once
    ledger.close_run(run, None)
    assert totals(client) == (34, 34, 34)


def test_a_run_that_succeeded_rewriting_some_tables_is_served_when_it_ends(
    api_settings: ApiSettings, first_run: str
) -> None:
    """Never blocked forever: a finished run commits nothing more, so there is nothing to wait for."""
    client = TestClient(create_app(api_settings))
    run = ledger.open_run(JOB, load_settings(lake_root=api_settings.lake_root), {"org": "acme"})
    publish(api_settings, run.run_id, 31, tables.GITHUB_NEW_CONTRIBUTORS)
    assert totals(client) == (30, 30, 30)
    ledger.close_run(run, None)
    assert totals(client) == (30, 31, 30)


def test_a_failed_runs_partial_publish_is_never_served(api_settings: ApiSettings, first_run: str) -> None:
    client = TestClient(create_app(api_settings))
    failed = ledger.open_run(JOB, load_settings(lake_root=api_settings.lake_root), {"org": "acme"})
    publish(api_settings, failed.run_id, 33, tables.GITHUB_REPOSITORIES)
    ledger.close_run(failed, "cannot write github/new_contributors_monthly: disk full")
    assert totals(client) == (30, 30, 30)
    # The next run publishes everything: its versions are served, the failed one's are behind them.
    run = ledger.open_run(JOB, load_settings(lake_root=api_settings.lake_root), {"org": "acme"})
    for table in GOLD:
        publish(api_settings, run.run_id, 35, table)
    ledger.close_run(run, None)
    assert totals(client) == (35, 35, 35)


def test_untagged_commits_are_served_at_once(api_settings: ApiSettings, first_run: str) -> None:
    """A commit without a run id (a hand fix, a tool) has no run to wait for."""
    client = TestClient(create_app(api_settings))
    lake_data.write(
        api_settings,
        tables.GITHUB_NEW_CONTRIBUTORS,
        lake_data.MONTHLY,
        lake_data.monthly_rows("acme", "alpha", [("2023-01", 29), ("2023-02", 1), ("2023-03", 2)]),
    )
    assert totals(client) == (30, 32, 30)


def test_background_refresher_switches_the_group_when_the_run_completes(
    api_settings: ApiSettings, first_run: str
) -> None:
    settings = api_settings.model_copy(update={"api_refresh_seconds": 0.05})
    with TestClient(create_app(settings)) as client:
        assert totals(client) == (30, 30, 30)
        run = ledger.open_run(JOB, load_settings(lake_root=api_settings.lake_root), {"org": "acme"})
        publish(api_settings, run.run_id, 34, tables.GITHUB_REPOSITORIES)
        publish(api_settings, run.run_id, 34, tables.GITHUB_NEW_CONTRIBUTORS)
        time.sleep(0.5)  # ten checks
        assert totals(client) == (30, 30, 30)
        publish(api_settings, run.run_id, 34, tables.GITHUB_CONTRIBUTORS)
        cache = client.app.state.cache  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while (seen := snapshot(cache)) != (34, 34, 34) and time.monotonic() < deadline:
            assert seen == (30, 30, 30)  # whatever the moment, one run's answers
            time.sleep(0.005)
        assert totals(client) == (34, 34, 34)
        ledger.close_run(run, None)
