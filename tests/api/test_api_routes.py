"""Every route and every error of the API on small Delta tables written with delta-rs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from emulators import lake_data

pytestmark = pytest.mark.unit


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"


def test_repos_of_latest_org_sorted_without_gone_ones(client: TestClient) -> None:
    response = client.get("/github/repos")
    assert response.status_code == 200
    assert response.json() == {
        "org": "acme",
        "repos": [
            {"repo": "alpha", "created_at": "2023-01-15T10:00:05Z", "total_contributors": 10},
            {"repo": "beta", "created_at": "2023-11-02T08:30:00Z", "total_contributors": 0},
        ],
    }


def test_github_org_setting_picks_the_org(filled_settings: ApiSettings) -> None:
    settings = filled_settings.model_copy(update={"github_org": "oldorg"})
    client = TestClient(create_app(settings))
    assert client.get("/github/repos").json()["org"] == "oldorg"
    assert client.get("/github/repos/legacy/new-contributors").json()["months"] == [
        {"month": "2020-01", "new_contributors": 1, "total_contributors": 1}
    ]
    assert client.get("/github/repos/alpha/new-contributors").status_code == 404


def test_github_org_setting_without_data_names_the_job(filled_settings: ApiSettings) -> None:
    settings = filled_settings.model_copy(update={"github_org": "nobody"})
    response = TestClient(create_app(settings)).get("/github/repos")
    assert response.status_code == 503
    assert "python -m jobs.github_contributors --org nobody" in response.json()["detail"]


def test_whole_series_in_month_order(client: TestClient) -> None:
    response = client.get("/github/repos/alpha/new-contributors")
    assert response.status_code == 200
    body = response.json()
    assert body["repo"] == "alpha"
    assert [m["month"] for m in body["months"]] == [m for m, _ in lake_data.ALPHA]
    assert [m["new_contributors"] for m in body["months"]] == [n for _, n in lake_data.ALPHA]
    assert [m["total_contributors"] for m in body["months"]] == [2, 2, 5, 6, 6, 10]


def test_empty_repository_has_zero_series(client: TestClient) -> None:
    months = client.get("/github/repos/beta/new-contributors").json()["months"]
    assert [(m["month"], m["new_contributors"], m["total_contributors"]) for m in months] == [
        ("2023-11", 0, 0),
        ("2023-12", 0, 0),
        ("2024-01", 0, 0),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?from=2023-03&to=2023-04", [("2023-03", 3, 5), ("2023-04", 1, 6)]),
        ("?from=2023-05", [("2023-05", 0, 6), ("2023-06", 4, 10)]),
        ("?to=2023-01", [("2023-01", 2, 2)]),
        ("?from=2023-04&to=2023-04", [("2023-04", 1, 6)]),
        ("?from=2020-01&to=2020-12", []),
        ("?from=2022-12&to=2023-02", [("2023-01", 2, 2), ("2023-02", 0, 2)]),
    ],
)
def test_window_keeps_running_total(
    client: TestClient, query: str, expected: list[tuple[str, int, int]]
) -> None:
    response = client.get(f"/github/repos/alpha/new-contributors{query}")
    assert response.status_code == 200
    months = response.json()["months"]
    assert [(m["month"], m["new_contributors"], m["total_contributors"]) for m in months] == expected


@pytest.mark.parametrize("repo", ["nope", "gone", "legacy", "ALPHA"])
def test_unknown_repo_is_404(client: TestClient, repo: str) -> None:
    response = client.get(f"/github/repos/{repo}/new-contributors")
    assert response.status_code == 404
    assert repo in response.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "?from=2023-13",
        "?from=2023-1",
        "?to=23-01",
        "?from=2023-01-01",
        "?to=abcd-ef",
        "?from=2023-00",
        "?from=2023-04&to=2023-03",
    ],
)
def test_bad_month_or_inverted_range_is_422(client: TestClient, query: str) -> None:
    response = client.get(f"/github/repos/alpha/new-contributors{query}")
    assert response.status_code == 422
    assert "detail" in response.json()


def test_inverted_range_message(client: TestClient) -> None:
    detail = client.get("/github/repos/alpha/new-contributors?from=2023-06&to=2023-01").json()["detail"]
    assert detail == "inverted range: from=2023-06 is after to=2023-01"


def test_wikipedia_days_default_enwiki(client: TestClient) -> None:
    assert client.get("/wikipedia/days").json() == {"wiki": "enwiki", "days": ["2024-03-01", "2024-03-02"]}
    assert client.get("/wikipedia/days?wiki=dewiki").json() == {"wiki": "dewiki", "days": ["2024-03-01"]}
    assert client.get("/wikipedia/days?wiki=frwiki").status_code == 404


def test_wikipedia_default_is_only_wiki_without_enwiki(api_settings: ApiSettings) -> None:
    lake_data.write_wiki(api_settings)
    lake_data.write(
        api_settings,
        lake_data.tables.WIKI_DAILY_SUMMARY,
        lake_data.SUMMARY,
        [
            {
                "wiki": "frwiki",
                "day": lake_data.date(2024, 1, 1),
                "hours": 24,
                "complete": True,
                "most_title": "Chat",
                "most_views": 3,
                "least_title": "Chien",
                "least_views": 1,
                "least_ties": 1,
            },
        ],
    )
    client = TestClient(create_app(api_settings))
    assert client.get("/wikipedia/days").json() == {"wiki": "frwiki", "days": ["2024-01-01"]}


def test_wikipedia_day(client: TestClient) -> None:
    response = client.get("/wikipedia/days/2024-03-01")
    assert response.status_code == 200
    assert response.json() == {
        "day": "2024-03-01",
        "wiki": "enwiki",
        "hours": 24,
        "complete": True,
        "most_requested": {"title": "Dog_(animal)", "views": 1000},
        "least_requested": {"title": "Zebu", "views": 2, "ties": 1},
        "top_categories": [
            {"rank": 1, "category": "Mammals", "views": 1900, "articles": 2},
            {"rank": 2, "category": "Domesticated_animals", "views": 1000, "articles": 1},
            {"rank": 3, "category": "Pets", "views": 900, "articles": 1},
            {"rank": 4, "category": "Felines", "views": 800, "articles": 1},
            {"rank": 5, "category": "Zoology", "views": 10, "articles": 4},
        ],
    }
    incomplete = client.get("/wikipedia/days/2024-03-02").json()
    assert (incomplete["hours"], incomplete["complete"]) == (23, False)
    assert incomplete["least_requested"] == {"title": "Aardvark", "views": 1, "ties": 3}
    german = client.get("/wikipedia/days/2024-03-01?wiki=dewiki").json()
    assert (german["wiki"], german["most_requested"]["title"], german["top_categories"]) == (
        "dewiki",
        "Hund",
        [],
    )


@pytest.mark.parametrize(
    ("day", "status"),
    [
        ("2024-03-03", 404),
        ("2023-03-01", 404),
        ("2024-02-30", 422),
        ("2024-3-1", 422),
        ("20240301", 422),
        ("yesterday", 422),
        ("2024-13-01", 422),
    ],
)
def test_wikipedia_day_errors(client: TestClient, day: str, status: int) -> None:
    response = client.get(f"/wikipedia/days/{day}")
    assert response.status_code == status
    assert "detail" in response.json()


def test_datagouv_latest_run_sorted(client: TestClient) -> None:
    body = client.get("/datagouv/tops").json()
    assert body["run_date"] == "2024-05-08"
    assert [d["dataset_id"] for d in body["datasets"]] == ["d0", "d1", "d3", "d2"]
    assert body["datasets"][0] == {
        "dataset_id": "d0",
        "title": "Transport d0",
        "dataset_followers": 9,
        "organization": "SNCF",
        "organization_id": "id-SNCF",
        "organization_followers": 1000,
    }


def test_datagouv_given_run_date(client: TestClient) -> None:
    body = client.get("/datagouv/tops?run_date=2024-05-01").json()
    assert body["run_date"] == "2024-05-01"
    assert [d["dataset_id"] for d in body["datasets"]] == ["d1"]
    assert body["datasets"][0]["organization_followers"] == 900


@pytest.mark.parametrize(
    ("run_date", "status"),
    [
        ("2024-05-02", 404),
        ("2024-5-8", 422),
        ("2024-02-31", 422),
        ("latest", 422),
    ],
)
def test_datagouv_errors(client: TestClient, run_date: str, status: int) -> None:
    response = client.get(f"/datagouv/tops?run_date={run_date}")
    assert response.status_code == status
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("path", "job"),
    [
        ("/github/repos", "python -m jobs.github_contributors --org"),
        ("/github/repos/alpha/new-contributors", "python -m jobs.github_contributors --org"),
        ("/wikipedia/days", "python -m jobs.wikimedia_pageviews"),
        ("/wikipedia/days/2024-03-01", "python -m jobs.wikimedia_pageviews"),
        ("/datagouv/tops", "python -m jobs.datagouv_catalog"),
    ],
)
def test_missing_table_is_503_naming_the_job(api_settings: ApiSettings, path: str, job: str) -> None:
    client = TestClient(create_app(api_settings))
    response = client.get(path)
    assert response.status_code == 503
    assert job in response.json()["detail"]
    assert client.get("/health").status_code == 200


def test_bad_input_before_missing_table_is_still_422(api_settings: ApiSettings) -> None:
    client = TestClient(create_app(api_settings))
    assert client.get("/github/repos/alpha/new-contributors?from=2023-13").status_code == 422


def test_read_only_and_unknown_paths(client: TestClient) -> None:
    for method in ("post", "put", "delete", "patch"):
        response = client.request(method.upper(), "/github/repos")
        assert response.status_code == 405
        assert "detail" in response.json()
    assert client.get("/nothing/here").json() == {"detail": "Not Found"}
    schema = client.get("/openapi.json").json()
    methods = {m for item in schema["paths"].values() for m in item}
    assert methods == {"get"}
    assert set(schema["paths"]) == {
        "/health",
        "/github/repos",
        "/github/repos/{repo}/new-contributors",
        "/github/repos/{repo}/contributors",
        "/wikipedia/days",
        "/wikipedia/days/{day}",
        "/datagouv/tops",
        "/datagouv/changes",
        "/datagouv/changes/titles",
        "/runs",
        "/runs/{run_id}",
        "/metrics",
    }
    assert client.get("/docs").status_code == 200


def test_cors_off_by_default_and_on_when_configured(filled_settings: ApiSettings) -> None:
    origin = {"Origin": "http://example.test"}
    off = TestClient(create_app(filled_settings)).get("/health", headers=origin)
    assert "access-control-allow-origin" not in off.headers
    settings = filled_settings.model_copy(update={"api_cors_origins": "http://example.test"})
    on = TestClient(create_app(settings)).get("/health", headers=origin)
    assert on.headers["access-control-allow-origin"] == "http://example.test"


def test_dashboard_and_vendor_library_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/static/vendor/chart.umd.min.js" in page.text
    assert "https://" not in page.text.replace('href="/docs"', "")  # no CDN
    assert client.get("/static/app.js").status_code == 200
    vendor = client.get("/static/vendor/chart.umd.min.js")
    if vendor.status_code == 404:
        pytest.skip("run scripts/setup_web.sh to vendor Chart.js")
    assert "Chart" in vendor.text[:5000]
