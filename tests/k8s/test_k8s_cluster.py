"""The platform on a real Kubernetes cluster (scripts/k8s.sh: kube-apiserver, kubelet, containerd
and runc running real pods), the real spark-operator installed from its own chart with its
webhook on, and the platform chart on top: each job's SparkApplication applied with kubectl reaches
COMPLETED with driver and executor pods, its answers land in the in-cluster MinIO (Delta) and
FerretDB exactly as the local end-to-end tests expect, the API pod serves them through its
Service, a ScheduledSparkApplication fires and completes, an executor pod deleted mid-run is
replaced, and a bad argument ends FAILED with the job's one-line error and nothing published."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from common.settings import Settings, load_settings
from common.storage import lake_path
from common.tables import DATAGOUV_TOP_FIELDS, DATAGOUV_TOPS, WIKI_DAILY_SUMMARY
from emulators import datagouv as datagouv_emulator
from emulators import github as github_emulator
from emulators import wikimedia as wikimedia_emulator
from emulators.datagouv_data import expected_tops, generate_demo
from emulators.github_data import expected_series, generate_org, load_commits, load_org
from emulators.wikimedia_data import expected_answers, generate_tree
from tests.conftest import MINIO_PASSWORD, MINIO_USER
from tests.github.test_github_crawl_e2e import commit_count, series_of
from tests.k8s.cluster_support import (
    HOST_IP,
    NAMESPACE,
    Application,
    Platform,
    install,
    kubectl,
    wait_until,
    write_report,
)
from tests.wikimedia.test_wikimedia_e2e import _answers as wikimedia_answers

pytestmark = [pytest.mark.k8s_cluster, pytest.mark.e2e]

ORG = "acme-k8s"
RUN_DATE = date(2026, 11, 22)
WIKI_START = date(2026, 3, 2)
DATAGOUV_RUN = "2026-01-07"
LAKE = f"s3a://lake/k8s-{uuid.uuid4().hex[:8]}"  # a fresh lake each run, also on a kept cluster


@dataclass
class Sources:
    github_root: Path
    github: Any
    wiki_root: Path
    wikimedia: Any
    datagouv_root: Path
    datagouv: Any


@pytest.fixture(scope="module")
def sources(k8s_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sources]:
    """The three emulators on the bridge address, so driver and executor pods reach them."""
    base = tmp_path_factory.mktemp("k8s-sources")
    generate_org(base / "gh", ORG, repos=6, commits=1500, seed=11)
    generate_tree(base / "dumps", WIKI_START, 1, layout="transitional")
    generate_demo(base / "dg")
    found = Sources(
        base / "gh",
        github_emulator.start(base / "gh", host=HOST_IP, tokens=["tok-1"]),
        base / "dumps",
        wikimedia_emulator.start(base / "dumps", host=HOST_IP),
        base / "dg",
        datagouv_emulator.start(base / "dg", host=HOST_IP),
    )
    try:
        yield found
    finally:
        for server in (found.github, found.wikimedia, found.datagouv):
            server.stop()


@pytest.fixture(scope="module")
def platform(sources: Sources) -> Iterator[Platform]:
    installed = install(
        {
            "settings.LAKE_ROOT": LAKE,
            "settings.GITHUB_API_URL": sources.github.url,
            "settings.WIKIMEDIA_DUMPS_URL": sources.wikimedia.url,
            "settings.DATAGOUV_API_URL": sources.datagouv.api_url,
        }
    )
    try:
        yield installed
    finally:
        write_report(installed)
        print("\n" + installed.report())


@pytest.fixture(scope="module")
def reader(platform: Platform, spark: Any) -> Settings:
    """Settings the test reads the cluster's lake with: bucket `lake` at the in-cluster MinIO."""
    spark.sparkContext._jsc.hadoopConfiguration().set("fs.s3a.bucket.lake.endpoint", platform.minio)
    return load_settings(
        lake_root=LAKE,
        s3_endpoint_url=platform.minio,
        aws_access_key_id=MINIO_USER,
        aws_secret_access_key=MINIO_PASSWORD,
    )


