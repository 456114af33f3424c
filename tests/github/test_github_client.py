"""The GitHub client against the emulator: token pool, rate limits, retries, 401, pagination."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.http import DEFAULT_TIMEOUT, make_retry, make_session
from emulators import github as emulator
from emulators.github_data import generate_org
from jobs.github_contributors.client import GitHubClient

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gh")
    generate_org(root, "acme", repos=12, commits=900, seed=3)
    return root


def test_sleeps_until_reset_when_every_token_is_exhausted(server: emulator.EmulatorServer) -> None:
    server.set_budget("tok-a", 0, reset_in=30)
    server.set_budget("tok-b", 0, reset_in=40)
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        # Time passes: both windows reset.
        server.set_budget("tok-a", 5000, reset_in=3600)
        server.set_budget("tok-b", 5000, reset_in=3600)

    client = GitHubClient(server.url, ["tok-a", "tok-b"], sleep=fake_sleep)
    resp = client.get("orgs/acme/repos", params={"per_page": 5})
    assert resp.status_code == 200
    assert len(slept) == 1
    assert 29 <= slept[0] <= 32  # until the earliest reset (+1 s margin)
    assert client.stats.rate_limit_waits == 1


def test_switches_to_a_token_with_budget_without_sleeping(server: emulator.EmulatorServer) -> None:
    server.set_budget("tok-a", 0, reset_in=600)
    slept: list[float] = []
    client = GitHubClient(server.url, ["tok-a", "tok-b"], sleep=slept.append)
    for _ in range(3):
        assert client.get("orgs/acme").status_code == 200
    assert slept == []
    assert server.budgets["tok-b"].used == 3
    assert server.budgets["tok-a"].used == 0
    # After the first exhausted answer, the client no longer tries tok-a.
    assert server.stats()["by_status"].get(403, 0) <= 1


def test_picks_the_token_with_most_remaining(server: emulator.EmulatorServer) -> None:
    server.set_budget("tok-a", 10, reset_in=600)
    server.set_budget("tok-b", 500, reset_in=600)
    client = GitHubClient(server.url, ["tok-a", "tok-b"])
    client.get("orgs/acme")  # learns tok-a's budget (first pick is the first unknown)
    client.get("orgs/acme")
    client.get("orgs/acme")
    assert server.budgets["tok-b"].used >= 2


def test_unknown_token_fails_fast_without_printing_it(server: emulator.EmulatorServer) -> None:
    client = GitHubClient(server.url, ["secret-value-123"])
    with pytest.raises(ConfigError) as info:
        client.get("orgs/acme")
    message = str(info.value)
    assert "GITHUB_TOKEN" in message and "401" in message
    assert "secret-value-123" not in message
    assert server.stats()["requests"] == 1


def test_secondary_limit_honours_retry_after(server: emulator.EmulatorServer) -> None:
    server.set_faults(secondary_rate=1.0, retry_after=7, secondary_status=429)
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        server.set_faults(secondary_rate=0.0)

    client = GitHubClient(server.url, ["tok-a"], sleep=fake_sleep)
    started = time.monotonic()
    assert client.get("orgs/acme").status_code == 200
    assert time.monotonic() - started < 3  # the only wait is the injected one
    assert len(slept) == 1 and 7 <= slept[0] <= 8.5
    assert client.stats.secondary_waits == 1
    assert server.stats()["requests"] == 2  # the 429, then the answer after the wait


@pytest.mark.parametrize("status", [403, 429])
def test_session_hands_rate_limit_answers_back_at_once(server: emulator.EmulatorServer, status: int) -> None:
    """urllib3 must neither retry nor sleep on a rate-limit answer: that is the client's call."""
    server.set_faults(secondary_rate=1.0, retry_after=7, secondary_status=status)
    session = make_session()
    started = time.monotonic()
    resp = session.get(
        f"{server.url}/orgs/acme", headers={"Authorization": "Bearer tok-a"}, timeout=DEFAULT_TIMEOUT
    )
    assert resp.status_code == status and resp.headers["retry-after"] == "7"
    assert time.monotonic() - started < 2
    assert server.stats()["requests"] == 1


def test_session_retries_5xx_a_bounded_number_of_times(server: emulator.EmulatorServer) -> None:
    server.set_faults(error_rate=1.0)
    session = make_session(total_retries=2, backoff=0.01)
    resp = session.get(
        f"{server.url}/orgs/acme", headers={"Authorization": "Bearer tok-a"}, timeout=DEFAULT_TIMEOUT
    )
    assert resp.status_code == 502
    assert server.stats()["requests"] == 3  # the first try and two retries


def test_rate_limit_statuses_cannot_be_made_retryable() -> None:
    with pytest.raises(ValueError, match="429"):
        make_retry(statuses=frozenset({429, 503}))


def test_5xx_and_dropped_connections_are_retried(server: emulator.EmulatorServer) -> None:
    server.set_faults(error_rate=0.25, drop_rate=0.15)
    client = GitHubClient(server.url, ["tok-a"], backoff=0.01)
    names = [repo["name"] for page in client.paginate("orgs/acme/repos", {"per_page": 1}) for repo in page]
    assert len(names) == 12 and len(set(names)) == 12
    assert client.stats.retries > 0
    assert client.stats.requests == server.stats()["requests"]


def test_304_is_free_and_pagination_follows_link(server: emulator.EmulatorServer) -> None:
    client = GitHubClient(server.url, ["tok-a"])
    first = client.get("orgs/acme/repos", params={"per_page": 100})
    repo = next(r["name"] for r in first.json() if r["name"] not in ("alpha", "beta"))
    page = client.get(f"repos/acme/{repo}/commits", params={"per_page": 100})
    etag = page.headers["ETag"]
    used = server.budgets["tok-a"].used
    again = client.get(f"repos/acme/{repo}/commits", params={"per_page": 100}, etag=etag)
    assert again.status_code == 304
    assert server.budgets["tok-a"].used == used
    assert client.stats.not_modified == 1
    assert client.get("repos/acme/alpha/commits").status_code == 409
    assert client.get("repos/acme/beta/commits").status_code == 404


def test_real_clock_sleep_is_short_when_reset_is_near(server: emulator.EmulatorServer) -> None:
    server.set_budget("tok-a", 0, reset_in=1)
    client = GitHubClient(server.url, ["tok-a"])
    started = time.monotonic()
    assert client.get("orgs/acme").status_code == 200
    assert 0.5 <= time.monotonic() - started <= 4
    assert client.stats.rate_limit_waits == 1
