"""Pacing (issue 29): the per-token budget kept before sending, its shares, the client's reactions."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from common.errors import SourceError
from common.settings import load_settings
from emulators import github as emulator
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.pacing import Budget, Pacer, most_partitions, shares

pytestmark = pytest.mark.unit


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u < t + window) for i, t in enumerate(times))


def test_points_never_exceed_the_window() -> None:
    pacer = Pacer(Budget(concurrent=10, points=5, seconds=100, window=0.5))
    sent: list[float] = []
    started = time.monotonic()
    for _ in range(12):
        reserved, _ = pacer.acquire()
        sent.append(time.monotonic())
        pacer.release(reserved, 0.001)
    assert max_in_window(sent, 0.5) <= 5
    assert time.monotonic() - started >= 1.0  # 12 points at 5 per half second: two full waits
    assert pacer.waits >= 2 and pacer.requests == 12


def test_concurrency_is_a_semaphore() -> None:
    pacer = Pacer(Budget(concurrent=3, points=1000, seconds=1000, window=1.0))
    busy, peak = 0, 0
    lock = threading.Lock()

    def one() -> None:
        nonlocal busy, peak
        reserved, _ = pacer.acquire()
        with lock:
            busy += 1
            peak = max(peak, busy)
        time.sleep(0.05)
        with lock:
            busy -= 1
        pacer.release(reserved, 0.05)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 3


def test_response_time_budget_counts_what_is_in_flight() -> None:
    """0.5 s of answers per 1 s window, answers of 0.2 s: at most two sent before the first ends."""
    pacer = Pacer(Budget(concurrent=10, points=1000, seconds=0.5, window=1.0))
    reserved, _ = pacer.acquire()
    pacer.release(reserved, 0.2)  # the expected answer time is now 0.2 s
    reservations = [pacer.acquire()[0] for _ in range(1)]  # 0.2 ended + 0.2 in flight + 0.2 > 0.5?
    assert pacer.ready_in() > 0  # 0.2 + 0.2 + 0.2 = 0.6 > 0.5: the next one must wait
    for reserved in reservations:
        pacer.release(reserved, 0.2)
    started = time.monotonic()
    reserved, waited = pacer.acquire()
    assert waited > 0.5 and time.monotonic() - started > 0.5  # until the first answer left the window
    pacer.release(reserved, 0.2)


def test_shares_add_up_to_the_budget() -> None:
    budget = Budget()
    plan = shares(1, 3, budget)
    assert [[t for t, _ in p] for p in plan] == [[0], [0], [0]]
    assert sum(p[0][1].concurrent for p in plan) == 100
    assert sum(p[0][1].points for p in plan) == pytest.approx(900)
    assert sum(p[0][1].seconds for p in plan) == pytest.approx(90)
    assert all(p[0][1].fraction == pytest.approx(1 / 3) for p in plan)
    # Every partition holds a share of every token (a dry token is skipped, the others go on).
    two = shares(2, 4, budget)
    assert [[(t, b.fraction) for t, b in p] for p in two] == [[(0, 0.25), (1, 0.25)]] * 4
    for token in (0, 1):
        assert sum(b.concurrent for p in two for t, b in p if t == token) == 100
    assert most_partitions(Budget(concurrent=3)) == 3


def test_a_shorter_window_keeps_a_part_of_the_minute() -> None:
    budget = Budget.per_minute(100, 900, 90, window=6)
    assert (budget.points, budget.seconds, budget.window) == (90, 9, 6)
    assert Budget.per_minute(100, 900, 90, window=7).points == 100  # 9 windows of 7 s cover 60 s


def test_a_share_starts_from_its_part_of_the_driver_history() -> None:
    driver = Pacer(Budget(points=10, window=30))
    for _ in range(8):
        reserved, _ = driver.acquire()
        driver.release(reserved, 0.01)
    half = Pacer(Budget(points=10, window=30).share(0, 2))  # 5 points
    half.preload(driver.history(), 0.5)  # 4 of them spent already
    reserved, waited = half.acquire()
    assert waited < 0.1
    half.release(reserved, 0.01)
    assert half.ready_in() > 20  # the sixth point of the window waits for the driver's to leave


def test_settings_may_only_lower_the_budgets() -> None:
    settings = load_settings()
    assert (settings.github_max_concurrent, settings.github_points_per_minute) == (100, 900)
    assert settings.github_response_seconds_per_minute == 90
    assert load_settings(github_points_per_minute=300).github_points_per_minute == 300
    with pytest.raises(Exception, match="GITHUB_POINTS_PER_MINUTE"):
        load_settings(github_points_per_minute=1000)


# --- the client against the emulator --------------------------------------------------------------


def test_a_secondary_answer_is_honoured_until_retry_after(server: emulator.EmulatorServer) -> None:
    """The emulator's limit is below the client's budget: the answer is a secondary 403, and
    nothing more is asked with that token before its retry-after."""
    server.set_faults(secondary_points=3, secondary_window=1.0, secondary_penalty=2)
    client = GitHubClient(server.url, ["tok-a"])
    started = time.monotonic()
    for _ in range(5):
        assert client.get("orgs/acme").status_code == 200
    assert time.monotonic() - started >= 2.0
    secondary = server.stats()["secondary"]
    assert secondary["answers"] == 1 and secondary["during_penalty"] == 0
    counts = client.stats.as_dict()
    assert counts["secondary_waits"] == 1 and counts["token1_secondary"] == 1
    assert counts["token1_requests"] == 6


def test_a_refused_token_rests_while_the_others_go_on(server: emulator.EmulatorServer) -> None:
    server.set_faults(secondary_points=1, secondary_penalty=30)
    headers = {"Authorization": "Bearer tok-a"}
    for _ in range(2):  # tok-a is penalised for 30 s
        requests.get(f"{server.url}/orgs/acme", headers=headers, timeout=5)
    slept: list[float] = []
    client = GitHubClient(server.url, ["tok-a", "tok-b"], sleep=slept.append)
    server.reset_counters()
    server.set_faults(secondary_points=1000)  # the penalty goes on
    for _ in range(4):
        assert client.get("orgs/acme").status_code == 200
    assert slept == []
    tokens = server.stats()["secondary"]["tokens"]
    # One request learnt that tok-a is refused; none followed on it.
    assert tokens["tok-a"]["during_penalty"] == 1
    assert client.stats.as_dict()["token2_requests"] == 4


def test_total_secondary_wait_past_the_setting_ends_with_one_line(server: emulator.EmulatorServer) -> None:
    server.set_faults(secondary_rate=1.0, retry_after=5)
    client = GitHubClient(server.url, ["tok-b", "tok-a"], secondary_wait_limit=3.0)
    with pytest.raises(SourceError) as info:
        client.get("orgs/acme")
    message = str(info.value)
    assert "\n" not in message and "tok-" not in message
    assert "pool entry 1 of 2" in message and "GITHUB_SECONDARY_WAIT_SECONDS" in message