def _one_off(platform: Platform, job: str, **args: Any) -> dict[str, Any]:
    values = {f"jobs.{job}.run.enabled": "true", **{f"jobs.{job}.args.{k}": str(v) for k, v in args.items()}}
    (doc,) = platform.render("spark-applications.yaml", values)
    return doc


@pytest.fixture(scope="module")
def launched(platform: Platform, sources: Sources) -> dict[str, Application]:
    """The three one-off applications, applied together (the node runs them side by side). The
    GitHub emulator answers slowly until a test has deleted an executor pod mid-crawl."""
    sources.github.set_faults(latency=0.6)
    return {
        "github": platform.apply(_one_off(platform, "github", org=ORG, runDate=RUN_DATE.isoformat())),
        "wikimedia": platform.apply(
            _one_off(platform, "wikimedia", startDate=WIKI_START.isoformat(), days=1)
        ),
        "datagouv": platform.apply(_one_off(platform, "datagouv", runDate=DATAGOUV_RUN)),
    }


def test_github_application_completes_exactly_after_an_executor_pod_is_deleted(
    platform: Platform, launched: dict[str, Application], sources: Sources, spark: Any, reader: Settings
) -> None:
    app = launched["github"]

    def crawling() -> bool:
        running = [pod for pod, phase in platform.executors(app.name) if phase == "Running"]
        return bool(running) and sources.github.counters.by_kind.get("commits", 0) >= 3

    wait_until(crawling, "the GitHub crawl on an executor pod", timeout=600)
    (victim, _), *_ = platform.executors(app.name)
    kubectl("-n", NAMESPACE, "delete", "pod", victim, "--wait=false")
    sources.github.set_faults(latency=0.0)
    assert platform.wait(app) == "COMPLETED", platform.describe(app.name)
    assert victim in app.executors_seen and len(app.executors_seen) >= 2, app.executors_seen
    assert series_of(spark, reader, ORG) == expected_series(sources.github_root, ORG, RUN_DATE)
    repos = load_org(sources.github_root, ORG)["repos"]
    total = sum(len(load_commits(sources.github_root, ORG, r["name"])) for r in repos if r["status"] == "ok")
    assert commit_count(spark, reader, ORG) == (total, total)


def test_wikimedia_application_completes_with_the_exact_answers(
    platform: Platform, launched: dict[str, Application], sources: Sources, spark: Any, reader: Settings
) -> None:
    app = launched["wikimedia"]
    assert platform.wait(app) == "COMPLETED", platform.describe(app.name)
    assert app.executors_seen, "no executor pod ran"
    assert wikimedia_answers(spark, reader) == expected_answers(sources.wiki_root, WIKI_START, 1, "enwiki")


def _tops_in_lake(spark: Any, reader: Settings, run_date: str) -> list[dict[str, Any]]:
    table = spark.read.format("delta").load(lake_path(reader, DATAGOUV_TOPS.path))
    rows = [r.asDict() for r in table.filter(f"run_date = '{run_date}'").collect()]
    return sorted(({k: r[k] for k in DATAGOUV_TOP_FIELDS} for r in rows), key=lambda d: d["dataset_id"])


