"""End to end over HTTP: the emulator serves a generated 7-day tree (one hour missing, faults on),
the job lands, parses and aggregates it, and the gold tables equal the plain-Python answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from common.errors import SourceError
from common.settings import Settings
from common.storage import DeltaReader, lake_path
from common.tables import (
    WIKI_ARTICLES,
    WIKI_CATEGORY_MEMBERS,
    WIKI_DAILY_SUMMARY,
    WIKI_PAGEVIEWS_DAILY,
    WIKI_REDIRECTS,
    WIKI_TOP_CATEGORIES,
)
from emulators import wikimedia
from emulators.wikimedia_data import expected_answers, generate_tree, hourly_relative
from jobs.wikimedia_pageviews import extract, unchanged
from jobs.wikimedia_pageviews.cli import build_parser
from jobs.wikimedia_pageviews.job import main

START = date(2026, 3, 2)
MISSING = datetime(2026, 3, 4, 6)
START_MISSING = datetime(2026, 3, 3, 9)  # on the second day of a two-day run


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dumps")
    generate_tree(root, START, 7, layout="transitional", missing=[MISSING])
    return root


@pytest.fixture
def server(tree: Path) -> Iterator[wikimedia.EmulatorServer]:
    srv = wikimedia.start(tree)
    yield srv
    srv.stop()


def _local_lake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, srv: wikimedia.EmulatorServer) -> Settings:
    """The job's environment: a local lake under `tmp_path`, the dumps served by `srv`."""
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("WIKIMEDIA_DUMPS_URL", srv.url)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    return Settings(lake_root=str(tmp_path / "lake"))


def _answers(spark: Any, settings: Settings) -> dict[str, Any]:
    """The gold tables, shaped like expected_answers()."""
    summary = spark.read.format("delta").load(lake_path(settings, WIKI_DAILY_SUMMARY.path)).collect()
    top = spark.read.format("delta").load(lake_path(settings, WIKI_TOP_CATEGORIES.path)).collect()
    result: dict[str, Any] = {}
    for row in summary:
        assert row["wiki"] == "enwiki"
        result[row["day"].isoformat()] = {
            "hours": row["hours"],
            "complete": row["complete"],
            "most_requested": {"title": row["most_title"], "views": row["most_views"]},
            "least_requested": {
                "title": row["least_title"],
                "views": row["least_views"],
                "ties": row["least_ties"],
            },
            "top_categories": [
                {"rank": t["rank"], "category": t["category"], "views": t["views"], "articles": t["articles"]}
                for t in sorted(top, key=lambda t: t["rank"])
                if t["day"] == row["day"]
            ],
        }
    return result


@pytest.mark.integration
def test_landing_retries_faults_records_404_and_skips_landed(
    tree: Path, server: wikimedia.EmulatorServer, tmp_path: Path
) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"), wikimedia_dumps_url=server.url)
    server.faults.set(truncate=1, errors=1, match="pageviews-20260302")
    landing = extract.land(settings, "enwiki", [START, START + timedelta(days=2)], "latest", backoff=0.01)
    assert landing.hours(START) == 24
    assert landing.hours(START + timedelta(days=2)) == 23
    assert landing.missing == [hourly_relative(MISSING)]
    assert all(landing.dumps.uris.values())
    assert server.faults.truncate == server.faults.errors == 0
    retried = sum(n - 1 for path, n in server.requests.items() if "pageviews-20260302" in path)
    assert retried >= 2
    for uri in landing.hourly[START].values():
        assert Path(uri).stat().st_size == (tree / uri.split("/raw/wikimedia/", 1)[1]).stat().st_size
    before = sum(server.requests.values())
    again = extract.land(settings, "enwiki", [START, START + timedelta(days=2)], "latest", backoff=0.01)
    assert again.hourly == landing.hourly
    # Only the missing hour is asked again (it may have been published since); dumps get a HEAD.
    assert sum(server.requests.values()) - before == 1 + 5


