"""The job end to end against the emulator: faults on, expected series, re-crawls, kill and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from common.errors import SourceError
from common.settings import Settings, load_settings
from common.storage import lake_path
from emulators import github as emulator
from emulators.github_data import append_commits, expected_series, generate_org, load_commits, load_org
from jobs.github_contributors.job import run
from jobs.github_contributors.pending import PendingStore

ROOT = Path(__file__).resolve().parents[2]
RUN_DATE = date(2026, 11, 22)
ORG = "acme-e2e"


def series_of(spark: Any, settings: Settings, org: str) -> dict[str, list[tuple[str, int, int]]]:
    path = lake_path(settings, "github/new_contributors_monthly")
    out: dict[str, list[tuple[str, int, int]]] = {}
    rows = spark.read.format("delta").load(path).where(f"org = '{org}'").orderBy("repo", "month").collect()
    for row in rows:
        out.setdefault(row["repo"], []).append(
            (row["month"], row["new_contributors"], row["total_contributors"])
        )
    return out


def gold_created_at(spark: Any, settings: Settings) -> dict[str, str]:
    """`created_at` of github/repositories as UTC text (the session's zone is UTC)."""
    rows = (
        spark.read.format("delta")
        .load(lake_path(settings, "github/repositories"))
        .selectExpr("repo", "date_format(created_at, \"yyyy-MM-dd'T'HH:mm:ss'Z'\") AS created_at")
        .collect()
    )
    return {row["repo"]: row["created_at"] for row in rows}


def commit_count(spark: Any, settings: Settings, org: str) -> tuple[int, int]:
    df = spark.read.format("delta").load(lake_path(settings, "github/commits")).where(f"org = '{org}'")
    return df.count(), df.select("repo", "sha").distinct().count()


TABLES = (
    "github/commits",
    "github/crawl_state",
    "github/new_contributors_monthly",
    "github/repositories",
    "github/contributors",
)


def versions(spark: Any, settings: Settings) -> dict[str, int]:
    """Each GitHub table's newest Delta version (a rewrite, even of equal rows, adds one)."""
    from delta.tables import DeltaTable

    out = {}
    for table in TABLES:
        row = DeltaTable.forPath(spark, lake_path(settings, table)).history(1).first()
        assert row is not None
        out[table] = int(row["version"])
    return out


@pytest.fixture
def org_root(tmp_path: Path) -> Path:
    root = tmp_path / "gh"
    # One repository is big enough (skew) to be split into time windows.
    generate_org(root, ORG, repos=9, commits=2400, seed=5, skew=1.6)
    return root


@pytest.fixture
def server(org_root: Path) -> Iterator[emulator.EmulatorServer]:
    srv = emulator.start(org_root, tokens=["tok-1", "tok-2"])
    yield srv
    srv.stop()


def settings_for(local_lake: Settings, server: emulator.EmulatorServer) -> Settings:
    return load_settings(
        lake_root=local_lake.lake_root, github_api_url=server.url, github_token="tok-1,tok-2"
    )


@pytest.mark.e2e
def test_crawl_with_faults_then_304_recrawl_then_new_commits(
    spark: Any, local_lake: Settings, server: emulator.EmulatorServer, org_root: Path
) -> None:
    settings = settings_for(local_lake, server)
    server.set_faults(error_rate=0.05, drop_rate=0.03, secondary_rate=0.03, retry_after=0)
    server.set_budget("tok-1", 0, reset_in=3600)  # tok-1 is dry: the pool uses tok-2 only
    first = run(spark, settings, ORG, RUN_DATE, concurrency=8, progress_seconds=0)
    assert series_of(spark, settings, ORG) == expected_series(org_root, ORG, RUN_DATE)
    repos = {r["name"]: r for r in load_org(org_root, ORG)["repos"]}
    total = sum(len(load_commits(org_root, ORG, n)) for n, r in repos.items() if r["status"] == "ok")
    assert commit_count(spark, settings, ORG) == (total, total)
    assert first.gone == ["beta"] and first.statuses["empty"] == 1
    assert first.items > len(repos), "the big repository was split into windows"
    gold = spark.read.format("delta").load(lake_path(settings, "github/repositories")).collect()
    assert sorted(r["repo"] for r in gold) == sorted(n for n, r in repos.items() if r["status"] != "gone")
    assert {r["repo"]: r["status"] for r in gold}["alpha"] == "empty"
    # The listing's instants exactly, whatever the machine's zone (CI runs this file far from UTC).
    stamps = gold_created_at(spark, settings)
    assert stamps == {n: r["created_at"] for n, r in repos.items() if r["status"] != "gone"}

    # Nothing new: one conditional request per repository, every commits answer a 304 (or 409/404).
    server.set_faults(error_rate=0.0, drop_rate=0.0, secondary_rate=0.0)
    server.reset_counters()
    before = versions(spark, settings)
    second = run(spark, settings, ORG, RUN_DATE, concurrency=8, progress_seconds=0)
    assert versions(spark, settings) == before, "same inputs and run month: no table rewritten"
    stats = server.stats()
    assert stats["by_kind"]["commits"] == len(repos)
    assert stats["by_kind"]["repos"] == 1  # the listing page, asked with its ETag
    assert stats["not_modified"] == len(repos) - 2 + 1
    assert second.new_commits == 0
    assert series_of(spark, settings, ORG) == expected_series(org_root, ORG, RUN_DATE)

    # New commits on two repositories: read newest-first until the known sha, merged without duplicates.
    ok = [n for n, r in repos.items() if r["status"] == "ok"]
    added = append_commits(org_root, ORG, ok[0], 130, seed=2) + append_commits(
        org_root, ORG, ok[1], 3, seed=3
    )
    server.reset_counters()
    third = run(spark, settings, ORG, RUN_DATE, concurrency=8, progress_seconds=0)
    after = versions(spark, settings)
    # One MERGE of the two repositories' new commits; the org's gold is recomputed (a first
    # contribution is org-wide), crawl_state for the two new ETags.
    assert after == {table: version + 1 for table, version in before.items()}
    assert third.new_commits == len(added)
    assert server.stats()["by_kind"]["commits"] == len(repos) + 1  # 130 new commits need a second page
    assert series_of(spark, settings, ORG) == expected_series(org_root, ORG, RUN_DATE)
    assert commit_count(spark, settings, ORG) == (total + len(added), total + len(added))
    assert not PendingStore(settings, ORG).names("items")

    # Nothing new but the next month: only the gold tables (they depend on the run month).
    next_month = date(2026, 12, 3)
    fourth = run(spark, settings, ORG, next_month, concurrency=8, progress_seconds=0)
    assert fourth.new_commits == 0
    moved = versions(spark, settings)
    assert moved["github/commits"] == after["github/commits"]
    assert moved["github/crawl_state"] == after["github/crawl_state"]
    assert moved["github/new_contributors_monthly"] == after["github/new_contributors_monthly"] + 1
    assert series_of(spark, settings, ORG) == expected_series(org_root, ORG, next_month)


@pytest.mark.e2e
def test_crawl_killed_midway_resumes_without_refetching(
    spark: Any, local_lake: Settings, server: emulator.EmulatorServer, org_root: Path
) -> None:
    settings = settings_for(local_lake, server)
    server.set_faults(fail_after=12)  # the upstream dies after 12 requests
    with pytest.raises(SourceError):
        run(spark, settings, ORG, RUN_DATE, concurrency=4, progress_seconds=0)
    # The failed run returns only once its other partitions stopped: nothing calls upstream after.
    after_failure = server.stats()["requests"]
    time.sleep(1.5)
    assert server.stats()["requests"] == after_failure
    store = PendingStore(settings, ORG)
    landed = store.names("items", ".meta.json")
    assert landed, "finished items survived the failure"
    landed_pages = sum(store.get_json(name)["pages"] for name in landed)
    server.set_faults(fail_after=None)
    server.reset_counters()
    report = run(spark, settings, ORG, RUN_DATE, concurrency=4, progress_seconds=0)
    assert report.resumed_items >= len(landed)  # a task still running at the failure may land more
    assert series_of(spark, settings, ORG) == expected_series(org_root, ORG, RUN_DATE)
    total = sum(
        len(load_commits(org_root, ORG, r["name"]))
        for r in load_org(org_root, ORG)["repos"]
        if r["status"] == "ok"
    )
    assert commit_count(spark, settings, ORG) == (total, total)
    # The resumed run did not fetch again what had landed.
    sizes = [len(load_commits(org_root, ORG, r["name"])) for r in load_org(org_root, ORG)["repos"]]
    minimum = sum(max(1, -(-n // 100)) for n in sizes)
    assert server.stats()["by_kind"]["commits"] <= minimum - landed_pages + 3


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.github_contributors", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.e2e
def test_cli_killed_with_sigkill_resumes_without_refetching(
    spark: Any, server: emulator.EmulatorServer, org_root: Path, tmp_path: Path
) -> None:
    """The real thing: the job's process group (Python driver, JVM, workers) dies by SIGKILL."""
    settings = load_settings(
        lake_root=str(tmp_path / "lake"), github_api_url=server.url, github_token="tok-1,tok-2"
    )
    env = {"GITHUB_API_URL": server.url, "GITHUB_TOKEN": "tok-1,tok-2", "LAKE_ROOT": settings.lake_root}
    args = ["--org", ORG, "--run-date", RUN_DATE.isoformat(), "--concurrency", "2"]
    server.set_faults(latency=0.4)  # slow enough to be killed with work left
    store = PendingStore(settings, ORG)
    job = subprocess.Popen(
        [sys.executable, "-m", "jobs.github_contributors", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(store.names("items", ".meta.json")) < 3 and job.poll() is None:
            assert time.monotonic() < deadline, "no item landed in time"
            time.sleep(0.1)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL, "the crawl finished before it could be killed"
    landed = store.names("items", ".meta.json")
    landed_pages = sum(store.get_json(name)["pages"] for name in landed)

    server.set_faults(latency=0.0)
    server.reset_counters()
    done = _cli(env, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert series_of(spark, settings, ORG) == expected_series(org_root, ORG, RUN_DATE)
    sizes = [len(load_commits(org_root, ORG, r["name"])) for r in load_org(org_root, ORG)["repos"]]
    minimum = sum(max(1, -(-n // 100)) for n in sizes)
    assert server.stats()["by_kind"]["commits"] <= minimum - landed_pages + 3
    assert not store.names("items")

    # Run again, nothing changed: the crawl state is read without Spark, every repository's
    # conditional request is asked by the driver, and Spark never starts.
    server.reset_counters()
    again = _cli(env, *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "spark not started" in again.stderr + again.stdout
    assert server.stats()["by_kind"]["commits"] == len(sizes)
    assert series_of(spark, settings, ORG) == expected_series(org_root, ORG, RUN_DATE)


@pytest.mark.e2e
def test_cli_bad_token_fails_fast_with_one_line(server: emulator.EmulatorServer, tmp_path: Path) -> None:
    env = {
        "GITHUB_API_URL": server.url,
        "GITHUB_TOKEN": "wrong-token-xyz",
        "LAKE_ROOT": str(tmp_path / "lake"),
    }
    done = _cli(env, "--org", ORG)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "GITHUB_TOKEN" in lines[0] and "401" in lines[0]
    assert "wrong-token-xyz" not in done.stderr + done.stdout


@pytest.mark.e2e
def test_cli_unknown_org_and_bad_arguments(server: emulator.EmulatorServer, tmp_path: Path) -> None:
    env = {"GITHUB_API_URL": server.url, "GITHUB_TOKEN": "tok-1", "LAKE_ROOT": str(tmp_path / "lake")}
    done = _cli(env, "--org", "no-such-org")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("github_contributors: error:")
    assert "no-such-org" in done.stderr
    bad = _cli(env, "--org", "acme", "--run-date", "2026-02-30")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_crawl_on_minio_lake(spark: Any, s3_lake: Settings, tmp_path: Path) -> None:
    from common.storage import check_lake
    from emulators.github_data import generate_demo

    generate_demo(tmp_path / "demo")
    srv = emulator.start(tmp_path / "demo")
    try:
        settings = load_settings(lake_root=s3_lake.lake_root, github_api_url=srv.url)
        check_lake(settings)
        report = run(spark, settings, "demo-org", RUN_DATE, concurrency=4, progress_seconds=0)
        assert report.gone == ["beta"]
        assert series_of(spark, settings, "demo-org") == expected_series(
            tmp_path / "demo", "demo-org", RUN_DATE
        )
        assert not PendingStore(settings, "demo-org").names("items")
        again = run(spark, settings, "demo-org", RUN_DATE, concurrency=4, progress_seconds=0)
        assert again.new_commits == 0 and again.statuses["unchanged"] == report.statuses["ok"]
    finally:
        srv.stop()
