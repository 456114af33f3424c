"""The lake's object store dies mid-run: the run fails within a bounded time, in one line naming
the store, and once the store is back the ledger keeps that cause (not "abandoned").

Against a MinIO of the test's own (the shared one serves every other test), killed with SIGKILL
while the job's Spark work runs, then started again on the same data.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from common.settings import load_settings
from common.storage import delta_rs_uri, delta_storage_options, lake_path
from common.tables import OPS_RUNS
from emulators import datagouv as emulator
from emulators.datagouv_data import generate_demo
from tests.conftest import MINIO_PASSWORD, MINIO_USER

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PROJECT = Path(__file__).resolve().parents[2]
MINIO = Path(os.environ.get("DATAPLATFORM_CACHE", Path.home() / ".cache" / "dataplatform")) / "bin" / "minio"
# The documented bound (docs/contract.md, "Failures"): from the store's death to the run's end.
OUTAGE_BOUND_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Store:
    """A MinIO of the test's own: `kill` it, `start` it again on the same data."""

    data: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "MINIO_ROOT_USER": MINIO_USER, "MINIO_ROOT_PASSWORD": MINIO_PASSWORD}
        env["MINIO_BROWSER"] = "off"
        self.proc = subprocess.Popen(
            [str(MINIO), "server", str(self.data), "--address", f"127.0.0.1:{self.port}", "--quiet"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the test's MinIO did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    if not MINIO.exists():
        pytest.skip(f"no MinIO binary at {MINIO}: run `make setup`")
    own = Store(tmp_path / "minio", _free_port())
    own.start()
    yield own
    own.kill()


@pytest.fixture
def source(tmp_path: Path) -> Iterator[emulator.EmulatorServer]:
    root = tmp_path / "catalogue"
    generate_demo(root)
    server = emulator.start(root)
    yield server
    server.stop()


def _env(store: Store, source: emulator.EmulatorServer, mongo_uri: str, name: str) -> dict[str, str]:
    return {
        **os.environ,
        "S3_ENDPOINT_URL": store.endpoint,
        "AWS_ACCESS_KEY_ID": MINIO_USER,
        "AWS_SECRET_ACCESS_KEY": MINIO_PASSWORD,
        "LAKE_ROOT": f"s3a://lake/{name}",
        "DATAGOUV_BUCKET": "exports",
        "DATAGOUV_API_URL": source.api_url,
        "MONGO_URI": mongo_uri,
        "MONGO_DATABASE": f"outage_{name}",
    }


def _job(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jobs.datagouv_catalog", "--run-date", "2026-01-07"],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _runs(env: dict[str, str]) -> list[dict[str, Any]]:
    settings = load_settings(
        lake_root=env["LAKE_ROOT"],
        s3_endpoint_url=env["S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    uri = delta_rs_uri(lake_path(settings, OPS_RUNS.path))
    options = {k: str(v) for k, v in delta_storage_options(settings).items()}
    rows: list[dict[str, Any]] = DeltaTable(uri, storage_options=options).to_pyarrow_table().to_pylist()
    return rows


# Where the store dies: under the landing (boto3), under Spark reading the exports (S3A), under
# the changes read from the tables' logs and the Delta writes (delta-rs, then Spark).
MOMENTS = {
    "landing": "landed datasets.csv",
    "spark": "master=local",
    "publish": "every quality gate passed",
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_store_killed_mid_run_fails_it_in_bounded_time_and_the_ledger_keeps_the_cause(  # noqa: PLR0917 - fixtures
    store: Store,
    source: emulator.EmulatorServer,
    mongo_uri: str,
    unique_name: str,
    tmp_path: Path,
    moment: str,
) -> None:
    env = _env(store, source, mongo_uri, unique_name)
    log = tmp_path / "job.log"
    job = _job(env, log)
    try:
        deadline = time.monotonic() + 240
        while MOMENTS[moment] not in log.read_text(errors="replace"):
            assert job.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"the job never reached {moment}"
            time.sleep(0.2)
        store.kill()
        killed = time.monotonic()
        code = job.wait(timeout=600)
        took = time.monotonic() - killed
    finally:
        if job.poll() is None:
            job.kill()
    text = log.read_text(errors="replace")
    errors = [line for line in text.splitlines() if line.startswith("datagouv_catalog: error:")]
    print(f"failed {took:.1f} s after the store died; {len(text.splitlines())} log lines; {errors}")
    assert code == 1, text[-3000:]
    assert len(errors) == 1, text[-3000:]
    assert store.endpoint.removeprefix("http://") in errors[0], errors[0]
    assert took <= OUTAGE_BOUND_SECONDS, f"{took:.0f} s to fail"

    store.start()  # the store is back: the next run records the failed one's cause
    again = _job(env, tmp_path / "again.log")
    assert again.wait(timeout=600) == 0, (tmp_path / "again.log").read_text()[-3000:]
    failed = [r for r in _runs(env) if r["status"] == "failed"]
    assert [r["error"] for r in failed] == [errors[0].removeprefix("datagouv_catalog: error: ")]
    shutil.rmtree(store.data, ignore_errors=True)
