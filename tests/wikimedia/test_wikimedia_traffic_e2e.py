"""Suspicious traffic end to end: a burst of desktop views in one hour -> job -> top table, summary, API."""

from __future__ import annotations

import logging
import re
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
    got, rounded = _top_table(spark, settings), _rounded(expected)
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


@pytest.mark.e2e
def test_hours_read_in_batches_while_the_landing_goes_on_give_the_same_signals(
    spark: Any,
    server: tuple[wikimedia.EmulatorServer, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A slow landing: the hours are read in batches as they land, the burst day's hours in
    several of them, and every answer and signal (the peak hour's share sums a title's views of
    each hour across the batches) is that of the whole files."""
    srv, root = server
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("WIKIMEDIA_DUMPS_URL", srv.url)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    settings = Settings(lake_root=str(tmp_path / "lake"))
    srv.faults.set(latency=0.25, match="pageviews-20260304")  # the burst day's files land slowly
    args = ["--start-date", START.isoformat(), "--days", "3", "--download-workers", "2"]
    with caplog.at_level(logging.INFO, logger="jobs.wikimedia_pageviews.job"):
        assert main(build_parser().parse_args(args)) == 0
    reads = [
        r.getMessage() for r in caplog.records if re.match(r"read \d+: \d+ hourly files", r.getMessage())
    ]
    assert len(reads) >= 3 and any(m.endswith("more landing") for m in reads), reads
    assert sum(int(m.split(": ")[1].split()[0]) for m in reads) == 72  # each file read once
    assert _top_table(spark, settings) == _rounded(expected_top(root, START, 3))
    summary = spark.read.format("delta").load(lake_path(settings, WIKI_DAILY_SUMMARY.path)).collect()
    answers = expected_answers(root, START, 3)
    got = {
        r["day"].isoformat(): (r["most_title"], r["most_views"], r["least_title"], r["least_views"])
        for r in summary
    }
    assert got == {
        day: (
            a["most_requested"]["title"],
            a["most_requested"]["views"],
            a["least_requested"]["title"],
            a["least_requested"]["views"],
        )
        for day, a in answers.items()
    }


def _top_table(spark: Any, settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """The top articles table by day, in rank order."""
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
    return got


def _rounded(expected: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """`expected_top`'s shares rounded as the table holds them."""
    return {
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