@pytest.mark.e2e
def test_job_end_to_end_and_idempotent(
    spark: Any, tree: Path, server: wikimedia.EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("WIKIMEDIA_DUMPS_URL", server.url)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    settings = Settings(lake_root=str(tmp_path / "lake"))
    server.faults.set(corrupt=1, match="pageviews-20260305")
    args = build_parser().parse_args(["--start-date", START.isoformat(), "--days", "7"])
    assert main(args) == 0
    expected = expected_answers(tree, START, 7, "enwiki")
    got = _answers(spark, settings)
    assert got == expected
    assert got["2026-03-04"]["hours"] == 23 and not got["2026-03-04"]["complete"]

    silver = lake_path(settings, WIKI_PAGEVIEWS_DAILY.path)
    rows_before = sorted(map(tuple, spark.read.format("delta").load(silver).collect()))
    articles = lake_path(settings, WIKI_ARTICLES.path)
    articles_version = _version(spark, articles)
    # Reprocess one day only: the others stay, the day is replaced (not duplicated), and the
    # dimensions are kept since the SQL dumps did not change.
    args = build_parser().parse_args(["--start-date", "2026-03-05", "--days", "1"])
    assert main(args) == 0
    assert _answers(spark, settings) == expected
    assert sorted(map(tuple, spark.read.format("delta").load(silver).collect())) == rows_before
    assert _version(spark, articles) == articles_version

    # Forced, the dimensions are parsed again; the answers do not move.
    args = build_parser().parse_args(["--start-date", "2026-03-05", "--days", "1", "--rebuild-dimensions"])
    assert main(args) == 0
    assert _version(spark, articles) == articles_version + 1
    assert _answers(spark, settings) == expected


@pytest.mark.e2e
def test_an_hourly_file_corrupt_at_every_download_ends_the_run_naming_it(
    tree: Path, server: wikimedia.EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The landing checks sizes; the read checks the gzip and downloads a failing file again
    (test_job_end_to_end_and_idempotent: once corrupt, answers exact). Corrupt at every download,
    the run ends with one line naming it and publishes nothing."""
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("WIKIMEDIA_DUMPS_URL", server.url)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    server.faults.set(corrupt=1000, match="pageviews-20260302-050000")
    args = build_parser().parse_args(["--start-date", START.isoformat(), "--days", "1"])
    with pytest.raises(SourceError) as failed:
        main(args)
    message = str(failed.value)
    assert "\n" not in message and "pageviews-20260302-050000.gz" in message, message
    assert not (tmp_path / "lake" / WIKI_DAILY_SUMMARY.path).exists()
    asked = server.requests["/" + hourly_relative(datetime(2026, 3, 2, 5))]
    assert asked == 1 + 4  # landed once, then downloaded again: four tries, each failing its gzip


@pytest.mark.e2e
def test_a_landing_failing_after_the_dumps_landed_ends_the_run_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hourly files answering 503 at every try (the day's others missing) fail the landing after
    the dumps have landed: their build, started and waiting for the first read (none ever
    starts), ends with the run, which ends with one line naming a file, nothing published."""
    root = tmp_path / "dumps"
    generate_tree(root, START, 1, layout="legacy")
    for hour in range(3, 25):
        (root / hourly_relative(datetime(2026, 3, 2) + timedelta(hours=hour))).unlink()
    srv = wikimedia.start(root, errors=10_000, match="pageviews-")
    try:
        settings = _local_lake(monkeypatch, tmp_path, srv)
        args = build_parser().parse_args(["--start-date", START.isoformat(), "--days", "1"])
        started = time.monotonic()
        with pytest.raises(SourceError) as failed:
            main(args)
        message = str(failed.value)
        assert "\n" not in message and "pageviews-20260302-0" in message, message
        assert time.monotonic() - started < 120
        assert not Path(lake_path(settings, WIKI_DAILY_SUMMARY.path)).exists()
        assert not Path(lake_path(settings, WIKI_ARTICLES.path)).exists()
    finally:
        srv.stop()


def _version(spark: Any, path: str) -> int:
    return int(spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()["version"])


@pytest.mark.e2e
def test_rerun_on_unchanged_inputs_rewrites_nothing_and_a_new_hour_recomputes(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The same days again: no table gets a version (Spark is not started); once the missing hour
    is published, the next run lands it and recomputes the days, not the dimensions."""
    root = tmp_path / "dumps"
    generate_tree(root, START, 2, layout="transitional", missing=[START_MISSING])
    srv = wikimedia.start(root)
    try:
        settings = _local_lake(monkeypatch, tmp_path, srv)
        reader = DeltaReader(settings)
        args = build_parser().parse_args(["--start-date", START.isoformat(), "--days", "2"])

        def versions() -> dict[str, int | None]:
            return {table.path: reader.version(table) for table in unchanged.TABLES}

        assert main(args) == 0
        first = versions()
        assert None not in first.values()
        expected = expected_answers(root, START, 2, "enwiki")
        assert expected[START_MISSING.date().isoformat()]["hours"] == 23
        assert _answers(spark, settings) == expected

        caplog.clear()
        with caplog.at_level(logging.INFO, logger="jobs.wikimedia_pageviews.job"):
            assert main(args) == 0
        assert versions() == first
        assert "nothing rewritten, Spark not started" in caplog.text
        assert "hours=23" in caplog.text  # the day answers, read back from the tables

        # The missing hour is published (same bytes the generator makes for it).
        full = tmp_path / "full"
        generate_tree(full, START, 2, layout="transitional")
        relative = hourly_relative(START_MISSING)
        (root / relative).write_bytes((full / relative).read_bytes())
        assert main(args) == 0
        third = versions()
        dimensions = (WIKI_ARTICLES.path, WIKI_REDIRECTS.path, WIKI_CATEGORY_MEMBERS.path)
        for path, version in third.items():
            bumped = 0 if path in dimensions else 1  # the SQL dumps did not change
            assert version == (first[path] or 0) + bumped, path
        recomputed = expected_answers(root, START, 2, "enwiki")
        assert recomputed[START_MISSING.date().isoformat()]["hours"] == 24
        assert _answers(spark, settings) == recomputed

        assert main(args) == 0
        assert versions() == third
    finally:
        srv.stop()


def test_a_dimension_missing_a_data_file_is_rebuilt_from_the_dumps(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data file of `wikimedia/articles` deleted by hand: the table's version did not move and the
    dumps did not change, yet the next run rebuilds it (a repaired table alone would lack rows)."""
    root = tmp_path / "dumps"
    generate_tree(root, START, 1, layout="transitional")
    srv = wikimedia.start(root)
    try:
        settings = _local_lake(monkeypatch, tmp_path, srv)
        args = build_parser().parse_args(["--start-date", START.isoformat(), "--days", "1"])
        assert main(args) == 0
        expected = expected_answers(root, START, 1, "enwiki")
        assert _answers(spark, settings) == expected

        lost = sorted(Path(lake_path(settings, WIKI_ARTICLES.path)).rglob("*.parquet"))[0]
        lost.unlink()
        assert DeltaReader(settings).missing_files(WIKI_ARTICLES) != []
        assert main(args) == 0
        assert DeltaReader(settings).missing_files(WIKI_ARTICLES) == []
        assert _answers(spark, settings) == expected
    finally:
        srv.stop()


@pytest.mark.integration
def test_the_emulator_sends_files_no_faster_than_its_bandwidth(
    tree: Path, server: wikimedia.EmulatorServer
) -> None:
    """`bandwidth` paces file bodies (a slow link, for the overlap benchmark); `match` limits it."""
    slow, fast = hourly_relative(datetime(2026, 3, 2, 1)), hourly_relative(datetime(2026, 3, 3, 1))
    size = (tree / slow).stat().st_size
    server.faults.set(bandwidth=size / 0.5, match="pageviews-20260302")
    for relative, least, most in ((slow, 0.45, 5.0), (fast, 0.0, 0.3)):
        started = time.monotonic()
        body = requests.get(f"{server.url}/{relative}", timeout=10).content
        took = time.monotonic() - started
        assert body == (tree / relative).read_bytes()
        assert least <= took < most, (relative, took)


@pytest.mark.integration
def test_each_hour_is_handed_on_as_soon_as_it_has_landed(
    server: wikimedia.EmulatorServer, tmp_path: Path
) -> None:
    """`land(on_hour=..., on_dumps=...)` hands each hourly file over (a 404 as None) as soon as it
    has landed, and the SQL dumps once they all have (asked first), while later files still
    download: the job builds its dimensions and reads the hours while the next ones land."""
    settings = Settings(lake_root=str(tmp_path / "lake"), wikimedia_dumps_url=server.url)
    server.faults.set(latency=0.3, match="pageviews-20260304")  # the third day's files are slow
    handed: list[tuple[date, int, str | None, float]] = []
    dumps: list[tuple[extract.Dumps, float]] = []
    started = time.monotonic()
    days = [START, START + timedelta(days=1), START + timedelta(days=2)]
    landing = extract.land(
        settings,
        "enwiki",
        days,
        "latest",
        workers=4,
        on_hour=lambda day, hour, uri: handed.append((day, hour, uri, time.monotonic() - started)),
        on_dumps=lambda landed: dumps.append((landed, time.monotonic() - started)),
    )
    took = time.monotonic() - started
    assert sorted((day, hour) for day, hour, _, _ in handed) == [(d, h) for d in days for h in range(24)]
    assert {(day, hour): uri for day, hour, uri, _ in handed if uri} == {
        (day, hour): uri for day, hours in landing.hourly.items() for hour, uri in hours.items()
    }
    assert [(day, hour) for day, hour, uri, _ in handed if uri is None] == [
        (MISSING.date(), MISSING.hour - 1)
    ]
    first_two = [at for day, _, _, at in handed if day < days[2]]
    assert max(first_two) < took - 1.0, (handed, took)  # handed on well before the landing ended
    assert [landed for landed, _ in dumps] == [landing.dumps]
    assert dumps[0][1] < took - 1.0
