"""Fixtures of the API tests: a local lake holding the small gold tables, and an app over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common.settings import Settings
from emulators import lake_data


@pytest.fixture
def api_settings(local_lake: Settings) -> ApiSettings:
    """Settings over an empty local lake; refresh checks on every request so tests see writes at once."""
    return ApiSettings(lake_root=local_lake.lake_root, api_refresh_seconds=0.0)


@pytest.fixture
def filled_settings(api_settings: ApiSettings) -> ApiSettings:
    lake_data.write_all(api_settings)
    return api_settings


@pytest.fixture
def client(filled_settings: ApiSettings) -> Iterator[TestClient]:
    """A client without lifespan: views are loaded lazily by requests (no background refresher)."""
    yield TestClient(create_app(filled_settings))
