"""The ASGI fast path answers exactly what the FastAPI route would, and defers everything else."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from emulators import lake_data

pytestmark = pytest.mark.unit


def _route_only(client: TestClient, path: str) -> tuple[int, bytes, str]:
    """The FastAPI route's answer: a query string the fast path does not take, with the same meaning."""
    response = client.get(path, params={"from": "0000-01"})
    return response.status_code, response.content, response.headers["content-type"]


@pytest.mark.parametrize("repo", ["alpha", "beta"])
def test_same_bytes_as_the_route(client: TestClient, repo: str) -> None:
    fast = client.get(f"/github/repos/{repo}/new-contributors")
    assert (fast.status_code, fast.content, fast.headers["content-type"]) == _route_only(
        client, f"/github/repos/{repo}/new-contributors"
    )
    assert fast.headers["content-length"] == str(len(fast.content))


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/github/repos/nope/new-contributors", 404),
        ("/github/repos/gone/new-contributors", 404),
        ("/github/repos//new-contributors", 404),
        ("/github/repos/a/b/new-contributors", 404),
    ],
)
def test_unknown_paths_fall_through(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert "detail" in response.json()


def test_not_get_falls_through(client: TestClient) -> None:
    assert client.post("/github/repos/alpha/new-contributors").status_code == 405
    head = client.head("/health")  # issue 31: HEAD is the GET without its body (api.hygiene)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "15")


def test_missing_table_falls_through_to_503(api_settings: ApiSettings) -> None:
    response = TestClient(create_app(api_settings)).get("/github/repos/alpha/new-contributors")
    assert response.status_code == 503
    assert "jobs.github_contributors" in response.json()["detail"]


def test_new_version_visible_through_fast_path(filled_settings: ApiSettings) -> None:
    client = TestClient(create_app(filled_settings))
    assert len(client.get("/github/repos/alpha/new-contributors").json()["months"]) == 6
    lake_data.write(
        filled_settings,
        lake_data.tables.GITHUB_NEW_CONTRIBUTORS,
        lake_data.MONTHLY,
        lake_data.monthly_rows("acme", "alpha", [*lake_data.ALPHA, ("2023-07", 1)]),
    )
    assert len(client.get("/github/repos/alpha/new-contributors").json()["months"]) == 7


def test_cors_headers_on_fast_answers(filled_settings: ApiSettings) -> None:
    settings = filled_settings.model_copy(update={"api_cors_origins": "http://example.test"})
    response = TestClient(create_app(settings)).get(
        "/github/repos/alpha/new-contributors", headers={"Origin": "http://example.test"}
    )
    assert response.headers["access-control-allow-origin"] == "http://example.test"
