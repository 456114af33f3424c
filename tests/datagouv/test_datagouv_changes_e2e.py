"""Week over week end to end: the emulator's catalogue a week later -> job -> datagouv/matches,
the changes tables and GET /datagouv/changes, against the plain-Python diff of the two catalogues."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common.settings import Settings, load_settings
from common.storage import lake_path
from common.tables import DATAGOUV_CHANGE_RUNS, DATAGOUV_MATCHES
from emulators import datagouv as emulator
from emulators.datagouv_data import expected_changes, expected_matches, generate_demo
from jobs.datagouv_catalog.job import run

WEEK_0, WEEK_1 = "2026-01-07", "2026-01-14"


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    root = tmp_path / "catalogue"
    generate_demo(root)
    return root


@pytest.fixture
def source(catalogue: Path) -> Iterator[emulator.EmulatorServer]:
    server = emulator.start(catalogue)
    yield server
    server.stop()


def _matches(spark: Any, settings: Settings, run_date: str) -> dict[str, tuple[str, str | None, int]]:
    table = spark.read.format("delta").load(lake_path(settings, DATAGOUV_MATCHES.path))
    rows = table.where(f"run_date = '{run_date}'").collect()
    return {r["dataset_id"]: (r["title"], r["organization"], r["followers"]) for r in rows}


@pytest.mark.e2e
@pytest.mark.integration
def test_changes_between_two_weekly_runs(  # noqa: PLR0917 - fixtures
    spark: Any,
    local_lake: Settings,
    minio: dict[str, str],
    source: emulator.EmulatorServer,
    catalogue: Path,
    mongo_uri: str,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in minio.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DATAGOUV_API_URL", source.api_url)
    monkeypatch.setenv("DATAGOUV_BUCKET", f"dgc-{unique_name}")
    settings = load_settings(lake_root=local_lake.lake_root)
    database = f"dgc_{unique_name}"
    before = tmp_path / "week0"
    generate_demo(before)

    run(settings, WEEK_0, mongo_uri=mongo_uri, database=database, spark=spark)
    generate_demo(catalogue, week=1)  # the emulator now serves next week's catalogue
    run(settings, WEEK_1, mongo_uri=mongo_uri, database=database, spark=spark)

    assert _matches(spark, settings, WEEK_0) == expected_matches(before)
    assert _matches(spark, settings, WEEK_1) == expected_matches(catalogue)
    matched = spark.read.format("delta").load(lake_path(settings, DATAGOUV_MATCHES.path)).collect()
    assert all(r["matched"] and set(r["matched"]) <= {"title", "description", "tags"} for r in matched)

    client = TestClient(create_app(ApiSettings(lake_root=settings.lake_root, api_refresh_seconds=0.0)))
    week_1 = expected_changes(before, catalogue)
    assert (
        week_1["added"]
        and week_1["removed"]
        and {"title"} <= {f for c in week_1["changed"] for f in c["fields"]}
    )
    assert client.get("/datagouv/changes").json() == {
        "run_date": WEEK_1,
        "previous_run_date": WEEK_0,
        **week_1,
    }
    first = client.get(f"/datagouv/changes?run_date={WEEK_0}").json()
    assert first == {"run_date": WEEK_0, "previous_run_date": None, **expected_changes(None, before)}
    # The dashboard's names: each listed dataset's title on the run date (a removed one's before).
    now, then = _matches(spark, settings, WEEK_1), _matches(spark, settings, WEEK_0)
    listed = [*week_1["added"], *[c["dataset_id"] for c in week_1["changed"]]]
    titles = {i: now[i][0] for i in listed} | {i: then[i][0] for i in week_1["removed"]}
    assert client.get(f"/datagouv/changes/titles?run_date={WEEK_1}").json() == {
        "run_date": WEEK_1,
        "titles": {i: t for i, t in sorted(titles.items()) if t is not None},
    }

    def answers_unchanged() -> TestClient:
        """A fresh API over the lake gives both weeks' changes as after the two runs."""
        fresh = TestClient(create_app(ApiSettings(lake_root=settings.lake_root, api_refresh_seconds=0.0)))
        latest = {"run_date": WEEK_1, "previous_run_date": WEEK_0, **week_1}
        assert fresh.get("/datagouv/changes").json() == latest
        assert fresh.get(f"/datagouv/changes?run_date={WEEK_0}").json() == first
        return fresh

    # A rerun of the first week (its landed exports are reused) leaves the same answers.
    run(settings, WEEK_0, mongo_uri=mongo_uri, database=database, spark=spark)
    again = answers_unchanged()
    assert again.get("/datagouv/changes?run_date=2026-01-08").status_code == 404

    # Changes tables that lag the matches (here: one lost) are recomputed for every run date.
    shutil.rmtree(lake_path(settings, DATAGOUV_CHANGE_RUNS.path))
    run(settings, WEEK_0, mongo_uri=mongo_uri, database=database, spark=spark)
    answers_unchanged()
