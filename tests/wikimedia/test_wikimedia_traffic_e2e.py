"""Suspicious traffic end to end: a burst of desktop views in one hour -> job -> top table, summary, API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common.settings import Settings
from common.storage import lake_path
from common.tables import WIKI_DAILY_SUMMARY, WIKI_TOP_ARTICLES
from emulators import wikimedia
from emulators.wikimedia_data import BURST_TITLE, expected_answers, expected_top, generate_tree
from jobs.wikimedia_pageviews.cli import build_parser
from jobs.wikimedia_pageviews.job import main

START = date(2026, 3, 2)
BURST = datetime(2026, 3, 4, 15)  # the third day, the hour ending 15:00


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[wikimedia.EmulatorServer, Path]]:
    root = tmp_path / "dumps"
    generate_tree(root, START, 3, layout="normalised", burst=BURST)
    srv = wikimedia.start(root)
    yield srv, root
    srv.stop()


@pytest.mark.e2e
def test_burst_is_flagged_and_the_unflagged_top_served(
    spark: Any, server: tuple[wikimedia.EmulatorServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, root = server
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("WIKIMEDIA_DUMPS_URL", srv.url)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    settings = Settings(lake_root=str(tmp_path / "lake"))
    assert main(build_parser().parse_args(["--start-date", START.isoformat(), "--days", "3"])) == 0

    expected = expected_top(root, START, 3)
    rows = spark.read.format("delta").load(lake_path(settings, WIKI_TOP_ARTICLES.path)).collect()
    got: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["day"], r["rank"])):
        got.setdefault(row["day"].isoformat(), []).append(
            {
                "rank": row["rank"],
                "title": row["title"],
                "views": row["views"],
                "mobile_share": row["mobile_share"],
                "peak_hour_share": row["peak_hour_share"],
                "flags": list(row["flags"]),
            }
        )
    rounded = {
        day: [
            {
                **e,
                "mobile_share": round(e["mobile_share"], 4),
                "peak_hour_share": round(e["peak_hour_share"], 4),
            }
            for e in entries
        ]
        for day, entries in expected.items()
    }
    assert got == rounded
    burst_day = got["2026-03-04"]
    assert burst_day[0]["title"] == BURST_TITLE
    assert burst_day[0]["flags"] == ["peak_hour", "mobile_share", "spike"]
    answers = expected_answers(root, START, 3)
    assert answers["2026-03-04"]["most_requested"]["title"] == BURST_TITLE  # the contract answer stays

    summary = spark.read.format("delta").load(lake_path(settings, WIKI_DAILY_SUMMARY.path)).collect()
    clean = {r["day"].isoformat(): (r["most_unflagged_title"], r["most_unflagged_views"]) for r in summary}
    for day, entries in expected.items():
        first = next(e for e in entries if not e["flags"])
        assert clean[day] == (first["title"], first["views"])

    client = TestClient(create_app(ApiSettings(lake_root=settings.lake_root, api_refresh_seconds=0.0)))
    body = client.get("/wikipedia/days/2026-03-04").json()
    assert body["most_requested"] == answers["2026-03-04"]["most_requested"]
    assert body["top"] == rounded["2026-03-04"][:25]
    assert len(body["top"]) == min(25, len(expected["2026-03-04"]))
    assert body["most_requested_unflagged"] == {
        "title": clean["2026-03-04"][0],
        "views": clean["2026-03-04"][1],
    }
