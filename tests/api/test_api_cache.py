"""The table cache: a finished job shows up without a restart, failures never break what is served."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from api.tables import Dataset, DataUnavailableError, TableCache
from api.views import datasets
from common import tables
from common.storage import DeltaReader
from emulators import lake_data

pytestmark = pytest.mark.unit


def _months(client: TestClient, repo: str = "alpha") -> list[tuple[str, int]]:
    body = client.get(f"/github/repos/{repo}/new-contributors").json()
    return [(m["month"], m["new_contributors"]) for m in body["months"]]


def _append_july(settings: ApiSettings) -> None:
    lake_data.write(
        settings,
        tables.GITHUB_NEW_CONTRIBUTORS,
        lake_data.MONTHLY,
        [
            {
                "org": "acme",
                "repo": "alpha",
                "month": "2023-07",
                "new_contributors": 5,
                "total_contributors": 15,
                "computed_at": lake_data.NOW,
            }
        ],
        mode="append",
    )


def test_new_version_is_served_without_restart_lazy(filled_settings: ApiSettings) -> None:
    client = TestClient(create_app(filled_settings))  # no lifespan: requests check the version
    assert len(_months(client)) == 6
    _append_july(filled_settings)
    assert _months(client)[-1] == ("2023-07", 5)


def test_new_version_is_served_by_background_refresher(filled_settings: ApiSettings) -> None:
    settings = filled_settings.model_copy(update={"api_refresh_seconds": 0.1})
    with TestClient(create_app(settings)) as client:
        assert client.app.state.cache.background  # type: ignore[attr-defined]
        assert len(_months(client)) == 6
        _append_july(settings)
        deadline = time.monotonic() + 10
        while len(_months(client)) == 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _months(client)[-1] == ("2023-07", 5)
    assert not client.app.state.cache.background  # type: ignore[attr-defined]


def test_job_finishing_turns_503_into_answers(api_settings: ApiSettings) -> None:
    with TestClient(create_app(api_settings.model_copy(update={"api_refresh_seconds": 0.1}))) as client:
        assert client.get("/datagouv/tops").status_code == 503
        lake_data.write_datagouv(api_settings)
        deadline = time.monotonic() + 10
        while client.get("/datagouv/tops").status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/datagouv/tops").json()["run_date"] == "2024-05-08"


def test_versions_are_checked_at_most_every_interval(filled_settings: ApiSettings) -> None:
    client = TestClient(create_app(filled_settings.model_copy(update={"api_refresh_seconds": 3600})))
    assert len(_months(client)) == 6
    _append_july(filled_settings)
    assert len(_months(client)) == 6  # not checked again yet
    client.app.state.cache.refresh("github")  # type: ignore[attr-defined]
    assert len(_months(client)) == 7


class FlakyReader(DeltaReader):
    """Reads the real tables but can be told to fail, as a lake going away mid-read would."""

    fail = False

    def read(self, table: tables.Table, version: int) -> Any:
        if self.fail:
            raise OSError("connection reset while reading part-0001.parquet")
        return super().read(table, version)


def test_failed_read_keeps_serving_the_previous_version(
    filled_settings: ApiSettings, caplog: pytest.LogCaptureFixture
) -> None:
    reader = FlakyReader(filled_settings)
    cache = TableCache(reader, datasets(None), refresh_seconds=0.0)
    client = TestClient(create_app(filled_settings, cache=cache))
    assert len(_months(client)) == 6
    _append_july(filled_settings)
    reader.fail = True
    with caplog.at_level(logging.WARNING):
        assert len(_months(client)) == 6  # the complete previous version, never a partial one
    assert "connection reset" in caplog.text
    reader.fail = False
    assert len(_months(client)) == 7


def test_unreadable_first_load_is_503_not_500(filled_settings: ApiSettings) -> None:
    reader = FlakyReader(filled_settings)
    reader.fail = True
    client = TestClient(create_app(filled_settings, cache=TableCache(reader, datasets(None), 0.0)))
    response = client.get("/github/repos")
    assert response.status_code == 503
    assert "cannot read the github tables" in response.json()["detail"]


def test_view_is_built_once_per_version(filled_settings: ApiSettings) -> None:
    builds: list[int] = []

    def build(data: Any) -> int:
        builds.append(1)
        return len(builds)

    dataset = Dataset("tops", (tables.DATAGOUV_TOPS,), build, "python -m jobs.datagouv_catalog")
    cache = TableCache(DeltaReader(filled_settings), [dataset], refresh_seconds=0.0)
    assert [cache.get("tops") for _ in range(5)] == [1, 1, 1, 1, 1]
    lake_data.write_datagouv(filled_settings)
    assert cache.get("tops") == 2
    assert cache.versions() == {"tops": (1,)}


def test_unservable_data_is_not_rebuilt_until_a_new_version(filled_settings: ApiSettings) -> None:
    calls: list[int] = []

    def build(data: Any) -> int:
        calls.append(1)
        raise DataUnavailableError("nothing yet: run `python -m jobs.datagouv_catalog`")

    dataset = Dataset("tops", (tables.DATAGOUV_TOPS,), build, "python -m jobs.datagouv_catalog")
    cache = TableCache(DeltaReader(filled_settings), [dataset], refresh_seconds=0.0)
    for _ in range(3):
        with pytest.raises(DataUnavailableError, match=r"jobs\.datagouv_catalog"):
            cache.get("tops")
    assert len(calls) == 1
