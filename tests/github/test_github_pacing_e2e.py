"""The job against an emulator enforcing secondary limits (issue 29): paced, never refused.

The limits are GitHub's kinds at small values over a short window (GitHub's is 60 s), so a test
crawls several windows in seconds: the emulator allows 30 points and 2.25 s of response time per
3 s and 4 concurrent requests per token; the job is told the same budget per minute
(600 points, 45 s, window 3 s: a twentieth of each per window).
"""

from __future__ import annotations

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
from emulators.github_data import expected_series, generate_org
from jobs.github_contributors.job import run
from jobs.github_contributors.pending import PendingStore
from tests.github.test_github_crawl_e2e import series_of

RUN_DATE = date(2026, 11, 22)
ORG = "acme-paced"
WINDOW = 3.0
POINTS = 30  # per window
LIMITS = {
    "latency": 0.05,
    "secondary_points": POINTS,
    "secondary_seconds": 2.25,
    "secondary_concurrent": 4,
    "secondary_window": WINDOW,
    "secondary_penalty": 30,
}


@pytest.fixture(scope="module")
def org_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gh")
    generate_org(root, ORG, repos=8, commits=12000, seed=11)
    return root


@pytest.fixture
def server(org_root: Path) -> Iterator[emulator.EmulatorServer]:
    srv = emulator.start(org_root, tokens=["tok-1", "tok-2", "tok-3"], **LIMITS)
    yield srv
    srv.stop()


def paced(local_lake: Settings, server: emulator.EmulatorServer, tokens: str, **extra: Any) -> Settings:
    return load_settings(
        lake_root=local_lake.lake_root,
        github_api_url=server.url,
        github_token=tokens,
        github_points_per_minute=600,
        github_response_seconds_per_minute=45,
        github_max_concurrent=4,
        github_pacing_window_seconds=WINDOW,
        **extra,
    )


def crawl_seconds(report: Any) -> float:
    return float(report.list_seconds + report.crawl_seconds)


@pytest.mark.e2e
def test_paced_crawl_gets_no_secondary_answer_and_two_tokens_go_twice_as_fast(
    spark: Any, local_lake: Settings, server: emulator.EmulatorServer, org_root: Path
) -> None:
    one = run(spark, paced(local_lake, server, "tok-1"), ORG, RUN_DATE, concurrency=8, progress_seconds=0)
    assert series_of(spark, local_lake, ORG) == expected_series(org_root, ORG, RUN_DATE)
    stats = server.stats()
    assert stats["secondary"]["answers"] == 0 and stats["secondary"]["during_penalty"] == 0
    token = stats["secondary"]["tokens"]["tok-1"]
    assert token["peak_points"] <= POINTS and token["peak_concurrent"] <= 4
    assert token["peak_seconds"] <= LIMITS["secondary_seconds"]
    assert one.requests > 3 * POINTS, "the crawl spans several windows"
    assert one.secondary_answers == 0
    assert one.tokens[1]["requests"] == one.requests and one.tokens[1]["waits"] > 0
    assert "tokens [1: " in one.line() and "secondary-limit answers 0" in one.line()

    # Two other tokens (their windows are fresh), the same org crawled again from scratch.
    server.reset_counters()
    two = run(
        spark,
        paced(local_lake, server, "tok-2,tok-3"),
        ORG,
        RUN_DATE,
        full_refresh=True,
        concurrency=8,
        progress_seconds=0,
    )
    assert series_of(spark, local_lake, ORG) == expected_series(org_root, ORG, RUN_DATE)
    secondary = server.stats()["secondary"]
    assert secondary["answers"] == 0
    assert all(secondary["tokens"][t]["peak_points"] <= POINTS for t in ("tok-2", "tok-3"))
    assert set(two.tokens) == {1, 2} and min(c["requests"] for c in two.tokens.values()) > POINTS
    assert abs(two.requests - one.requests) <= 2
    ratio = crawl_seconds(one) / crawl_seconds(two)
    assert ratio >= 1.4, f"1 token {crawl_seconds(one):.1f}s, 2 tokens {crawl_seconds(two):.1f}s"


@pytest.mark.e2e
def test_a_token_refused_past_the_wait_setting_ends_the_run_then_the_next_resumes(
    spark: Any, local_lake: Settings, server: emulator.EmulatorServer, org_root: Path
) -> None:
    # The emulator's points limit is below the job's budget: an undocumented trigger, as it were.
    server.set_faults(secondary_points=20)
    settings = paced(local_lake, server, "tok-1", github_secondary_wait_seconds=5)
    with pytest.raises(SourceError) as info:
        run(spark, settings, ORG, RUN_DATE, concurrency=8, progress_seconds=0)
    message = str(info.value)
    assert "\n" not in message and "tok-1" not in message
    assert "pool entry 1 of 1" in message and "GITHUB_SECONDARY_WAIT_SECONDS" in message
    assert not Path(lake_path(settings, "github/commits")).exists(), "nothing published"
    landed = PendingStore(settings, ORG).names("items", ".meta.json")
    assert landed, "what the run read before it ended stays landed"
    # Counted during the penalty: only requests already in flight when it began (at most the
    # concurrent budget); none was sent after an answer told of it, and none after the run ended.
    asked = server.stats()["requests"]
    assert server.stats()["secondary"]["during_penalty"] <= LIMITS["secondary_concurrent"]
    time.sleep(1.0)
    assert server.stats()["requests"] == asked

    server.set_faults(secondary_points=None, secondary_seconds=None, secondary_concurrent=None)
    report = run(spark, paced(local_lake, server, "tok-2"), ORG, RUN_DATE, concurrency=8, progress_seconds=0)
    assert report.resumed_items >= len(landed)
    assert series_of(spark, local_lake, ORG) == expected_series(org_root, ORG, RUN_DATE)
