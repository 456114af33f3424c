"""The runtime for real: Spark + Delta on MinIO over S3A, delta-rs without a JVM, pymongo on FerretDB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings, load_settings
from common.storage import (
    RawStore,
    check_lake,
    delta_rs_uri,
    delta_storage_options,
    ensure_bucket,
    lake_path,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_spark_writes_delta_to_minio_and_delta_rs_reads_it(
    spark: Any, minio: dict[str, str], unique_name: str
) -> None:
    settings = load_settings(
        lake_root=f"s3a://lake-tests/{unique_name}",
        s3_endpoint_url=minio["S3_ENDPOINT_URL"],
        aws_access_key_id=minio["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=minio["AWS_SECRET_ACCESS_KEY"],
    )
    ensure_bucket(settings, "lake-tests")
    path = lake_path(settings, "runtime", "numbers")
    assert path.startswith("s3a://lake-tests/")
    spark.createDataFrame([(i, f"n{i}") for i in range(5)], "id long, name string").write.format(
        "delta"
    ).mode("overwrite").save(path)
    back = spark.read.format("delta").load(path)
    assert sorted(r.id for r in back.collect()) == [0, 1, 2, 3, 4]

    from deltalake import DeltaTable

    table = DeltaTable(delta_rs_uri(path), storage_options=delta_storage_options(settings))
    assert table.version() == 0
    rows = table.to_pyarrow_table().to_pylist()
    assert sorted((r["id"], r["name"]) for r in rows) == [(i, f"n{i}") for i in range(5)]


def test_wrong_credentials_are_named(minio: dict[str, str]) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "LAKE_ROOT": "s3a://lake-tests/x",
        "S3_ENDPOINT_URL": minio["S3_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": "minioadmin",
        "AWS_SECRET_ACCESS_KEY": "not-the-password",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "common.doctor"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("doctor: error: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: rejected")
    assert "not-the-password" not in proc.stderr


def test_pymongo_round_trip(mongo_uri: str, unique_name: str) -> None:
    from pymongo import ASCENDING, MongoClient, UpdateOne
    from pymongo.errors import DuplicateKeyError

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        coll = client[unique_name]["things"]
        coll.create_index([("day", ASCENDING), ("key", ASCENDING)], unique=True)
        coll.insert_one({"day": "2026-01-01", "key": "a", "n": 1})
        coll.bulk_write([UpdateOne({"day": "2026-01-01", "key": "a"}, {"$set": {"n": 2}}, upsert=True)])
        coll.bulk_write([UpdateOne({"day": "2026-01-01", "key": "b"}, {"$set": {"n": 3}}, upsert=True)])
        with pytest.raises(DuplicateKeyError):
            coll.insert_one({"day": "2026-01-01", "key": "a", "n": 9})
        docs = sorted((d["key"], d["n"]) for d in coll.find({"day": "2026-01-01"}, {"_id": 0}))
        assert docs == [("a", 2), ("b", 3)]
    finally:
        client.drop_database(unique_name)
        client.close()


def test_local_lake_round_trip(spark: Any, local_lake: Settings) -> None:
    path = lake_path(local_lake, "t")
    spark.range(3).write.format("delta").save(path)
    assert (Path(path) / "_delta_log").is_dir()
    assert spark.read.format("delta").load(path).count() == 3


def test_python_workers_run_the_drivers_interpreter(spark: Any) -> None:
    """Executors must import our dependencies: they run the virtualenv, not the PATH's python3."""
    got = spark.sparkContext.parallelize([0], 1).map(lambda _: sys.executable).collect()
    assert got == [sys.executable]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_raw_store_markers_round_trip(where: str, local_lake: Settings, s3_lake: Settings) -> None:
    """Small markers (e.g. what the Wikipedia dimensions were built from) read back as written."""
    settings = local_lake if where == "local" else s3_lake
    check_lake(settings)
    store = RawStore(settings, "raw", "markers")
    assert store.read_text("state/x.json") is None
    store.write_text("state/x.json", '{"v": 1}')
    store.write_text("state/x.json", '{"v": 2, "é": "東京"}')
    assert store.read_text("state/x.json") == '{"v": 2, "é": "東京"}'
