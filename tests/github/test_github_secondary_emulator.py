"""The emulator's secondary limits (issue 29): each kind triggers as GitHub documents, then the penalty."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from emulators import github as emulator

pytestmark = pytest.mark.unit


def ask(server: emulator.EmulatorServer, token: str = "tok-a") -> requests.Response:
    return requests.get(f"{server.url}/orgs/acme", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def assert_secondary(resp: requests.Response) -> None:
    assert resp.status_code == 403
    assert "secondary rate limit" in resp.json()["message"]
    assert resp.headers["x-ratelimit-remaining"] != "0"
    assert int(resp.headers["retry-after"]) >= 1


def test_off_by_default(server: emulator.EmulatorServer) -> None:
    for _ in range(50):
        assert ask(server).status_code == 200
    assert server.stats()["secondary"]["answers"] == 0


def test_points_over_the_window_then_the_penalty_counts_requests(server: emulator.EmulatorServer) -> None:
    server.set_faults(secondary_points=5, secondary_window=60.0, secondary_penalty=30)
    assert [ask(server).status_code for _ in range(5)] == [200] * 5
    first = ask(server)
    assert_secondary(first)
    assert 29 <= int(first.headers["retry-after"]) <= 30
    # Refused until the penalty ends, each request counted; other tokens are not concerned.
    for _ in range(3):
        assert_secondary(ask(server))
    assert ask(server, "tok-b").status_code == 200
    stats = server.stats()["secondary"]
    assert stats["answers"] == 4 and stats["during_penalty"] == 3
    assert stats["tokens"]["tok-a"]["by_limit"] == {"points": 1, "penalty": 3}
    assert stats["tokens"]["tok-a"]["peak_points"] == 5


def test_penalty_ends_and_the_window_slides(server: emulator.EmulatorServer) -> None:
    server.set_faults(secondary_points=2, secondary_window=1.0, secondary_penalty=1)
    assert [ask(server).status_code for _ in range(2)] == [200, 200]
    assert_secondary(ask(server))
    time.sleep(1.2)  # the penalty is over and the two points left the window
    assert ask(server).status_code == 200
    assert server.stats()["secondary"]["during_penalty"] == 0


def test_concurrent_requests(server: emulator.EmulatorServer) -> None:
    server.set_faults(secondary_concurrent=2, latency=0.4, secondary_penalty=5)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        status = ask(server).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.15)  # both in flight
    third = ask(server)
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200]
    assert_secondary(third)
    token = server.stats()["secondary"]["tokens"]["tok-a"]
    assert token["by_limit"] == {"concurrent": 1} and token["peak_concurrent"] == 2


def test_response_time_over_the_window(server: emulator.EmulatorServer) -> None:
    server.set_faults(secondary_seconds=0.5, latency=0.3, secondary_penalty=5)
    assert ask(server).status_code == 200  # 0.3 s of the 0.5
    assert ask(server).status_code == 200  # 0.3 s spent when it arrived: under the limit
    assert_secondary(ask(server))  # 0.6 s over the window
    token = server.stats()["secondary"]["tokens"]["tok-a"]
    assert token["by_limit"] == {"seconds": 1}
    assert 0.6 <= token["peak_seconds"] < 1.0


def test_limits_switch_on_at_runtime_through_the_control_endpoint(server: emulator.EmulatorServer) -> None:
    requests.get(f"{server.url}/_emulator/faults?secondary_points=1&secondary_penalty=9", timeout=5)
    assert ask(server).status_code == 200
    resp = ask(server)
    assert_secondary(resp)
    assert resp.headers["retry-after"] == "9"
    stats = requests.get(f"{server.url}/_emulator/stats", timeout=5).json()
    assert stats["secondary"]["answers"] == 1
