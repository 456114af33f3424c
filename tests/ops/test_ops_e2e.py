"""Ledger and quality gates end to end through the jobs' command lines, on MinIO and the
MongoDB-protocol server: a run's record (outputs with their Delta versions, inputs, no secret), and
a planted defect stopped by its gate with every published output left as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from pymongo import MongoClient

from common import ledger
from common.settings import Settings, load_settings
from common.storage import delta_rs_uri, delta_storage_options, lake_path, s3_client
from common.tables import DATAGOUV_TOPS
from emulators import datagouv as emulator
from emulators.datagouv_data import generate_demo

PROJECT = Path(__file__).resolve().parents[2]
RUN_DATE = "2026-01-07"
pytestmark = [pytest.mark.e2e, pytest.mark.integration]


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


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.datagouv_catalog", *args],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _version(settings: Settings) -> int:
    uri = delta_rs_uri(lake_path(settings, DATAGOUV_TOPS.path))
    options = {k: str(v) for k, v in delta_storage_options(settings).items()}
    return int(DeltaTable(uri, storage_options=options).version())


def _docs(mongo_uri: str, database: str) -> list[dict[str, Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        return sorted(client[database]["tops"].find({}, {"_id": 0}), key=lambda d: d["dataset_id"])
    finally:
        client.close()


def test_datagouv_run_recorded_then_planted_defect_stopped_by_its_gate(
    s3_lake: Settings,
    source: emulator.EmulatorServer,
    mongo_uri: str,
    unique_name: str,
    minio: dict[str, str],
) -> None:
    bucket, database = f"dg-{unique_name}", f"dg_{unique_name}"
    env = {
        **minio,
        "LAKE_ROOT": s3_lake.lake_root,
        "DATAGOUV_API_URL": source.api_url,
        "DATAGOUV_BUCKET": bucket,
        "MONGO_URI": mongo_uri,
        "GITHUB_TOKEN": "ghp_" + "Z" * 36,
    }
    first = _cli(env, "--run-date", RUN_DATE, "--mongo-database", database)
    assert first.returncode == 0, first.stderr[-3000:]
    settings = load_settings(lake_root=s3_lake.lake_root, datagouv_bucket=bucket)
    [record] = ledger.LedgerStore(settings).records("datagouv_catalog")
    assert record["status"] == "succeeded" and record["error"] is None
    assert record["args"]["run_date"] == RUN_DATE
    tops = record["outputs"][DATAGOUV_TOPS.path]
    assert tops["version"] == _version(settings) and tops["rows"] > 0
    assert record["outputs"][f"s3://{bucket}/{RUN_DATE}/datasets.csv"]["rows"] > tops["rows"] - 1
    assert record["outputs"][f"mongodb:{database}.tops"]["rows"] == tops["rows"]
    assert {"dataset", "organization"} <= set(record["inputs"]["landed"])
    assert any(k.startswith("source:") for k in record["inputs"])
    assert {"download", "mongo"} <= set(record["stages"]) and any("audit" in s for s in record["stages"])
    object_before = (
        s3_client(settings).get_object(Bucket=bucket, Key=f"{RUN_DATE}/datasets.csv")["Body"].read()
    )
    docs_before = _docs(mongo_uri, database)
    version_before = _version(settings)

    planted = _cli(
        {**env, "QUALITY_FAULT": "datagouv_catalog.unknown_dataset"},
        "--run-date",
        RUN_DATE,
        "--mongo-database",
        database,
    )
    assert planted.returncode == 1
    error = planted.stderr.strip().splitlines()[-1]
    assert error.startswith(
        "datagouv_catalog: error: quality gate 'every Mongo document's dataset is in the CSV'"
    )
    assert "planted-unknown-dataset" in error and "nothing published" in error
    # Untouched: the Delta table (no new version), the CSV object, the documents.
    assert _version(settings) == version_before
    after = s3_client(settings).get_object(Bucket=bucket, Key=f"{RUN_DATE}/datasets.csv")["Body"].read()
    assert after == object_before
    assert _docs(mongo_uri, database) == docs_before
    failed = ledger.LedgerStore(settings).records("datagouv_catalog")[0]
    assert failed["status"] == "failed" and failed["error"] == error.removeprefix("datagouv_catalog: error: ")
    assert DATAGOUV_TOPS.path not in failed["outputs"]

    # No configured secret in any ledger row or log line of either run.
    rows = ledger.LedgerStore(settings).read().to_pylist()
    text = json.dumps(rows, default=str) + first.stderr + first.stdout + planted.stderr + planted.stdout
    # (a Mongo password in the URI is covered by tests/ops/test_ledger.py: the test server has none)
    for secret in (minio["AWS_SECRET_ACCESS_KEY"], "Z" * 36):
        assert secret not in text
    MongoClient(mongo_uri).drop_database(database)
