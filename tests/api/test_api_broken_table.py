"""A gold table that cannot be read (issue 31): only the routes that need it answer 503, naming the
table and never a server path; the other routes keep answering exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings, load_api_settings
from common import tables
from common.settings import Settings
from common.storage import ensure_bucket, lake_path, s3_client, split_s3
from emulators import lake_data

pytestmark = pytest.mark.unit

GITHUB_ROUTES = {
    "/github/repos": tables.GITHUB_REPOSITORIES,
    "/github/repos/alpha/new-contributors": tables.GITHUB_NEW_CONTRIBUTORS,
    "/github/repos/alpha/new-contributors?from=2023-02&exclude_bots=true": tables.GITHUB_NEW_CONTRIBUTORS,
    "/github/repos/alpha/contributors": tables.GITHUB_CONTRIBUTORS,
}
# Which gold tables each route reads.
NEEDS = {
    "/github/repos": {tables.GITHUB_REPOSITORIES},
    "/github/repos/alpha/new-contributors": {tables.GITHUB_REPOSITORIES, tables.GITHUB_NEW_CONTRIBUTORS},
    "/github/repos/alpha/new-contributors?from=2023-02&exclude_bots=true": {
        tables.GITHUB_REPOSITORIES,
        tables.GITHUB_NEW_CONTRIBUTORS,
    },
    "/github/repos/alpha/contributors": {tables.GITHUB_REPOSITORIES, tables.GITHUB_CONTRIBUTORS},
    "/wikipedia/days": {tables.WIKI_DAILY_SUMMARY, tables.WIKI_TOP_CATEGORIES},
    "/wikipedia/days/2024-03-01": {tables.WIKI_DAILY_SUMMARY, tables.WIKI_TOP_CATEGORIES},
    "/datagouv/tops": {tables.DATAGOUV_TOPS},
    "/datagouv/changes": {tables.DATAGOUV_CHANGES, tables.DATAGOUV_CHANGE_RUNS},
}


def delete_a_data_file(settings: Settings, table: tables.Table) -> None:
    """Delete one data file of the table's latest version (a local lake)."""
    files = DeltaTable(lake_path(settings, table.path)).file_uris()
    assert files, table.path
    Path(sorted(files)[0]).unlink()


def assert_only_its_routes_fail(
    settings: ApiSettings, broken: tables.Table, healthy: dict[str, bytes]
) -> None:
    client = TestClient(create_app(settings))
    for path, needs in NEEDS.items():
        response = client.get(path)
        if broken not in needs:
            assert response.status_code == 200, (path, response.text)
            assert response.content == healthy[path], path
            continue
        assert response.status_code == 503, (path, response.text)
        assert response.headers["retry-after"] == "30"
        detail = response.json()["detail"]
        assert broken.path in detail, (path, detail)
        assert settings.lake_root not in detail and "/tmp" not in detail and ".parquet" not in detail
    assert client.get("/health").status_code == 200


@pytest.fixture
def healthy(filled_settings: ApiSettings) -> dict[str, bytes]:
    """Every route's answer before anything breaks."""
    client = TestClient(create_app(filled_settings))
    answers = {path: client.get(path) for path in NEEDS}
    assert all(r.status_code == 200 for r in answers.values())
    return {path: r.content for path, r in answers.items()}


@pytest.mark.parametrize(
    "broken",
    [
        tables.GITHUB_NEW_CONTRIBUTORS,
        tables.GITHUB_REPOSITORIES,
        tables.GITHUB_CONTRIBUTORS,
        tables.WIKI_TOP_CATEGORIES,
        tables.DATAGOUV_TOPS,
        tables.DATAGOUV_CHANGES,
    ],
    ids=lambda t: t.path,
)
def test_a_deleted_data_file_takes_down_only_the_routes_reading_it(
    filled_settings: ApiSettings, healthy: dict[str, bytes], broken: tables.Table
) -> None:
    delete_a_data_file(filled_settings, broken)
    assert_only_its_routes_fail(filled_settings, broken, healthy)


def test_unknown_repository_is_still_404_while_the_series_table_is_broken(
    filled_settings: ApiSettings,
) -> None:
    delete_a_data_file(filled_settings, tables.GITHUB_NEW_CONTRIBUTORS)
    client = TestClient(create_app(filled_settings))
    assert client.get("/github/repos/nope/new-contributors").status_code == 404
    assert client.get("/github/repos/nope/contributors").status_code == 404


def test_a_corrupt_log_names_the_table_without_a_path(
    filled_settings: ApiSettings, healthy: dict[str, bytes]
) -> None:
    log = Path(lake_path(filled_settings, tables.GITHUB_NEW_CONTRIBUTORS.path), "_delta_log")
    (log / "00000000000000000000.json").write_text("{not json\n")
    assert_only_its_routes_fail(filled_settings, tables.GITHUB_NEW_CONTRIBUTORS, healthy)


def test_a_view_already_served_stays_while_its_new_version_is_unreadable(
    filled_settings: ApiSettings,
) -> None:
    """A running API keeps the previous complete versions of the whole group, never a mix."""
    client = TestClient(create_app(filled_settings))
    before = client.get("/github/repos/alpha/new-contributors").content
    lake_data.write(
        filled_settings,
        tables.GITHUB_NEW_CONTRIBUTORS,
        lake_data.MONTHLY,
        lake_data.monthly_rows("acme", "alpha", [("2023-01", 9)]),
    )
    delete_a_data_file(filled_settings, tables.GITHUB_NEW_CONTRIBUTORS)  # the new version's file
    assert client.get("/github/repos/alpha/new-contributors").content == before
    assert client.get("/github/repos").status_code == 200


@pytest.mark.integration
def test_a_deleted_object_on_minio_takes_down_only_its_routes(s3_lake: Settings) -> None:
    ensure_bucket(s3_lake, split_s3(s3_lake.lake_root)[0])
    settings = load_api_settings(api_refresh_seconds=0.0)
    lake_data.write_all(settings)
    client = TestClient(create_app(settings))
    healthy = {path: client.get(path).content for path in NEEDS}
    bucket, prefix = split_s3(lake_path(settings, tables.GITHUB_NEW_CONTRIBUTORS.path))
    s3 = s3_client(settings)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    s3.delete_object(Bucket=bucket, Key=next(k for k in keys if k.endswith(".parquet")))
    assert_only_its_routes_fail(settings, tables.GITHUB_NEW_CONTRIBUTORS, healthy)
    detail = TestClient(create_app(settings)).get("/github/repos/alpha/new-contributors").json()["detail"]
    assert bucket not in detail and "s3://" not in detail
