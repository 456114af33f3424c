"""HTTP hygiene (issue 31): HEAD wherever GET answers, `X-Content-Type-Options: nosniff` on every
answer, no server path and no long echoed input in any error."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings

pytestmark = pytest.mark.unit
LONG = "x" * 10_000
# GET paths of every kind of answer: fast path, routes, errors, the dashboard, static files, docs.
GETS = [
    "/health",
    "/github/repos",
    "/github/repos/alpha/new-contributors",
    "/github/repos/alpha/new-contributors?from=2023-02",
    "/github/repos/alpha/contributors",
    "/github/repos/nope/new-contributors",
    "/github/repos/alpha/new-contributors?from=2023-13",
    "/wikipedia/days",
    "/wikipedia/days/2024-03-01",
    "/datagouv/tops",
    "/datagouv/changes",
    "/runs",
    "/runs/nope",
    "/metrics",
    "/",
    "/static/app.js",
    "/openapi.json",
    "/docs",
    "/nothing/here",
]


@pytest.mark.parametrize("path", GETS)
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code, path
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    if path != "/metrics":  # its text changes between two scrapes (request counters)
        assert head.headers["content-length"] == str(len(get.content))


def test_head_of_a_missing_table_is_503(api_settings: ApiSettings) -> None:
    response = TestClient(create_app(api_settings)).head("/github/repos")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"


def test_other_methods_stay_405_and_allow_head(client: TestClient) -> None:
    response = client.post("/github/repos")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", [*GETS, "/github/repos/alpha/new-contributors?from=2023-05&to=2023-01"])
def test_every_answer_says_nosniff(client: TestClient, path: str) -> None:
    assert client.get(path).headers["x-content-type-options"] == "nosniff"
    assert client.head(path).headers["x-content-type-options"] == "nosniff"
    assert client.post(path).headers["x-content-type-options"] == "nosniff"


def test_nosniff_on_503_cors_preflight_and_500(api_settings: ApiSettings) -> None:
    settings = api_settings.model_copy(update={"api_cors_origins": "http://example.test"})
    app = create_app(settings)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/github/repos").headers["x-content-type-options"] == "nosniff"
    preflight = client.options(
        "/health", headers={"Origin": "http://example.test", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["x-content-type-options"] == "nosniff"

    def broken() -> Any:
        raise RuntimeError("bug at /srv/dataplatform/api/views.py")

    app.state.views.github = broken
    response = client.get("/github/repos")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        f"/github/repos/{LONG}/new-contributors",
        f"/github/repos/{LONG}/new-contributors?from=2023-01",
        f"/github/repos/{LONG}/contributors",
        f"/github/repos/alpha/new-contributors?from={LONG}",
        f"/github/repos/alpha/new-contributors?exclude_bots={LONG}",
        f"/wikipedia/days?wiki={LONG}",
        f"/wikipedia/days/{LONG}",
        f"/datagouv/tops?run_date={LONG}",
        f"/runs/{LONG}",
        f"/runs?job={LONG}",
    ],
)
def test_errors_never_echo_a_long_input(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 422), response.status_code
    assert "x" * 101 not in response.text
    assert len(response.content) < 1000


def test_a_shortened_name_still_says_which(client: TestClient) -> None:
    name = "r" * 150
    detail = client.get(f"/github/repos/{name}/new-contributors").json()["detail"]
    assert detail == f"unknown repository '{'r' * 100}…' in organization 'acme'"
    assert client.get("/github/repos/nope/new-contributors").json()["detail"] == (
        "unknown repository 'nope' in organization 'acme'"
    )


def test_short_invalid_input_is_reported_as_before(client: TestClient) -> None:
    detail = client.get("/github/repos/alpha/new-contributors?from=2023-13").json()["detail"]
    assert detail[0]["loc"] == ["query", "from"]
    assert detail[0]["input"] == "2023-13"
    assert detail[0]["type"] == "string_pattern_mismatch"


def test_no_server_path_in_any_detail(filled_settings: ApiSettings, client: TestClient) -> None:
    for path in [*GETS, f"/github/repos/{LONG}/contributors"]:
        body = client.get(path)
        if body.headers["content-type"] == "application/json" and body.status_code >= 400:
            assert filled_settings.lake_root not in body.text, path
            assert "/tmp/" not in body.text and "/work/" not in body.text, path


def test_metrics_count_head_as_head(client: TestClient) -> None:
    client.head("/health")
    client.head("/github/repos")
    text = client.get("/metrics").text
    for route in ("/health", "/github/repos"):
        assert f'requests_total{{method="HEAD",route="{route}",status="200"}} 1.0' in text
