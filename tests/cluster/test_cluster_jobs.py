"""The three jobs on the standalone cluster, the lake on MinIO, the sources emulated over HTTP: the
gold tables equal the answers the local-mode end-to-end tests check against (the emulators'
plain-Python answers), also when a worker dies by SIGKILL in the middle of the work."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from common.settings import Settings, load_settings
from common.storage import is_delta, lake_path
from common.tables import DATAGOUV_TOP_FIELDS, DATAGOUV_TOPS, GITHUB_NEW_CONTRIBUTORS
from emulators import datagouv as datagouv_emulator
from emulators import github as github_emulator
from emulators import wikimedia as wikimedia_emulator
from emulators.datagouv_data import expected_tops, generate_demo
from emulators.github_data import expected_series, generate_org, load_commits, load_org
from emulators.wikimedia_data import expected_answers, generate_tree
from jobs.github_contributors.pending import PendingStore
from tests.cluster.support import (
    Cluster,
    active_stages,
    error_lines,
    free_port,
    run_job,
    start_job,
    tail,
    wait_for_exit,
    wait_until,
)
from tests.conftest import MINIO_ENDPOINT, MINIO_PASSWORD, MINIO_USER
from tests.github.test_github_crawl_e2e import commit_count, series_of
from tests.wikimedia.test_wikimedia_e2e import _answers as wikimedia_answers

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

RUN_DATE = date(2026, 11, 22)
ORG = "acme-cluster"
WIKI_START = date(2026, 3, 2)
WIKI_DAYS = 1


def _reader(lake_root: str, **extra: Any) -> Settings:
    """Settings the test reads the lake with (MinIO at its own address, not the cluster's)."""
    return load_settings(
        lake_root=lake_root,
        s3_endpoint_url=MINIO_ENDPOINT,
        aws_access_key_id=MINIO_USER,
        aws_secret_access_key=MINIO_PASSWORD,
        **extra,
    )


def _stop(job: Any) -> None:
    if job.poll() is None:
        job.kill()
        job.wait()


@dataclass
class SlowOrg:
    """A generated org served by the emulator at 0.6 s a page, and how to crawl it on the cluster."""

    root: Path
    server: Any
    settings: Settings
    store: PendingStore
    env: dict[str, str]
    args: list[str]


def _slow_org(cluster: Cluster, unique_name: str, tmp_path: Path, seed: int, **env: str) -> SlowOrg:
    root = tmp_path / "gh"
    generate_org(root, ORG, repos=8, commits=700, seed=seed)
    server = github_emulator.start(root, host=cluster.service_host, tokens=["tok-1"])
    # Each page answers in 0.6 s, so a repository of ~7 pages takes seconds: the empty ones land first
    # and the crawl is still running when a worker dies.
    server.set_faults(latency=0.6)
    lake = f"s3a://lake-tests/{unique_name}"
    settings = _reader(lake, github_api_url=server.url)
    job_env = cluster.env(
        lake, GITHUB_API_URL=server.url, GITHUB_TOKEN="tok-1", GITHUB_PROGRESS_SECONDS="60", **env
    )
    args = ["--org", ORG, "--run-date", RUN_DATE.isoformat(), "--concurrency", "4"]
    return SlowOrg(root, server, settings, PendingStore(settings, ORG), job_env, args)


def _assert_every_commit_once(spark: Any, org: SlowOrg) -> None:
    """The gold series are the emulator's answer and the silver table holds each commit once."""
    assert series_of(spark, org.settings, ORG) == expected_series(org.root, ORG, RUN_DATE)
    repos = load_org(org.root, ORG)["repos"]
    total = sum(len(load_commits(org.root, ORG, r["name"])) for r in repos if r["status"] == "ok")
    assert commit_count(spark, org.settings, ORG) == (total, total)


def test_github_job_survives_a_worker_killed_mid_crawl(
    cluster: Cluster, spark: Any, unique_name: str, tmp_path: Path
) -> None:
    org = _slow_org(cluster, unique_name, tmp_path, seed=7)
    root, server, store = org.root, org.server, org.store
    log = tmp_path / "github.log"
    job = start_job("github_contributors", org.env, org.args, log)
    try:
        wait_until(lambda: len(store.names("items", ".meta.json")) >= 1, job, log, "the first crawled item")
        cluster.kill_worker(1)
        landed_at_kill = len(store.names("items", ".meta.json"))
        cluster.restore_workers()  # as a supervisor would; the new executor starts from nothing
        code = wait_for_exit(job, log, "the worker killed", 600)
    finally:
        _stop(job)
        server.stop()
        cluster.restore_workers()
    assert code == 0, tail(log)
    assert landed_at_kill < len(load_org(root, ORG)["repos"]), "the crawl was over when the worker died"
    _assert_every_commit_once(spark, org)
    assert not store.names("items")


def test_wikimedia_job_survives_a_worker_killed_mid_aggregation(
    cluster: Cluster, spark: Any, unique_name: str, tmp_path: Path
) -> None:
    tree = tmp_path / "dumps"
    generate_tree(tree, WIKI_START, WIKI_DAYS, layout="transitional")
    server = wikimedia_emulator.start(tree, host=cluster.service_host)
    lake = f"s3a://lake-tests/{unique_name}"
    log = tmp_path / "wikimedia.log"
    ui_port = free_port(cluster.service_host)
    args = ["--start-date", WIKI_START.isoformat(), "--days", str(WIKI_DAYS)]
    job = start_job(
        "wikimedia_pageviews", cluster.env(lake, WIKIMEDIA_DUMPS_URL=server.url), args, log, ui_port=ui_port
    )

    def aggregating() -> bool:
        # The aggregation is the job's first `collect` (the bad-line counts of the persisted
        # aggregate); the dimensions before it are `count`s and `save`s.
        return any(
            s["name"].startswith("collect at") and "wikimedia_pageviews" in s["name"]
            for s in active_stages(cluster.service_host, ui_port)
        )

    try:
        wait_until(aggregating, job, log, "the aggregation")
        cluster.kill_worker(2)
        cluster.restore_workers()
        code = wait_for_exit(job, log, "the worker killed", 900)
    finally:
        _stop(job)
        server.stop()
        cluster.restore_workers()
    assert code == 0, tail(log)
    assert wikimedia_answers(spark, _reader(lake)) == expected_answers(tree, WIKI_START, WIKI_DAYS, "enwiki")


def test_datagouv_job_on_the_cluster(
    cluster: Cluster, spark: Any, mongo_uri: str, unique_name: str, tmp_path: Path
) -> None:
    catalogue = tmp_path / "datagouv"
    generate_demo(catalogue)
    server = datagouv_emulator.start(catalogue, host=cluster.service_host)
    lake = f"s3a://lake-tests/{unique_name}"
    database = f"dg_{unique_name}"
    run_date = "2026-01-07"
    env = cluster.env(
        lake,
        DATAGOUV_API_URL=server.api_url,
        DATAGOUV_BUCKET=f"dg-{unique_name}",
        MONGO_URI=mongo_uri,
        MONGO_DATABASE=database,
    )
    log = tmp_path / "datagouv.log"
    try:
        code = run_job("datagouv_catalog", env, ["--run-date", run_date, "--mongo-database", database], log)
    finally:
        server.stop()
    assert code == 0, tail(log)
    expected = sorted(expected_tops(catalogue, run_date), key=lambda d: d["dataset_id"])
    assert expected
    table = spark.read.format("delta").load(lake_path(_reader(lake), DATAGOUV_TOPS.path))
    rows = [r.asDict() for r in table.filter(f"run_date = '{run_date}'").collect()]
    got = sorted(({k: r[k] for k in DATAGOUV_TOP_FIELDS} for r in rows), key=lambda d: d["dataset_id"])
    assert got == expected
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        docs = list(client[database]["tops"].find({"run_date": run_date}, {"_id": 0}))
        assert sorted(
            ({k: d[k] for k in DATAGOUV_TOP_FIELDS} for d in docs), key=lambda d: d["dataset_id"]
        ) == (expected)
    finally:
        client.drop_database(database)
        client.close()


def test_github_job_with_every_worker_lost_stops_in_one_line_and_a_rerun_resumes(
    cluster: Cluster, spark: Any, unique_name: str, tmp_path: Path
) -> None:
    """Both workers die mid-crawl and none comes back: the run stops after
    SPARK_EXECUTOR_WAIT_SECONDS with one line (Spark alone would wait for ever), publishes
    nothing, keeps what it landed; once the workers are back, the same command completes."""
    org = _slow_org(cluster, unique_name, tmp_path, seed=11, SPARK_EXECUTOR_WAIT_SECONDS="8")
    server, settings, store, env, args = org.server, org.settings, org.store, org.env, org.args
    log = tmp_path / "lost.log"
    ui_port = free_port(cluster.service_host)
    job = start_job("github_contributors", env, args, log, ui_port=ui_port)
    try:
        # The heads are asked by the driver while Spark starts; the rest of the histories is
        # crawled in a Spark stage: the workers die while it runs.
        wait_until(lambda: bool(active_stages(cluster.service_host, ui_port)), job, log, "the crawl's stage")
        began = time.monotonic()  # no executor can be missing for longer than since now
        cluster.kill_worker(1)
        cluster.kill_worker(2)
        code = wait_for_exit(job, log, "both workers killed", 240)
        stopped_after = time.monotonic() - began
        landed = len(store.names("items", ".meta.json"))
    finally:
        _stop(job)
        cluster.restore_workers()
    try:
        assert code == 1, tail(log)
        reason = (
            f"every Spark executor was lost and none came back within 8 s ({cluster.master} has no live "
            "worker): the run stopped; rerun it once workers are back"
        )
        assert error_lines(log, "github_contributors") == [f"github_contributors: error: {reason}"], tail(log)
        assert 8 <= stopped_after < 120
        assert not is_delta(spark, lake_path(settings, GITHUB_NEW_CONTRIBUTORS.path))  # nothing published
        assert landed >= 1  # what the crawl landed is kept for the rerun
        rerun = run_job("github_contributors", env, args, tmp_path / "rerun.log")
    finally:
        server.stop()
    assert rerun == 0, tail(tmp_path / "rerun.log")
    _assert_every_commit_once(spark, org)