def test_datagouv_application_writes_delta_and_mongodb(
    platform: Platform, launched: dict[str, Application], sources: Sources, spark: Any, reader: Settings
) -> None:
    app = launched["datagouv"]
    assert platform.wait(app) == "COMPLETED", platform.describe(app.name)
    expected = sorted(expected_tops(sources.datagouv_root, DATAGOUV_RUN), key=lambda d: d["dataset_id"])
    assert expected
    assert _tops_in_lake(spark, reader, DATAGOUV_RUN) == expected
    client: MongoClient[dict[str, Any]] = MongoClient(platform.mongo_uri, serverSelectionTimeoutMS=10_000)
    try:
        docs = list(client["datagouv"]["tops"].find({"run_date": DATAGOUV_RUN}, {"_id": 0}))
    finally:
        client.close()
    got = sorted(({k: d[k] for k in DATAGOUV_TOP_FIELDS} for d in docs), key=lambda d: d["dataset_id"])
    assert got == expected


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def test_api_pod_serves_the_answers_through_its_service(
    platform: Platform, launched: dict[str, Application], sources: Sources
) -> None:
    for app in launched.values():
        assert platform.wait(app) == "COMPLETED"
    series = expected_series(sources.github_root, ORG, RUN_DATE)
    repo, months = sorted(series.items())[0]
    wiki_day = expected_answers(sources.wiki_root, WIKI_START, 1, "enwiki")[WIKI_START.isoformat()]
    want = {
        f"/github/repos/{repo}/new-contributors": [
            {"month": m, "new_contributors": n, "total_contributors": t} for m, n, t in months
        ],
        f"/wikipedia/days/{WIKI_START.isoformat()}": wiki_day["most_requested"],
        "/datagouv/tops": expected_tops(sources.datagouv_root, DATAGOUV_RUN),
    }

    def served() -> dict[str, Any]:
        base = platform.api
        return {
            f"/github/repos/{repo}/new-contributors": _get(f"{base}/github/repos/{repo}/new-contributors")[
                "months"
            ],
            f"/wikipedia/days/{WIKI_START.isoformat()}": _get(f"{base}/wikipedia/days/{WIKI_START}")[
                "most_requested"
            ],
            "/datagouv/tops": _get(f"{base}/datagouv/tops")["datasets"],
        }

    def matches() -> bool:
        try:
            return served() == want
        except OSError:
            return False

    wait_until(matches, "the API's answers (it reloads tables every API_REFRESH_SECONDS)", timeout=120)
    assert _get(f"{platform.api}/github/repos")["org"] == ORG


def test_scheduled_application_fires_and_completes(
    platform: Platform, launched: dict[str, Application], spark: Any, reader: Settings, sources: Sources
) -> None:
    assert platform.wait(launched["datagouv"]) == "COMPLETED"
    docs = platform.render(
        "scheduled-spark-applications.yaml",
        {
            "jobs.datagouv.schedule.suspend": "false",
            "jobs.datagouv.schedule.cron": "* * * * *",
            "jobs.datagouv.args.runDate": DATAGOUV_RUN,
        },
    )
    (doc,) = [d for d in docs if d["metadata"]["name"].endswith("-datagouv-cron")]
    doc["metadata"]["name"] += "-every-minute"  # beside the chart's own (paused) schedule
    scheduled = doc["metadata"]["name"]
    platform.apply(doc)
    try:

        def last_run() -> str:
            return kubectl(
                "-n", NAMESPACE, "get", "scheduledsparkapplication", scheduled, "-o",
                "jsonpath={.status.lastRunName}", check=False,
            ).strip()  # fmt: skip

        wait_until(lambda: bool(last_run()), "the schedule's first run (cron: every minute)", timeout=180)
        run = Application(last_run(), platform.apps[scheduled].applied)
        platform.apps[run.name] = run
        assert platform.wait(run) == "COMPLETED", platform.describe(run.name)
    finally:
        kubectl("-n", NAMESPACE, "delete", "scheduledsparkapplication", scheduled, "--ignore-not-found")
    platform.apps[scheduled].state = f"fired {run.name}"
    expected = sorted(expected_tops(sources.datagouv_root, DATAGOUV_RUN), key=lambda d: d["dataset_id"])
    assert _tops_in_lake(spark, reader, DATAGOUV_RUN) == expected


def _versions(spark: Any, reader: Settings) -> int:
    return int(
        spark.sql(f"DESCRIBE HISTORY delta.`{lake_path(reader, WIKI_DAILY_SUMMARY.path)}` LIMIT 1").first()[
            "version"
        ]
    )


def test_bad_argument_ends_failed_with_the_jobs_one_line_error(
    platform: Platform, launched: dict[str, Application], spark: Any, reader: Settings
) -> None:
    assert platform.wait(launched["wikimedia"]) == "COMPLETED"
    before = _versions(spark, reader)
    doc = _one_off(platform, "wikimedia", startDate="2026-02-30", days=1)
    doc["metadata"]["name"] += "-bad"
    app = platform.apply(doc)
    assert platform.wait(app, timeout=600) == "FAILED", platform.describe(app.name)
    errors = [line for line in platform.driver_log(app.name).splitlines() if "error:" in line]
    assert errors == [
        "python -m jobs.wikimedia_pageviews: error: argument --start-date:"
        " '2026-02-30' is not a date (YYYY-MM-DD)"
    ]
    assert _versions(spark, reader) == before
