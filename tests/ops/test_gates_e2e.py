"""The GitHub and Wikimedia jobs through their entry wrapper against the emulators: a clean run
passes its gates and is recorded; a run with a planted defect (QUALITY_FAULT) fails in one line
naming the gate, and every gold table keeps its version."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from common import ledger
from common.cli import run_job
from common.settings import Settings, load_settings
from common.storage import delta_rs_uri, lake_path
from common.tables import (
    GITHUB_NEW_CONTRIBUTORS,
    GITHUB_REPOSITORIES,
    WIKI_DAILY_SUMMARY,
    WIKI_TOP_CATEGORIES,
)
from emulators import github as github_emulator
from emulators import wikimedia as wiki_emulator
from emulators.github_data import generate_org
from emulators.wikimedia_data import generate_tree

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ORG = "gated"
START = date(2026, 3, 2)


def _versions(settings: Settings, *tables: Any) -> dict[str, int]:
    from deltalake import DeltaTable

    return {t.path: int(DeltaTable(delta_rs_uri(lake_path(settings, t.path))).version()) for t in tables}


@pytest.fixture
def github(tmp_path: Path) -> Iterator[github_emulator.EmulatorServer]:
    generate_org(tmp_path / "gh", ORG, repos=4, commits=120, seed=3)
    server = github_emulator.start(tmp_path / "gh", tokens=["tok-gated"])
    yield server
    server.stop()


def test_github_gates_pass_then_stop_a_planted_negative_month(
    spark: Any,
    github: github_emulator.EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from jobs.github_contributors.cli import build_parser
    from jobs.github_contributors.job import NAME, main

    lake = str(tmp_path / "lake")
    for key, value in {"LAKE_ROOT": lake, "GITHUB_API_URL": github.url, "GITHUB_TOKEN": "tok-gated"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GITHUB_PROGRESS_SECONDS", "0")
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    args = build_parser().parse_args(["--org", ORG, "--run-date", "2026-11-22", "--concurrency", "2"])
    assert run_job(NAME, lambda run: main(args, run), args) == 0, capsys.readouterr().err[-2000:]
    settings = load_settings(lake_root=lake)
    before = _versions(settings, GITHUB_NEW_CONTRIBUTORS, GITHUB_REPOSITORIES)
    [clean] = ledger.LedgerStore(settings).records(NAME)
    assert clean["status"] == "succeeded" and "audit" in clean["stages"]
    assert clean["outputs"][GITHUB_NEW_CONTRIBUTORS.path]["version"] == before[GITHUB_NEW_CONTRIBUTORS.path]
    assert clean["inputs"]["github"]["repositories"] > 0
    capsys.readouterr()

    monkeypatch.setenv("QUALITY_FAULT", "github_contributors.negative_new")
    assert run_job(NAME, lambda run: main(args, run), args) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(
        "github_contributors: error: quality gate 'new_contributors >= 0' failed: 1 offending"
    )
    assert f"{ORG}/" in line
    assert _versions(settings, GITHUB_NEW_CONTRIBUTORS, GITHUB_REPOSITORIES) == before
    failed = ledger.LedgerStore(settings).records(NAME)[0]
    assert failed["status"] == "failed" and failed["error"] == line.removeprefix(f"{NAME}: error: ")
    assert GITHUB_NEW_CONTRIBUTORS.path not in failed["outputs"]


@pytest.fixture
def dumps(tmp_path: Path) -> Iterator[wiki_emulator.EmulatorServer]:
    generate_tree(tmp_path / "dumps", START, 2, layout="transitional")
    server = wiki_emulator.start(tmp_path / "dumps")
    yield server
    server.stop()


def test_wikimedia_gates_pass_then_stop_planted_hours(
    spark: Any,
    dumps: wiki_emulator.EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from jobs.wikimedia_pageviews.cli import build_parser
    from jobs.wikimedia_pageviews.job import main

    lake = str(tmp_path / "lake")
    monkeypatch.setenv("LAKE_ROOT", lake)
    monkeypatch.setenv("WIKIMEDIA_DUMPS_URL", dumps.url)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    args = build_parser().parse_args(["--start-date", START.isoformat(), "--days", "2"])
    job = "wikimedia_pageviews"
    assert run_job(job, lambda run: main(args, run), args) == 0, capsys.readouterr().err[-2000:]
    settings = load_settings(lake_root=lake)
    before = _versions(settings, WIKI_DAILY_SUMMARY, WIKI_TOP_CATEGORIES)
    [clean] = ledger.LedgerStore(settings).records(job)
    assert clean["status"] == "succeeded"
    assert set(clean["inputs"]["wikimedia"]["hourly_files"]) == {"2026-03-02", "2026-03-03"}
    assert "page" in clean["inputs"]["wikimedia"]["sql_dumps"]
    assert clean["outputs"][WIKI_DAILY_SUMMARY.path]["rows"] == 2
    capsys.readouterr()

    monkeypatch.setenv("QUALITY_FAULT", "wikimedia_pageviews.hours_over_24")
    assert run_job(job, lambda run: main(args, run), args) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        "wikimedia_pageviews: error: quality gate '0 <= hours <= 24 and complete = (hours = 24)' failed: "
        "2 offending (enwiki/2026-03-02; enwiki/2026-03-03); nothing published"
    )
    assert _versions(settings, WIKI_DAILY_SUMMARY, WIKI_TOP_CATEGORIES) == before
    assert ledger.LedgerStore(settings).records(job)[0]["status"] == "failed"
