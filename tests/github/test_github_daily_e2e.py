"""A daily run costs its changes: after new commits in a few repositories, only the gold rows of
the repositories whose answers moved are rewritten, and the tables equal a first run's."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from common.settings import Settings, load_settings
from common.storage import delta_rs_uri, lake_path
from emulators import github as emulator
from emulators.github_data import (
    Person,
    append_commits,
    commit_object,
    expected_series,
    generate_org,
    iso,
    load_commits,
    load_org,
    parse_iso,
)
from jobs.github_contributors import gates
from jobs.github_contributors.job import run

pytestmark = pytest.mark.e2e

ORG = "acme-daily"
RUN_DATE = date(2026, 11, 22)
GOLD = ("github/new_contributors_monthly", "github/repositories", "github/contributors")
SOLO = "solo@example.com"


def push(root: Path, repo: str, person: Person) -> None:
    """One newer commit by `person` on `repo`, as GitHub would list it after a push."""
    path = root / ORG / "commits" / f"{repo}.jsonl"
    last = max(parse_iso(c["commit"]["committer"]["date"]) for c in load_commits(root, ORG, repo))
    when = last + timedelta(days=1)
    sha = hashlib.sha1(f"{repo}{person}{when}".encode()).hexdigest()
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(commit_object(sha, person, when, when, "a push")) + "\n")
    org_file = root / ORG / "org.json"
    data = json.loads(org_file.read_text(encoding="utf-8"))
    for item in data["repos"]:
        if item["name"] == repo:
            item["pushed_at"] = iso(when)
    org_file.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def org_root(tmp_path: Path) -> Path:
    root = tmp_path / "gh"
    generate_org(root, ORG, repos=6, commits=600, seed=11)
    return root


@pytest.fixture
def server(org_root: Path) -> Iterator[emulator.EmulatorServer]:
    srv = emulator.start(org_root, tokens=["tok-1"])
    yield srv
    srv.stop()


def _settings(lake: Path, server: emulator.EmulatorServer) -> Settings:
    return load_settings(lake_root=str(lake), github_api_url=server.url, github_token="tok-1")


def _rows(settings: Settings, table: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        DeltaTable(delta_rs_uri(lake_path(settings, table))).to_pyarrow_table().to_pylist()
    )
    return rows


def _answers(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    """The table's rows without the stamp of the run that wrote them, in a stable order."""
    return sorted(
        tuple(sorted((k, str(v)) for k, v in r.items() if k != "computed_at")) for r in _rows(settings, table)
    )


def _last_commit(settings: Settings, table: str) -> dict[str, Any]:
    history: list[dict[str, Any]] = DeltaTable(delta_rs_uri(lake_path(settings, table))).history(1)
    return history[0]


