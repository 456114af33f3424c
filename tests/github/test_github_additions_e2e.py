"""Bots and identities end to end: emulator (bots, noreply emails, a mapped email) -> job -> tables -> API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common.errors import ConfigError
from common.settings import Settings, load_settings
from common.storage import lake_path
from common.tables import GITHUB_COMMITS, GITHUB_CONTRIBUTORS, GITHUB_NEW_CONTRIBUTORS
from emulators import github as emulator
from emulators.github_data import (
    IDENTITY_MAP,
    add_automation,
    expected_contributors,
    expected_humans,
    expected_series,
    generate_org,
)
from jobs.github_contributors.job import run

RUN_DATE = date(2026, 11, 22)
ORG = "bots-e2e"
MERGED = {"mona@old-laptop.local": "mona-human"}  # what IDENTITY_MAP says about these data


@pytest.fixture
def org_root(tmp_path: Path) -> Path:
    root = tmp_path / "gh"
    generate_org(root, ORG, repos=5, commits=300, seed=21, people=30)
    add_automation(root, ORG)
    return root


@pytest.fixture
def server(org_root: Path) -> Iterator[emulator.EmulatorServer]:
    srv = emulator.start(org_root)
    yield srv
    srv.stop()


def _table(spark: Any, settings: Settings, path: str) -> list[Any]:
    return spark.read.format("delta").load(lake_path(settings, path)).where(f"org = '{ORG}'").collect()


def _legacy_tables(spark: Any, settings: Settings) -> None:
    """Silver and gold tables as a job run before the additions left them (another org's rows)."""
    commits = spark.createDataFrame(
        [("old", "r", "sha1", "someone", "s@x.io", "S", None, None, None)],
        "org string, repo string, sha string, author_login string, author_email string, "
        "author_name string, author_date timestamp, committer_date timestamp, fetched_at timestamp",
    )
    commits.write.format("delta").partitionBy("org").save(lake_path(settings, GITHUB_COMMITS.path))
    monthly = spark.createDataFrame(
        [("old", "r", "2020-01", 1, 1, None)],
        "org string, repo string, month string, new_contributors long, total_contributors long, "
        "computed_at timestamp",
    )
    monthly.write.format("delta").save(lake_path(settings, GITHUB_NEW_CONTRIBUTORS.path))


@pytest.mark.e2e
def test_bots_identities_tables_and_api(
    spark: Any, local_lake: Settings, server: emulator.EmulatorServer, org_root: Path
) -> None:
    mailmap = Path(lake_path(local_lake, "config/mailmap"))
    mailmap.parent.mkdir(parents=True)
    mailmap.write_text(IDENTITY_MAP, encoding="utf-8")
    settings = load_settings(
        lake_root=local_lake.lake_root, github_api_url=server.url, github_identity_map="config/mailmap"
    )
    _legacy_tables(spark, settings)
    run(spark, settings, ORG, RUN_DATE, concurrency=4, progress_seconds=0)

    monthly = sorted(
        _table(spark, settings, GITHUB_NEW_CONTRIBUTORS.path), key=lambda r: (r["repo"], r["month"])
    )
    series: dict[str, list[tuple[str, int, int]]] = {}
    kinds: dict[str, list[tuple[str, int, int, int]]] = {}
    for row in monthly:
        series.setdefault(row["repo"], []).append(
            (row["month"], row["new_contributors"], row["total_contributors"])
        )
        kinds.setdefault(row["repo"], []).append(
            (row["month"], row["new_humans"], row["new_bots"], row["new_humans_merged"])
        )
    assert series == expected_series(org_root, ORG, RUN_DATE)  # the contract's answer is untouched
    expected = expected_humans(org_root, ORG, RUN_DATE, MERGED)
    assert kinds == expected
    assert sum(n for rows in expected.values() for _, _, n, _ in rows) >= 4  # bots were found...
    assert sum(h - m for rows in expected.values() for _, h, _, m in rows) >= 1  # ...and Mona merged

    people = expected_contributors(org_root, ORG)
    got: dict[str, list[tuple[str, str, str, int]]] = {}
    for row in _table(spark, settings, GITHUB_CONTRIBUTORS.path):
        # collect() gives a naive datetime in the process's zone: astimezone reads it as such.
        stamp = row["first_commit_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        got.setdefault(row["repo"], []).append((row["identity"], row["kind"], stamp, row["commits"]))
    assert {repo: sorted(rows, key=lambda r: (r[2], r[0])) for repo, rows in got.items()} == {
        repo: rows for repo, rows in people.items() if rows
    }
    kinds_of = {who: kind for rows in people.values() for who, kind, _, _ in rows}
    assert kinds_of["dependabot[bot]"] == kinds_of["github-actions[bot]"] == "bot"
    assert kinds_of["facebook-github-bot"] == kinds_of["renovate"] == "bot"
    assert kinds_of["mona-human"] == "human"

    client = TestClient(create_app(ApiSettings(lake_root=settings.lake_root, api_refresh_seconds=0.0)))
    repo = max(people, key=lambda name: len(people[name]))
    body = client.get(f"/github/repos/{repo}/contributors").json()
    assert body["contributors"] == [
        {"identity": i, "kind": k, "first_commit_at": f, "commits": c} for i, k, f, c in people[repo]
    ]
    humans = client.get(f"/github/repos/{repo}/new-contributors?exclude_bots=true").json()["months"]
    total = 0
    for entry, (month, new, _, _) in zip(humans, expected[repo], strict=True):
        total += new
        assert entry == {"month": month, "new_contributors": new, "total_contributors": total}
    assert client.get(f"/github/repos/{repo}/new-contributors").json()["months"] == [
        {"month": m, "new_contributors": n, "total_contributors": t} for m, n, t in series[repo]
    ]

    # A rerun is idempotent: the same rows, no duplicates.
    run(spark, settings, ORG, RUN_DATE, concurrency=4, progress_seconds=0)
    assert len(_table(spark, settings, GITHUB_CONTRIBUTORS.path)) == sum(len(r) for r in people.values())
    assert len(_table(spark, settings, GITHUB_NEW_CONTRIBUTORS.path)) == len(monthly)


@pytest.mark.e2e
def test_bad_identity_map_ends_the_run_with_one_line(
    spark: Any, local_lake: Settings, server: emulator.EmulatorServer
) -> None:
    mailmap = Path(lake_path(local_lake, "config/mailmap"))
    mailmap.parent.mkdir(parents=True)
    mailmap.write_text("Good <a@b.c> <d@e.f>\nBroken <a@b.c\n", encoding="utf-8")
    settings = load_settings(
        lake_root=local_lake.lake_root, github_api_url=server.url, github_identity_map="config/mailmap"
    )
    with pytest.raises(ConfigError) as err:
        run(spark, settings, ORG, RUN_DATE, concurrency=2, progress_seconds=0)
    assert str(err.value).startswith(f"GITHUB_IDENTITY_MAP: {mailmap} line 2: cannot parse")
    assert server.stats()["requests"] == 0  # before the crawl
    missing = load_settings(lake_root=local_lake.lake_root, github_identity_map="config/nothing")
    with pytest.raises(ConfigError, match="GITHUB_IDENTITY_MAP: no file at"):
        run(spark, missing, ORG, RUN_DATE, concurrency=2, progress_seconds=0)
