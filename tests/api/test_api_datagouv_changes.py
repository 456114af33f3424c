"""GET /datagouv/changes over small gold tables: latest by default, a given run date, 404/422/503."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common import tables
from common.storage import lake_path
from emulators import lake_data

RUNS = pa.schema(
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


def change(
    run_date: str, previous: str | None, dataset_id: str, kind: str, fields: list[str] | None = None
) -> dict[str, object]:
    return {
        "run_date": run_date,
        "previous_run_date": previous,
        "dataset_id": dataset_id,
        "change": kind,
        "fields": fields or [],
        "title": None,  # as rows written before titles were kept
    }


@pytest.fixture
def client(filled_settings: ApiSettings) -> TestClient:
    lake_data.write(
        filled_settings,
        tables.DATAGOUV_CHANGE_RUNS,
        RUNS,
        [
            {
                "run_date": "2024-05-01",
                "previous_run_date": None,
                "matching": 2,
                "added": 2,
                "removed": 0,
                "changed": 0,
            },
            {
                "run_date": "2024-05-08",
                "previous_run_date": "2024-05-01",
                "matching": 2,
                "added": 1,
                "removed": 1,
                "changed": 2,
            },
            {
                "run_date": "2024-05-15",
                "previous_run_date": "2024-05-08",
                "matching": 2,
                "added": 0,
                "removed": 0,
                "changed": 0,
            },
        ],
    )
    lake_data.write(
        filled_settings,
        tables.DATAGOUV_CHANGES,
        CHANGES,
        [
            change("2024-05-01", None, "d2", "added"),
            change("2024-05-01", None, "d1", "added"),
            change("2024-05-08", "2024-05-01", "d9", "changed", ["title", "followers"]),
            change("2024-05-08", "2024-05-01", "d3", "added"),
            change("2024-05-08", "2024-05-01", "d2", "removed"),
            change("2024-05-08", "2024-05-01", "d1", "changed", ["organization"]),
        ],
    )
    return TestClient(create_app(filled_settings))


def test_latest_run_date_by_default_even_without_changes(client: TestClient) -> None:
    assert client.get("/datagouv/changes").json() == {
        "run_date": "2024-05-15",
        "previous_run_date": "2024-05-08",
        "added": [],
        "removed": [],
        "changed": [],
    }


def test_a_run_date_lists_sorted_changes(client: TestClient) -> None:
    assert client.get("/datagouv/changes?run_date=2024-05-08").json() == {
        "run_date": "2024-05-08",
        "previous_run_date": "2024-05-01",
        "added": ["d3"],
        "removed": ["d2"],
        "changed": [
            {"dataset_id": "d1", "fields": ["organization"]},
            {"dataset_id": "d9", "fields": ["title", "followers"]},
        ],
    }


def test_first_run_date_has_no_previous_and_adds_everything(client: TestClient) -> None:
    body = client.get("/datagouv/changes?run_date=2024-05-01").json()
    assert body == {
        "run_date": "2024-05-01",
        "previous_run_date": None,
        "added": ["d1", "d2"],
        "removed": [],
        "changed": [],
    }


@pytest.mark.parametrize(
    ("run_date", "status"),
    [("2024-05-02", 404), ("2024-02-30", 422), ("2024-5-1", 422), ("latest", 422), ("", 422)],
)
def test_errors(client: TestClient, run_date: str, status: int) -> None:
    response = client.get(f"/datagouv/changes?run_date={run_date}")
    assert response.status_code == status
    assert "detail" in response.json()


def test_missing_tables_are_503_naming_the_job(api_settings: ApiSettings) -> None:
    lake_data.write_datagouv(api_settings)
    for table in (tables.DATAGOUV_CHANGES, tables.DATAGOUV_CHANGE_RUNS):
        shutil.rmtree(lake_path(api_settings, table.path))
    client = TestClient(create_app(api_settings))
    response = client.get("/datagouv/changes")
    assert response.status_code == 503
    assert "python -m jobs.datagouv_catalog" in response.json()["detail"]
    assert client.get("/datagouv/changes?run_date=2024-13-01").status_code == 422
    assert client.get("/datagouv/tops").status_code == 200


def test_titles_of_the_listed_datasets_where_the_job_kept_them(api_settings: ApiSettings) -> None:
    """The dashboard names datasets by title (`/datagouv/changes/titles`); a table written before
    titles were kept answers ids only, and the changes answer itself keeps its contract shape."""
    lake_data.write_datagouv(api_settings)
    client = TestClient(create_app(api_settings))
    assert client.get("/datagouv/changes/titles?run_date=2024-05-08").json() == {
        "run_date": "2024-05-08",
        "titles": {"d0": "Transport d0", "d2": "Transport d2", "d3": "Transport d3"},
    }
    assert set(client.get("/datagouv/changes").json()) == {
        "run_date",
        "previous_run_date",
        "added",
        "removed",
        "changed",
    }
    assert client.get("/datagouv/changes/titles?run_date=2024-06-01").status_code == 404


def test_rows_without_titles_name_no_dataset(client: TestClient) -> None:
    assert client.get("/datagouv/changes/titles?run_date=2024-05-08").json() == {
        "run_date": "2024-05-08",
        "titles": {},
    }
