"""The API over a lake on MinIO (delta-rs with the S3 storage options), and no secret in any answer."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings, load_api_settings
from common.settings import Settings
from common.storage import ensure_bucket, split_s3
from emulators import lake_data

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_api_settings(s3_lake: Settings) -> ApiSettings:
    ensure_bucket(s3_lake, split_s3(s3_lake.lake_root)[0])
    settings = load_api_settings(api_refresh_seconds=0.0)
    assert settings.lake_is_s3
    return settings


def test_routes_over_minio(s3_api_settings: ApiSettings, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(s3_api_settings))
    assert client.get("/github/repos").status_code == 503
    lake_data.write_all(s3_api_settings)
    with caplog.at_level(logging.DEBUG):
        repos = client.get("/github/repos").json()
        series = client.get("/github/repos/alpha/new-contributors?from=2023-03&to=2023-04").json()
        day = client.get("/wikipedia/days/2024-03-01").json()
        tops = client.get("/datagouv/tops").json()
    assert [r["repo"] for r in repos["repos"]] == ["alpha", "beta"]
    assert [m["total_contributors"] for m in series["months"]] == [5, 6]
    assert day["most_requested"] == {"title": "Dog_(animal)", "views": 1000}
    assert [d["dataset_id"] for d in tops["datasets"]] == ["d0", "d1", "d3", "d2"]
    secret = s3_api_settings.aws_secret_access_key
    assert secret is not None
    assert secret.get_secret_value() not in caplog.text


def test_wrong_credentials_are_503_without_the_secret(
    s3_api_settings: ApiSettings, caplog: pytest.LogCaptureFixture
) -> None:
    lake_data.write_datagouv(s3_api_settings)
    wrong = "wrong-secret-Zq9xW"
    settings = load_api_settings(aws_secret_access_key=wrong, api_refresh_seconds=0.0)
    with caplog.at_level(logging.DEBUG):
        response = TestClient(create_app(settings)).get("/datagouv/tops")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("cannot reach the datagouv tables")
    assert wrong not in response.text
    assert wrong not in caplog.text
