"""GET /runs, /runs/{run_id} and /metrics over a real ledger (common.ledger on a local lake)."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common import ledger
from common.errors import SourceError
from common.settings import load_settings


def _run(settings: ApiSettings, job: str, error: str | None = None, **outputs: int) -> str:
    run = ledger.open_run(job, load_settings(lake_root=settings.lake_root), {"org": "acme"})
    with run.stage("extract"):
        time.sleep(0.01)
    for name, rows in outputs.items():
        run.record_output(name.replace("__", "/"), rows)
    ledger.close_run(run, error)
    return run.run_id


@pytest.fixture
def runs(filled_settings: ApiSettings) -> dict[str, str]:
    ids = {
        "old_datagouv": _run(filled_settings, "datagouv_catalog", datagouv__tops=40),
        "github": _run(filled_settings, "github_contributors", github__new_contributors_monthly=12),
        "datagouv_failed": _run(
            filled_settings, "datagouv_catalog", str(SourceError("datagouv export: malformed CSV record"))
        ),
    }
    return ids


@pytest.mark.integration
def test_runs_newest_first_with_filters(client: TestClient, runs: dict[str, str]) -> None:
    body = client.get("/runs").json()
    assert [r["run_id"] for r in body["runs"]] == [
        runs["datagouv_failed"],
        runs["github"],
        runs["old_datagouv"],
    ]
    failed = body["runs"][0]
    assert failed["status"] == "failed" and failed["error"] == "datagouv export: malformed CSV record"
    assert failed["started_at"].endswith("Z") and failed["finished_at"].endswith("Z")
    assert set(failed) >= {"run_id", "job", "args", "version", "started_at", "finished_at", "status"}
    assert set(failed) >= {"error", "stages", "outputs"}
    assert failed["stages"]["extract"] > 0
    assert body["runs"][1]["outputs"] == {"github/new_contributors_monthly": {"rows": 12, "version": None}}

    only = client.get("/runs", params={"job": "datagouv_catalog", "status": "succeeded"}).json()["runs"]
    assert [r["run_id"] for r in only] == [runs["old_datagouv"]]
    assert len(client.get("/runs", params={"limit": 1}).json()["runs"]) == 1
    assert client.get("/runs", params={"job": "no_such_job"}).json() == {"runs": []}


@pytest.mark.integration
def test_one_run_and_unknown_run(client: TestClient, runs: dict[str, str]) -> None:
    one = client.get(f"/runs/{runs['github']}")
    assert one.status_code == 200 and one.json()["job"] == "github_contributors"
    missing = client.get("/runs/20990101T000000Z-deadbeef")
    assert missing.status_code == 404 and "deadbeef" in missing.json()["detail"]


@pytest.mark.integration
@pytest.mark.parametrize(
    "query",
    [
        {"status": "exploded"},
        {"limit": "0"},
        {"limit": "-3"},
        {"limit": "many"},
        {"limit": "100000"},
        {"job": "Robert'); DROP TABLE"},
        {"job": ""},
    ],
)
def test_bad_parameters_answer_422_never_500(client: TestClient, query: dict[str, str]) -> None:
    answer = client.get("/runs", params=query)
    assert answer.status_code == 422, answer.text
    assert "detail" in answer.json()


@pytest.mark.integration
def test_bad_run_id_is_422(client: TestClient) -> None:
    assert client.get("/runs/..%2F..%2Fetc").status_code in (404, 422)
    assert client.get("/runs/" + "x" * 200).status_code == 422


@pytest.mark.integration
def test_no_ledger_yet_is_an_empty_list(client: TestClient) -> None:
    assert client.get("/runs").json() == {"runs": []}
    assert client.get("/runs/20990101T000000Z-deadbeef").status_code == 404


def _samples(text: str, name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}(\{{.*\}})? (\S+)$", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


@pytest.mark.integration
def test_metrics_exposition(client: TestClient, runs: dict[str, str]) -> None:
    for _ in range(3):
        assert client.get("/health").status_code == 200  # answered by the fast path
    assert client.get("/github/repos").status_code == 200
    assert client.get("/runs", params={"limit": "0"}).status_code == 422
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    requests = _samples(text, "dataplatform_http_requests_total")
    assert requests['{method="GET",route="/health",status="200"}'] == 3
    assert requests['{method="GET",route="/github/repos",status="200"}'] == 1
    assert requests['{method="GET",route="/runs",status="422"}'] == 1
    buckets = _samples(text, "dataplatform_http_request_duration_seconds_count")
    assert buckets['{route="/health"}'] == 3
    versions = _samples(text, "dataplatform_table_version")
    assert versions['{table="github/new_contributors_monthly"}'] >= 0
    assert versions['{table="ops/runs"}'] >= 2
    ages = _samples(text, "dataplatform_table_last_success_age_seconds")
    # datagouv/tops: the newest datagouv run failed, the older one succeeded and wrote it.
    assert 0 <= ages['{job="datagouv_catalog",table="datagouv/tops"}'] < 120
    assert 0 <= ages['{job="github_contributors",table="github/new_contributors_monthly"}'] < 120
    assert not any("wikimedia" in key for key in ages)  # never succeeded: no sample
    # No raw path becomes a label value.
    assert "acme" not in text


@pytest.mark.integration
def test_metrics_age_grows_and_follows_new_runs(filled_settings: ApiSettings) -> None:
    _run(filled_settings, "datagouv_catalog", datagouv__tops=40)
    client = TestClient(create_app(filled_settings))
    first = _samples(client.get("/metrics").text, "dataplatform_table_last_success_age_seconds")
    time.sleep(1.1)
    later = _samples(client.get("/metrics").text, "dataplatform_table_last_success_age_seconds")
    key = '{job="datagouv_catalog",table="datagouv/tops"}'
    assert later[key] >= first[key] + 1
    _run(filled_settings, "datagouv_catalog", datagouv__tops=41)
    newest = _samples(client.get("/metrics").text, "dataplatform_table_last_success_age_seconds")
    assert newest[key] < later[key]


@pytest.mark.integration
def test_runs_serve_no_endpoint_url_and_no_server_path(filled_settings: ApiSettings) -> None:
    """The ledger keeps where a run read and wrote; /runs serves the records without them."""
    run = ledger.open_run(
        "github_contributors",
        load_settings(
            lake_root=filled_settings.lake_root,
            github_api_url="http://10.1.2.3:8080/api",
            s3_endpoint_url="http://minio.internal:9000",
        ),
        {"org": "acme", "lake_root": "/srv/data/lake"},
    )
    run.record_input("github", {"api": "http://10.1.2.3:8080/api", "org": "acme"})
    ledger.close_run(
        run, "cannot read /srv/data/lake/github/commits at s3a://lake/x (http://10.1.2.3:8080/api)"
    )
    client = TestClient(create_app(filled_settings))
    for body in (client.get("/runs").text, client.get(f"/runs/{run.run_id}").text):
        assert "://" not in body and "10.1.2.3" not in body and "/srv" not in body
        assert filled_settings.lake_root not in body
    record = client.get(f"/runs/{run.run_id}").json()
    assert record["error"] == "cannot read <path> at <url> (<url>)"
    assert record["settings"]["github_api_url"] == "<url>"
    assert record["inputs"]["github"] == {"api": "<url>", "org": "acme"}
    assert record["args"]["org"] == "acme"