def test_daily_run_rewrites_only_the_repositories_whose_answers_moved(
    spark: Any,
    tmp_path: Path,
    org_root: Path,
    server: emulator.EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = [r["name"] for r in load_org(org_root, ORG)["repos"] if r["status"] == "ok"]
    quiet, linked, busy = names[0], names[1], names[2]
    # A commit on `quiet` by someone with no linked account: its identity is the email.
    push(org_root, quiet, Person(None, SOLO, "Solo"))
    daily = _settings(tmp_path / "daily", server)
    run(spark, daily, ORG, RUN_DATE, concurrency=4, progress_seconds=0)
    first_stamps = {r["repo"]: r["computed_at"] for r in _rows(daily, "github/repositories")}
    before = {table: _last_commit(daily, table)["version"] for table in GOLD}
    first_rows = {table: _rows(daily, table) for table in GOLD}

    # New commits on `busy`; on `linked`, the same email with a linked account: GitHub links
    # by verified email, so `quiet`'s contributor is that login now, though `quiet` got nothing.
    append_commits(org_root, ORG, busy, 20, seed=4)
    push(org_root, linked, Person("solo-login", SOLO, "Solo"))
    audited: list[set[str]] = []
    real_audit = gates.audit

    def audit(series: Any, *frames: Any) -> None:
        audited.append({r["repo"] for r in series.select("repo").distinct().collect()})
        real_audit(series, *frames)

    monkeypatch.setattr(gates, "audit", audit)
    report = run(spark, daily, ORG, RUN_DATE, concurrency=4, progress_seconds=0)
    assert report.new_commits == 21
    moved = {quiet, linked, busy}
    assert audited == [moved]  # the gates check the rows written, not the org's every row again
    old_rows = {table: sum(1 for r in first_rows[table] if r["repo"] in moved) for table in GOLD}
    for table in GOLD:
        commit = _last_commit(daily, table)
        assert commit["version"] == before[table] + 1
        predicate = commit["operationParameters"]["predicate"]
        assert all(f"'{name}'" in predicate for name in moved), predicate
        assert not any(f"'{name}'" in predicate for name in set(names) - moved), predicate
        # Delta copies the unchanged rows that shared a file with deleted ones (copy-on-write):
        # what the run wrote is its output minus those copies.
        metrics = {k: int(v) for k, v in commit["operationMetrics"].items()}
        assert metrics["numDeletedRows"] == old_rows[table]
        assert metrics["numOutputRows"] - metrics["numCopiedRows"] == sum(
            1 for r in _rows(daily, table) if r["repo"] in moved
        )
    stamps = {r["repo"]: r["computed_at"] for r in _rows(daily, "github/repositories")}
    assert {n: stamps[n] for n in stamps if n not in moved} == {
        n: first_stamps[n] for n in first_stamps if n not in moved
    }
    assert all(stamps[n] > first_stamps[n] for n in moved)
    solo = [r for r in _rows(daily, "github/contributors") if r["repo"] == quiet and r["identity"] == SOLO]
    assert [r["merged_identity"] for r in solo] == ["solo-login"]

    # The same answers as a first run over the same data, on an empty lake.
    fresh = _settings(tmp_path / "fresh", server)
    run(spark, fresh, ORG, RUN_DATE, concurrency=4, progress_seconds=0)
    for table in GOLD:
        assert _answers(daily, table) == _answers(fresh, table), table
    series = {
        r["repo"]: r for r in _rows(daily, "github/new_contributors_monthly") if r["month"] == "2026-11"
    }
    assert set(series) <= set(expected_series(org_root, ORG, RUN_DATE))


@pytest.mark.parametrize("full_refresh", [False, True], ids=["plain", "full-refresh"])
def test_a_gold_table_missing_a_data_file_is_rebuilt_by_a_plain_rerun(
    spark: Any, tmp_path: Path, org_root: Path, server: emulator.EmulatorServer, full_refresh: bool
) -> None:
    """Also with --full-refresh, which then rebuilds every table from the crawl (it once failed
    on the lost file after committing the other tables)."""
    from common.storage import DeltaReader
    from common.tables import GITHUB_NEW_CONTRIBUTORS

    settings = _settings(tmp_path / "lake", server)
    run(spark, settings, ORG, RUN_DATE, concurrency=4, progress_seconds=0)
    table = Path(lake_path(settings, GITHUB_NEW_CONTRIBUTORS.path))
    lost = sorted(table.glob("*.parquet"))[0]
    lost.unlink()  # a data file deleted by hand: the table's version did not move
    assert DeltaReader(settings).missing_files(GITHUB_NEW_CONTRIBUTORS) == [lost.name]

    report = run(spark, settings, ORG, RUN_DATE, full_refresh=full_refresh, concurrency=4, progress_seconds=0)
    assert (report.new_commits > 0) == full_refresh  # a full refresh crawls again
    assert DeltaReader(settings).missing_files(GITHUB_NEW_CONTRIBUTORS) == []
    series: dict[str, list[tuple[str, int, int]]] = {}
    for row in sorted(_rows(settings, GITHUB_NEW_CONTRIBUTORS.path), key=lambda r: (r["repo"], r["month"])):
        series.setdefault(row["repo"], []).append(
            (row["month"], row["new_contributors"], row["total_contributors"])
        )
    assert series == expected_series(org_root, ORG, RUN_DATE)
