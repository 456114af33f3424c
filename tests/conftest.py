"""Shared fixtures: one Spark session per test run, settings for a throwaway lake, local services."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings, load_settings
from common.storage import ensure_bucket

MINIO_ENDPOINT = os.environ.get("TEST_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
MINIO_USER = os.environ.get("TEST_AWS_ACCESS_KEY_ID", "minioadmin")
MINIO_PASSWORD = os.environ.get("TEST_AWS_SECRET_ACCESS_KEY", "miniopassword")
MONGO_URI = os.environ.get("TEST_MONGO_URI", "mongodb://127.0.0.1:27017")


def _port_open(url: str) -> bool:
    host_port = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings the session-wide Spark is built with: S3A wired to the local MinIO."""
    return load_settings(
        lake_root=str(tmp_path_factory.mktemp("lake")),
        s3_endpoint_url=MINIO_ENDPOINT,
        aws_access_key_id=MINIO_USER,
        aws_secret_access_key=MINIO_PASSWORD,
        spark_driver_memory="4g",
    )


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Iterator[Any]:
    """One SparkSession for the whole run (Delta + S3A), stopped at the end."""
    from common.spark import get_spark

    session = get_spark(spark_settings, "tests")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def minio() -> dict[str, str]:
    """Connection settings of the local MinIO; fails clearly when `make services` was not run."""
    if not _port_open(MINIO_ENDPOINT):
        pytest.fail(f"MinIO is not answering on {MINIO_ENDPOINT}: run `make services`")
    return {
        "S3_ENDPOINT_URL": MINIO_ENDPOINT,
        "AWS_ACCESS_KEY_ID": MINIO_USER,
        "AWS_SECRET_ACCESS_KEY": MINIO_PASSWORD,
    }


@pytest.fixture(scope="session")
def mongo_uri() -> str:
    if not _port_open(MONGO_URI):
        pytest.fail(f"MongoDB-protocol server is not answering on {MONGO_URI}: run `make services`")
    return MONGO_URI


@pytest.fixture
def unique_name() -> str:
    """A name no other test (or parallel helper) uses: buckets, databases, prefixes."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_lake(minio: dict[str, str], unique_name: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose LAKE_ROOT is a fresh prefix on MinIO (its bucket made: a test run alone
    must not depend on an earlier one having made it), exported to the environment too."""
    env = {**minio, "LAKE_ROOT": f"s3a://lake-tests/{unique_name}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    ensure_bucket(settings, "lake-tests")
    return settings


@pytest.fixture
def local_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "lake"))
    return load_settings()
