"""The job end to end against the emulator, MinIO and the MongoDB-protocol server, run twice;
and its failing-dependency paths (bounded retries, one line, non-zero exit)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from common.errors import SourceError
from common.settings import Settings, load_settings
from common.storage import RawStore, lake_path, s3_client
from common.tables import DATAGOUV_TOP_FIELDS, DATAGOUV_TOPS
from emulators import datagouv as emulator
from emulators.datagouv_data import expected_tops, generate_demo, matching_records, parse_csv_text
from jobs.datagouv_catalog.extract import land_exports
from jobs.datagouv_catalog.job import run

PROJECT = Path(__file__).resolve().parents[2]
SIX = DATAGOUV_TOP_FIELDS


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("datagouv")
    generate_demo(root)
    return root


@pytest.fixture
def source(catalogue: Path) -> Iterator[emulator.EmulatorServer]:
    server = emulator.start(catalogue)
    yield server
    server.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _docs(mongo_uri: str, database: str, run_date: str) -> list[dict[str, Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        return list(client[database]["tops"].find({"run_date": run_date}, {"_id": 0}))
    finally:
        client.close()


def _object(settings: Settings, bucket: str, key: str) -> bytes:
    return bytes(s3_client(settings).get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.mark.e2e
@pytest.mark.integration
def test_job_twice_same_outputs_other_dates_untouched(  # noqa: PLR0917 - fixtures
    spark: Any,
    s3_lake: Settings,
    source: emulator.EmulatorServer,
    catalogue: Path,
    mongo_uri: str,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATAGOUV_API_URL", source.api_url)
    monkeypatch.setenv("DATAGOUV_BUCKET", f"dg-{unique_name}")
    settings = load_settings()
    database = f"dg_{unique_name}"
    run_date, other_date = "2026-01-07", "2025-12-31"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    coll = client[database]["tops"]
    coll.insert_one({"run_date": other_date, "dataset_id": "keep-me", "title": "t"})

    source.set_faults(fail_next=2)  # a transient outage: retried, then fine
    first = run(settings, run_date, mongo_uri=mongo_uri, database=database, spark=spark)
    expected = expected_tops(catalogue, run_date)
    assert first.tops == len(expected) > 0
    body_1 = _object(settings, settings.datagouv_bucket, f"{run_date}/datasets.csv")
    assert parse_csv_text(body_1.decode("utf-8")) == matching_records(catalogue)
    assert b"\r\n" in body_1 and body_1.startswith(b'"id";"title";')

    docs_1 = _docs(mongo_uri, database, run_date)
    key = lambda d: d["dataset_id"]  # noqa: E731
    assert sorted(({k: d[k] for k in SIX} for d in docs_1), key=key) == sorted(expected, key=key)
    assert all(d["run_date"] == run_date and isinstance(d["dataset_followers"], int) for d in docs_1)

    # A stale document of this run date (e.g. a dataset gone since) must not survive the rerun.
    coll.insert_one({"run_date": run_date, "dataset_id": "stale", "title": "old"})
    second = run(settings, run_date, mongo_uri=mongo_uri, database=database, spark=spark)
    assert second.tops == first.tops and second.matching == first.matching
    assert _object(settings, settings.datagouv_bucket, f"{run_date}/datasets.csv") == body_1
    docs_2 = _docs(mongo_uri, database, run_date)
    assert sorted(docs_2, key=key) == sorted(docs_1, key=key)
    assert coll.count_documents({"run_date": run_date}) == len(expected)
    assert coll.count_documents({"run_date": other_date}) == 1
    names = {i["name"] for i in coll.list_indexes()}
    assert "run_date_dataset_id" in names

    table = spark.read.format("delta").load(lake_path(settings, DATAGOUV_TOPS.path))
    rows = [r.asDict() for r in table.filter(f"run_date = '{run_date}'").collect()]
    assert sorted(({k: r[k] for k in SIX} for r in rows), key=key) == sorted(expected, key=key)
    objects = s3_client(settings).list_objects_v2(Bucket=settings.datagouv_bucket)["Contents"]
    assert [o["Key"] for o in objects] == [f"{run_date}/datasets.csv"]
    client.drop_database(database)
    client.close()
    s3 = s3_client(settings)
    s3.delete_object(Bucket=settings.datagouv_bucket, Key=f"{run_date}/datasets.csv")
    s3.delete_bucket(Bucket=settings.datagouv_bucket)


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "jobs.datagouv_catalog", *args],
        cwd=PROJECT,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("datagouv_catalog: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.integration
def test_minio_down_fails_with_one_line(tmp_path: Path, mongo_uri: str) -> None:
    env = {
        "LAKE_ROOT": str(tmp_path / "lake"),
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "MONGO_URI": mongo_uri,
    }
    proc = _run_cli(env, "--run-date", "2026-01-07")
    assert proc.returncode == 1
    assert "S3_ENDPOINT_URL" in _error_line(proc)


@pytest.mark.integration
def test_mongo_down_fails_with_one_line(tmp_path: Path, minio: dict[str, str], unique_name: str) -> None:
    env = {
        **minio,
        "DATAGOUV_BUCKET": f"dg-{unique_name}",
        "LAKE_ROOT": str(tmp_path / "lake"),
        "MONGO_URI": f"mongodb://127.0.0.1:{_closed_port()}",
    }
    proc = _run_cli(env, "--run-date", "2026-01-07")
    assert proc.returncode == 1
    assert "MongoDB unreachable" in _error_line(proc)


@pytest.mark.integration
def test_source_5xx_fails_with_one_line(
    tmp_path: Path, minio: dict[str, str], mongo_uri: str, source: emulator.EmulatorServer, unique_name: str
) -> None:
    source.set_faults(error_status=503)
    env = {
        **minio,
        "DATAGOUV_BUCKET": f"dg-{unique_name}",
        "LAKE_ROOT": str(tmp_path / "lake"),
        "MONGO_URI": mongo_uri,
        "DATAGOUV_API_URL": source.api_url,
    }
    proc = _run_cli(env, "--run-date", "2026-01-07")
    assert proc.returncode == 1
    line = _error_line(proc)
    assert "export unavailable" in line and "503" in line
    assert source.counters.requests > 3  # retried, but a bounded number of times
    assert not (tmp_path / "lake" / "raw" / "datagouv" / "2026-01-07" / "datasets.csv").exists()


@pytest.mark.integration
def test_truncated_download_is_retried_then_refused(
    local_lake: Settings, source: emulator.EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source.set_faults(truncate=True)
    monkeypatch.setenv("DATAGOUV_API_URL", source.api_url)
    with pytest.raises(SourceError, match="truncated"):
        land_exports(load_settings(), "2026-01-07", tmp_path)
    assert RawStore(local_lake, "raw", "datagouv", "2026-01-07").size("datasets.csv") is None


@pytest.mark.integration
def test_api_down_falls_back_to_stable_urls(
    local_lake: Settings,
    source: emulator.EmulatorServer,
    catalogue: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    source.set_faults(api_down=True)
    monkeypatch.setenv("DATAGOUV_API_URL", source.api_url)
    landed = land_exports(load_settings(), "2026-01-07", tmp_path)
    assert Path(landed.datasets).read_bytes() == (catalogue / "export-dataset.csv").read_bytes()
    assert Path(landed.organizations).read_bytes() == (catalogue / "export-organization.csv").read_bytes()
    # A second landing of the same run date reuses the files (no request at all).
    before = source.counters.requests
    assert land_exports(load_settings(), "2026-01-07", tmp_path).downloaded_bytes == 0
    assert source.counters.requests == before


@pytest.mark.integration
def test_missing_required_column_fails_naming_it(  # noqa: PLR0917 - fixtures
    spark: Any,
    local_lake: Settings,
    minio: dict[str, str],
    mongo_uri: str,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "no-tags"
    generate_demo(root)
    path = root / "export-dataset.csv"
    path.write_bytes(path.read_bytes().replace(b'"tags"', b'"keywords"', 1))
    server = emulator.start(root)
    try:
        for key, value in {
            **minio,
            "DATAGOUV_API_URL": server.api_url,
            "DATAGOUV_BUCKET": f"dg-{unique_name}",
        }.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(SourceError, match="lacks the required column 'tags'"):
            run(load_settings(), "2026-01-07", mongo_uri=mongo_uri, database=f"dg_{unique_name}", spark=spark)
    finally:
        server.stop()
