"""The demo end to end (without the interactive server wait): sample sources, the three jobs as
subprocesses, then the API's answers checked against the sample data's expected results, which
the generators compute independently of the jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import load_api_settings
from demo.pipeline import DEMO_ORG, MINIO_ENV, run_demo, summary
from emulators import datagouv_data, github_data, wikimedia_data

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # The demo needs the local services like `make demo` does; fail clearly when they are down.
    from tests.conftest import MINIO_ENDPOINT, MONGO_URI, _port_open

    if not (_port_open(MINIO_ENDPOINT) and _port_open(MONGO_URI)):
        pytest.fail("MinIO/FerretDB are not answering: run `make services`")
    work = tmp_path_factory.mktemp("demo")
    return run_demo(work / "sources", str(work / "lake"))


@pytest.fixture(scope="module")
def client(demo_run: Any) -> Any:
    settings = load_api_settings(lake_root=demo_run.env["LAKE_ROOT"], api_refresh_seconds=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_github_answers_match_the_sample(demo_run: Any, client: TestClient) -> None:
    expected = github_data.expected_series(demo_run.sources / "github", DEMO_ORG, demo_run.github_run_date)
    listing = client.get("/github/repos").json()
    assert listing["org"] == DEMO_ORG
    assert [r["repo"] for r in listing["repos"]] == sorted(expected)
    for repo, series in expected.items():
        body = client.get(f"/github/repos/{repo}/new-contributors").json()
        got = [(m["month"], m["new_contributors"], m["total_contributors"]) for m in body["months"]]
        assert got == [tuple(x) for x in series], repo
        total = next(r["total_contributors"] for r in listing["repos"] if r["repo"] == repo)
        assert total == (series[-1][2] if series else 0)


def test_wikipedia_answers_match_the_sample(demo_run: Any, client: TestClient) -> None:
    expected = wikimedia_data.expected_answers(demo_run.sources / "wikimedia", demo_run.wikimedia_start, 7)
    days = client.get("/wikipedia/days").json()
    assert days["days"] == sorted(expected)
    assert any(not answer["complete"] for answer in expected.values())  # the sample misses an hour
    for day, answer in expected.items():
        body = client.get(f"/wikipedia/days/{day}").json()
        for key in ("hours", "complete", "most_requested", "least_requested", "top_categories"):
            assert body[key] == answer[key], (day, key)


def test_datagouv_answers_match_the_sample(demo_run: Any, client: TestClient) -> None:
    run_date = demo_run.datagouv_run_date.isoformat()
    expected = datagouv_data.expected_tops(demo_run.sources / "datagouv", run_date)
    body = client.get("/datagouv/tops", params={"run_date": run_date}).json()
    assert body["run_date"] == run_date
    assert body["datasets"] == expected


def test_summary_names_every_job(demo_run: Any) -> None:
    lines = summary(demo_run)
    assert [line.split()[0] for line in lines] == [
        "github_contributors",
        "wikimedia_pageviews",
        "datagouv_catalog",
    ]
    assert MINIO_ENV["S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"


def test_demo_entry_point_has_help() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "demo", "--help"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0
    assert "--no-serve" in proc.stdout
