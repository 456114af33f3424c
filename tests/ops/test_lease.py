"""One run of a job per lake at a time (common.lease), on a local lake and on MinIO."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common import ledger
from common.cli import add_settings_flags, run_job
from common.lease import LeaseHeldError, _backend, acquire
from common.settings import Settings, load_settings

JOB = "wikimedia_pageviews"


def _args(lake: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_settings_flags(parser)
    return parser.parse_args(["--lake-root", lake])


def _second_run_is_refused_while_the_first_holds(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ledger.open_run(JOB, settings, {})
    try:
        worked: list[int] = []
        code = run_job(JOB, lambda job: worked.append(1) or 0, _args(settings.lake_root))
        assert code == 1 and not worked
        err = capsys.readouterr().err.strip().splitlines()
        (line,) = [e for e in err if e.startswith(f"{JOB}: error:")]
        started = f"{first.started_at:%Y-%m-%dT%H:%M:%SZ}"
        assert line.startswith(f"{JOB}: error: another run of {JOB} holds this lake: run {first.run_id}")
        assert f"started {started}" in line
    finally:
        ledger.close_run(first, None)
    assert run_job(JOB, lambda job: 0, _args(settings.lake_root)) == 0  # released at the end


def test_a_second_run_on_a_local_lake_stops_at_once_naming_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _second_run_is_refused_while_the_first_holds(load_settings(lake_root=str(tmp_path / "lake")), capsys)


@pytest.mark.integration
def test_a_second_run_on_minio_stops_at_once_naming_the_first(
    s3_lake: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    _second_run_is_refused_while_the_first_holds(s3_lake, capsys)


def _plant(settings: Settings, host: str, renewed_ago: float) -> None:
    renewed = (datetime.now(UTC) - timedelta(seconds=renewed_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"job": JOB, "run_id": "r-elsewhere", "started_at": renewed, "renewed_at": renewed, "host": host}
    assert _backend(settings, JOB).create(body) is not None


def test_a_lease_from_another_host_is_waited_for_until_it_expires(tmp_path: Path) -> None:
    settings = load_settings(lake_root=str(tmp_path / "lake"), lease_ttl_seconds=60)
    _plant(settings, "another-host", renewed_ago=5)
    with pytest.raises(LeaseHeldError, match="run r-elsewhere"):
        acquire(settings, JOB, "r-mine")


def test_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    settings = load_settings(lake_root=str(tmp_path / "lake"), lease_ttl_seconds=60)
    _plant(settings, "another-host", renewed_ago=120)
    lease = acquire(settings, JOB, "r-mine")
    try:
        held, _ = _backend(settings, JOB).read() or ({}, "")
        assert held["run_id"] == "r-mine"
    finally:
        lease.release()
    assert _backend(settings, JOB).read() is None


def test_a_held_lease_is_renewed(tmp_path: Path) -> None:
    settings = load_settings(lake_root=str(tmp_path / "lake"), lease_ttl_seconds=4)
    lease = acquire(settings, JOB, "r-mine")
    try:
        first = lease.body["renewed_at"]
        time.sleep(2.5)
        held = json.loads((tmp_path / "lake" / "_leases" / f"{JOB}.json").read_text())
        assert held["run_id"] == "r-mine" and held["renewed_at"] > first
        assert not lease.lost
    finally:
        lease.release()
