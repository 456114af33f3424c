"""Month edges through the whole GitHub job and the API, whatever the machine's zone and locale.

A repository created at 00:30 UTC on the 1st of a month, another at 23:30 UTC on the last day of
a month, commits at both edges: a local-time reading anywhere (Python, the JVM, Spark) moves one
of them into the next or the previous month. The job runs in this process (whatever zone the
suite runs in; CI runs it under Pacific/Auckland and America/Los_Angeles too) and as a subprocess
under zones far from UTC and other locales; the gold tables are read with delta-rs (no Spark
session zone involved) and the API answers are checked exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from common.settings import Settings, load_settings
from common.storage import delta_rs_uri, lake_path
from emulators import github as emulator
from emulators.github_data import Person, commit_object, expected_series
from jobs.github_contributors.job import run

ROOT = Path(__file__).resolve().parents[2]
ORG = "edge-org"
RUN_DATE = date(2024, 5, 31)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# (repo, created_at, [(author login or None, email, authored_at)])
REPOS: list[tuple[str, str, list[tuple[str | None, str, str]]]] = [
    (
        "first-day",
        # Read as a wall clock of a zone east of UTC, this instant falls on February 29th.
        "2024-03-01T00:30:00Z",
        [
            ("Bob", "bob@example.com", "2024-02-29T23:30:00Z"),  # before creation: counts in March
            ("Alice", "alice@example.com", "2024-04-30T23:30:00Z"),  # last day of April
            ("Carol", "carol@example.com", "2024-05-01T00:30:00Z"),  # first day of May
            ("alice", "alice@work.example.com", "2024-05-01T00:10:00Z"),  # Alice again: not new
        ],
    ),
    (
        "last-day",
        # Read as a wall clock of a zone west of UTC, this instant falls on February 1st.
        "2024-01-31T23:30:00Z",
        [
            ("Dave", "dave@example.com", "2024-01-31T23:30:00Z"),
            (None, "IÑAKI@Example.com", "2024-02-29T23:30:00Z"),  # a non-ASCII e-mail, lower-cased
            (None, "iñaki@example.com", "2024-03-01T00:30:00Z"),  # ... is the same contributor
            ("Erin", "erin@example.com", "2024-03-01T00:30:00Z"),
        ],
    ),
]
CREATED = {name: created for name, created, _ in REPOS}
PUSHED = {name: max(when for _, _, when in commits) for name, _, commits in REPOS}
# The contract's answers, written out by hand (and checked against the emulator's own oracle).
SERIES = {
    "first-day": [("2024-03", 1, 1), ("2024-04", 1, 2), ("2024-05", 1, 3)],
    "last-day": [
        ("2024-01", 1, 1),
        ("2024-02", 1, 2),
        ("2024-03", 1, 3),
        ("2024-04", 0, 3),
        ("2024-05", 0, 3),
    ],
}


def write_org(root: Path) -> None:
    """The organization in the emulator's layout (see emulators.github_data)."""
    folder = root / ORG
    (folder / "commits").mkdir(parents=True)
    repos = []
    for name, created, commits in REPOS:
        lines = []
        for i, (login, email, when) in enumerate(commits):
            person = Person(login, email, email.split("@")[0])
            sha = f"{name}-{i}".encode().hex().ljust(40, "0")[:40]
            lines.append(json.dumps(commit_object(sha, person, _at(when), _at(when), f"change {i}")))
        (folder / "commits" / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        repos.append(
            {
                "name": name,
                "created_at": created,
                "pushed_at": PUSHED[name],
                "fork": False,
                "archived": False,
                "status": "ok",
            }
        )
    (folder / "org.json").write_text(json.dumps({"login": ORG, "repos": repos}), encoding="utf-8")


@pytest.fixture
def org_root(tmp_path: Path) -> Path:
    root = tmp_path / "gh"
    write_org(root)
    assert expected_series(root, ORG, RUN_DATE) == SERIES
    return root


@pytest.fixture
def server(org_root: Path) -> Iterator[emulator.EmulatorServer]:
    srv = emulator.start(org_root)
    yield srv
    srv.stop()


def _rows(settings: Settings, table: str) -> list[dict[str, Any]]:
    """A gold table read with delta-rs: timestamps come back as UTC-aware instants."""
    rows: list[dict[str, Any]] = (
        DeltaTable(delta_rs_uri(lake_path(settings, table))).to_pyarrow_table().to_pylist()
    )
    return rows


def check_gold(settings: Settings, started: datetime, finished: datetime) -> None:
    """Every timestamp of the gold and silver tables is the exact UTC instant; months exact."""
    repos = {r["repo"]: r for r in _rows(settings, "github/repositories")}
    assert {n: r["created_at"] for n, r in repos.items()} == {n: _at(c) for n, c in CREATED.items()}
    assert {n: r["pushed_at"] for n, r in repos.items()} == {n: _at(p) for n, p in PUSHED.items()}
    assert {n: r["total_contributors"] for n, r in repos.items()} == {"first-day": 3, "last-day": 3}
    for row in repos.values():
        assert started <= row["computed_at"] <= finished, row["computed_at"]

    series: dict[str, list[tuple[str, int, int]]] = {}
    for row in sorted(
        _rows(settings, "github/new_contributors_monthly"), key=lambda r: (r["repo"], r["month"])
    ):
        series.setdefault(row["repo"], []).append(
            (row["month"], row["new_contributors"], row["total_contributors"])
        )
        assert started <= row["computed_at"] <= finished, row["computed_at"]
    assert series == SERIES

    commits = {(r["repo"], r["author_email"]): r for r in _rows(settings, "github/commits")}
    for name, _, items in REPOS:
        for _login, email, when in items:
            row = commits[(name, email)]
            assert row["author_date"] == _at(when) and row["committer_date"] == _at(when)
            assert started <= row["fetched_at"] <= finished, row["fetched_at"]
    for row in _rows(settings, "github/crawl_state"):
        assert started <= row["updated_at"] <= finished, row["updated_at"]


EXPECTED_REPOS = {
    "org": ORG,
    "repos": [
        {"repo": "first-day", "created_at": "2024-03-01T00:30:00Z", "total_contributors": 3},
        {"repo": "last-day", "created_at": "2024-01-31T23:30:00Z", "total_contributors": 3},
    ],
}


def expected_months(repo: str) -> list[dict[str, Any]]:
    return [{"month": m, "new_contributors": n, "total_contributors": t} for m, n, t in SERIES[repo]]


# The API's answers, asked in a fresh interpreter so that the zone under test is the process's own.
API_SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from api.main import create_app
from api.settings import ApiSettings
client = TestClient(create_app(ApiSettings(lake_root=sys.argv[1], api_refresh_seconds=0.0)))
paths = ["/github/repos", "/github/repos/first-day/new-contributors",
         "/github/repos/last-day/new-contributors?from=2024-02&to=2024-03"]
print(json.dumps({p: client.get(p).json() for p in paths}))
"""


def check_api(lake_root: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", API_SCRIPT, lake_root],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert answers["/github/repos"] == EXPECTED_REPOS
    assert answers["/github/repos/first-day/new-contributors"] == {
        "repo": "first-day",
        "months": expected_months("first-day"),
    }
    assert answers["/github/repos/last-day/new-contributors?from=2024-02&to=2024-03"] == {
        "repo": "last-day",
        "months": expected_months("last-day")[1:3],
    }


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.mark.e2e
def test_month_edges_in_this_process(
    spark: Any, local_lake: Settings, server: emulator.EmulatorServer
) -> None:
    """The job in the suite's own process and zone (UTC in the main run, others in CI's extra runs)."""
    settings = load_settings(lake_root=local_lake.lake_root, github_api_url=server.url)
    started = _now()
    run(spark, settings, ORG, RUN_DATE, concurrency=2, progress_seconds=0)
    check_gold(settings, started, _now() + timedelta(seconds=1))
    check_api(settings.lake_root, dict(os.environ))


# Far from UTC on both sides; the C locale; and a JVM whose default locale is Turkish (what
# LC_ALL=tr_TR.UTF-8 gives it where that locale is installed), which lower-cases "I" to "ı".
ZONES = {
    "auckland-tr": {"TZ": "Pacific/Auckland", "JAVA_TOOL_OPTIONS": "-Duser.language=tr -Duser.country=TR"},
    "la-c": {"TZ": "America/Los_Angeles", "LC_ALL": "C"},
}


@pytest.mark.e2e
@pytest.mark.parametrize("machine", list(ZONES.values()), ids=list(ZONES))
def test_month_edges_cli_far_from_utc(
    server: emulator.EmulatorServer, tmp_path: Path, machine: dict[str, str]
) -> None:
    """The CLI, its JVM and the API each in a process whose zone and locale are far from UTC's."""
    lake = str(tmp_path / "lake")
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "JAVA_TOOL_OPTIONS")}
    env.update({"GITHUB_API_URL": server.url, "LAKE_ROOT": lake, **machine})
    started = _now()
    done = subprocess.run(
        [sys.executable, "-m", "jobs.github_contributors", "--org", ORG, "--run-date", RUN_DATE.isoformat()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,  # generous: CI machines are shared
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    check_gold(load_settings(lake_root=lake), started, _now() + timedelta(seconds=1))
    check_api(lake, env)
