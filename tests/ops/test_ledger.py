"""The run ledger (common.ledger) through the jobs' entry wrapper, without Spark: records, stages,
failures, a lake that is down, a SIGKILLed run marked abandoned by the next one, no secret."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from common import ledger
from common.cli import add_settings_flags, run_job
from common.errors import SourceError
from common.lease import LeaseHeldError
from common.runner import JobRun
from common.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _args(lake: str, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--org", default="acme")
    add_settings_flags(parser)
    return parser.parse_args(["--lake-root", lake, *extra])


def _records(lake: str, job: str | None = None) -> list[dict]:
    return ledger.LedgerStore(load_settings(lake_root=lake)).records(job)


@pytest.mark.integration
def test_a_successful_run_leaves_one_succeeded_record_with_stages_and_inputs(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")

    def main(job: JobRun) -> int:
        with job.stage("extract"):
            time.sleep(0.05)
        with job.stage("extract"):  # a stage entered twice adds up
            time.sleep(0.05)
        job.record_input("repositories", {"count": 3, "not_modified_share": 0.5})
        job.record_output("s3://bucket/2026-01-01/datasets.csv", 7)
        return 0

    assert run_job("github_contributors", main, _args(lake)) == 0
    [record] = _records(lake)
    assert record["status"] == "succeeded" and record["job"] == "github_contributors"
    assert record["error"] is None
    assert record["args"] == {"org": "acme"}  # settings flags are recorded as settings, not args
    assert record["settings"]["lake_root"] == lake
    assert record["stages"]["extract"] >= 0.1
    assert record["inputs"]["repositories"] == {"count": 3, "not_modified_share": 0.5}
    assert record["outputs"]["s3://bucket/2026-01-01/datasets.csv"] == {"rows": 7, "version": None}
    assert record["started_at"] <= record["finished_at"]
    assert record["started_at"].utcoffset().total_seconds() == 0
    assert record["duration_seconds"] >= 0.1
    assert record["version"]
    # Two rows in the log (running, then the final one); one record.
    raw = ledger.LedgerStore(load_settings(lake_root=lake)).read().to_pylist()
    assert sorted(r["status"] for r in raw) == ["running", "succeeded"]


@pytest.mark.integration
def test_a_failed_run_records_its_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = str(tmp_path / "lake")

    def main(job: JobRun) -> int:
        with job.stage("crawl"):
            raise SourceError("GitHub answered 502 five times for /orgs/acme/repos")

    assert run_job("github_contributors", main, _args(lake)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "github_contributors: error: GitHub answered 502 five times for /orgs/acme/repos"
    [record] = _records(lake)
    assert record["status"] == "failed"
    assert record["error"] == "GitHub answered 502 five times for /orgs/acme/repos"
    assert "crawl" in record["stages"]  # the failing stage's time still counts


@pytest.mark.integration
def test_a_bug_is_recorded_as_failed_with_the_exception_name(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")

    def main(job: JobRun) -> int:
        return {}["missing"]  # type: ignore[no-any-return]

    assert run_job("datagouv_catalog", main, _args(lake)) == 1
    [record] = _records(lake, "datagouv_catalog")
    assert record["status"] == "failed" and record["error"].startswith("KeyError:")


@pytest.mark.integration
def test_lake_down_fails_the_run_with_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An S3 lake on a port nobody listens on.
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-key-1234")
    worked = []
    started = time.monotonic()
    code = run_job("wikimedia_pageviews", lambda job: worked.append(1) or 0, _args("s3a://lake/prefix"))
    assert code == 1 and not worked
    assert time.monotonic() - started < 60
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    # The lake is checked before the ledger is read: the line names the setting and the endpoint.
    assert err[0].startswith("wikimedia_pageviews: error: S3_ENDPOINT_URL: cannot reach http://127.0.0.1:9")
    assert "very-secret-key-1234" not in err[0]


@pytest.mark.integration
def test_a_lake_bucket_that_does_not_exist_is_created_not_a_generic_s3_error(
    minio: dict[str, str], unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in minio.items():
        monkeypatch.setenv(key, value)
    bucket = f"lake-{unique_name}"
    code = run_job("wikimedia_pageviews", lambda job: 0, _args(f"s3a://{bucket}/prefix"))
    assert code == 0
    settings = load_settings(lake_root=f"s3a://{bucket}/prefix")
    (record,) = ledger.LedgerStore(settings).records()
    assert record["status"] == ledger.SUCCEEDED


_KILLABLE = textwrap.dedent(
    """
    import argparse, sys, time
    from common.cli import add_settings_flags, run_job

    parser = argparse.ArgumentParser()
    add_settings_flags(parser)
    args = parser.parse_args(sys.argv[1:])

    def main(job) -> int:
        with job.stage("forever"):
            print("started", flush=True)
            time.sleep(600)
        return 0

    raise SystemExit(run_job("wikimedia_pageviews", main, args))
    """
)


@pytest.mark.integration
def test_sigkilled_run_is_marked_abandoned_by_the_next_run_of_the_job(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    script = tmp_path / "killable.py"
    script.write_text(_KILLABLE)
    proc = subprocess.Popen(
        [sys.executable, str(script), "--lake-root", lake],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    [killed] = _records(lake)
    assert killed["status"] == "running" and killed["pid"] == proc.pid

    # Another job's run leaves it alone; the next run of the same job marks it abandoned.
    assert run_job("datagouv_catalog", lambda job: 0, _args(lake)) == 0
    assert _records(lake, "wikimedia_pageviews")[0]["status"] == "running"
    assert run_job("wikimedia_pageviews", lambda job: 0, _args(lake)) == 0
    latest, earlier = _records(lake, "wikimedia_pageviews")
    assert latest["status"] == "succeeded"
    assert earlier["run_id"] == killed["run_id"] and earlier["status"] == "abandoned"
    assert latest["run_id"] in earlier["error"]


@pytest.mark.integration
def test_a_live_run_of_the_same_job_is_neither_abandoned_nor_joined(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    settings = load_settings(lake_root=lake)
    alive = ledger.open_run("wikimedia_pageviews", settings, {})  # this very process: alive
    with pytest.raises(LeaseHeldError, match=alive.run_id):
        ledger.open_run("wikimedia_pageviews", settings, {})
    statuses = {r["run_id"]: r["status"] for r in _records(lake)}
    assert statuses == {alive.run_id: "running"}
    ledger.close_run(alive, None)


@pytest.mark.unit
def test_settings_and_args_never_hold_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    settings: Settings = load_settings(
        lake_root="s3a://lake/p",
        s3_endpoint_url="http://minio:9000",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="s3-secret-value",
        github_token="ghp_" + "a" * 36 + ",second-token-value",
        mongo_uri="mongodb://user:mongo-password@db:27017/x",
    )
    snapshot = json.dumps(ledger.settings_snapshot(settings))
    args = argparse.Namespace(
        org="acme", mongo_uri="mongodb://user:mongo-password@db:27017", note="token second-token-value"
    )
    recorded = json.dumps(ledger.args_snapshot(args, ("mongo_uri",)))
    for secret in ("s3-secret-value", "a" * 36, "second-token-value", "mongo-password"):
        assert secret not in snapshot and secret not in recorded
    assert json.loads(snapshot)["mongo_uri"] == "mongodb://db:27017/x"
    assert json.loads(snapshot)["github_tokens"] == 2


@pytest.mark.unit
def test_latest_records_take_the_final_row_of_each_run() -> None:
    from datetime import UTC, datetime

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    base = {"job": "j", "args": "{}", "settings": "{}", "stages": "{}", "inputs": "{}", "outputs": "{}"}
    rows = [
        {**base, "run_id": "a", "status": "running", "recorded_at": t0, "started_at": t0},
        {**base, "run_id": "a", "status": "succeeded", "recorded_at": t0, "started_at": t0},
        {**base, "run_id": "b", "status": "running", "recorded_at": t1, "started_at": t1},
    ]
    records = ledger.latest_records(rows)
    assert [(r["run_id"], r["status"]) for r in records] == [("b", "running"), ("a", "succeeded")]
    assert ledger.latest_records(rows, "other") == []


@pytest.mark.integration
def test_runs_recording_at_once_on_a_new_lake_all_land(tmp_path: Path) -> None:
    """Jobs started together on a new lake all create `ops/runs` at once (seen on Kubernetes):
    the commits that lose the race are made again, so every row lands."""
    import threading

    settings = load_settings(lake_root=str(tmp_path / "lake"))
    store = ledger.LedgerStore(settings)
    rows = [
        ledger.Run("github_contributors", settings, {}, run_id=f"run-{i}").row("running") for i in range(6)
    ]
    barrier = threading.Barrier(len(rows))
    errors: list[BaseException] = []

    def append(row: dict) -> None:
        barrier.wait()
        try:
            store.append([row])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(row,)) for row in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r["run_id"] for r in store.read().to_pylist()) == [f"run-{i}" for i in range(6)]


@pytest.mark.integration
def test_a_final_row_the_lake_refuses_is_kept_and_appended_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lake fails between a run's start and its end (an outage): its cause is not lost, and
    the next run does not call it abandoned."""
    monkeypatch.setattr(ledger, "SPOOL_DIR", tmp_path / "spool")
    lake = tmp_path / "lake"
    runs = lake / "ops" / "runs"

    def main(job: JobRun) -> int:
        runs.rename(tmp_path / "runs-away")  # the ledger's table is gone for the rest of the run
        runs.write_text("not a table")
        raise SourceError("S3_ENDPOINT_URL: cannot reach http://127.0.0.1:9000")

    assert run_job("datagouv_catalog", main, _args(str(lake))) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "datagouv_catalog: error: S3_ENDPOINT_URL: cannot reach http://127.0.0.1:9000"
    )
    assert len(list((tmp_path / "spool").glob("*.json"))) == 1
    runs.unlink()
    (tmp_path / "runs-away").rename(runs)  # the lake is back

    assert run_job("datagouv_catalog", lambda job: 0, _args(str(lake))) == 0
    latest, earlier = _records(str(lake), "datagouv_catalog")
    assert latest["status"] == "succeeded"
    assert earlier["status"] == "failed"
    assert earlier["error"] == "S3_ENDPOINT_URL: cannot reach http://127.0.0.1:9000"
    assert earlier["finished_at"].utcoffset().total_seconds() == 0
    assert list((tmp_path / "spool").glob("*.json")) == []
