"""The Spark image, run: one job (data.gouv.fr) from `localhost/dataplatform-spark:dev` under podman,
started the way a Kubernetes driver pod starts it (the entrypoint's `driver` mode, a properties
file mounted on /opt/spark/conf), against the emulator, the local MinIO and FerretDB; its answer
checked as tests/datagouv/test_datagouv_e2e.py checks the local run's. And the entrypoint's other
two modes: the executor command built from the driver's variables, an unknown uid given a name.

`make images` builds the image (scripts/images.sh, whose podman setup these tests use); podman
absent skips with the reason, the image absent fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from common.settings import Settings, load_settings
from common.storage import DeltaReader, ensure_bucket, s3_client, split_s3
from common.tables import DATAGOUV_TOP_FIELDS, DATAGOUV_TOPS, OPS_RUNS
from emulators import datagouv as emulator
from emulators.datagouv_data import expected_tops, generate_demo, matching_records, parse_csv_text
from tests.k8s.k8s_support import REPO

pytestmark = [pytest.mark.k8s, pytest.mark.integration]

IMAGES = REPO / "scripts" / "images.sh"
RUN_DATE = "2026-01-07"
# What the chart's SparkApplication runs (appRoot + module), as the operator hands it to the driver.
MAIN_FILE = "local:///opt/app/jobs/datagouv_catalog/__main__.py"


def _images(
    *args: str, env: dict[str, str] | None = None, timeout: int = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(IMAGES), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def spark_image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman runc): the image cannot run here")
    ref = _images("ref", "spark").stdout.strip()
    if _images("podman", "image", "exists", ref).returncode != 0:
        pytest.fail(f"{ref} is not built: run `make images`")
    return ref


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("datagouv-image")
    generate_demo(root)
    return root


@pytest.fixture
def source(catalogue: Path) -> Iterator[emulator.EmulatorServer]:
    server = emulator.start(catalogue)
    yield server
    server.stop()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder to mount that the image's uid 185 can read (pytest's own folders are 0700)."""
    with tempfile.TemporaryDirectory(prefix="dataplatform-image-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def _docs(mongo_uri: str, database: str) -> list[dict[str, Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        return list(client[database]["tops"].find({"run_date": RUN_DATE}, {"_id": 0}))
    finally:
        client.close()


@pytest.mark.e2e
def test_datagouv_job_runs_from_the_image(  # noqa: PLR0917 - fixtures
    spark_image: str,
    source: emulator.EmulatorServer,
    catalogue: Path,
    minio: dict[str, str],
    mongo_uri: str,
    unique_name: str,
    shared_dir: Path,
) -> None:
    conf = shared_dir
    # The operator mounts the driver's properties on /opt/spark/conf; here the master is local.
    (conf / "spark.properties").write_text(
        "spark.master=local[2]\n"
        "spark.app.name=datagouv-image-smoke\n"
        "spark.driver.memory=1g\n"
        "spark.sql.shuffle.partitions=2\n"
        "spark.ui.enabled=false\n"
    )
    (conf / "spark.properties").chmod(0o644)
    database = f"dg_{unique_name}"
    env = {
        **minio,  # S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
        "LAKE_ROOT": f"s3a://lake-tests/{unique_name}",
        "MONGO_URI": mongo_uri,
        "DATAGOUV_API_URL": source.api_url,
        "DATAGOUV_BUCKET": f"dg-{unique_name}",
        "SPARK_DRIVER_BIND_ADDRESS": "127.0.0.1",
    }
    settings = _settings(env)
    ensure_bucket(settings, split_s3(settings.lake_root)[0])  # the lake's bucket, as a user makes it
    # `-e NAME` without a value: podman takes the value from its own environment, so no credential
    # is ever on a command line.
    passed = [arg for name in sorted(env) for arg in ("-e", name)]
    proc = _images(
        "run",
        *passed,
        "-v",
        f"{conf}:/opt/spark/conf:ro",
        spark_image,
        "driver",
        "--properties-file",
        "/opt/spark/conf/spark.properties",
        "--class",
        "org.apache.spark.deploy.PythonRunner",
        MAIN_FILE,
        "--run-date",
        RUN_DATE,
        "--mongo-database",
        database,
        env={**os.environ, **env},
        timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert minio["AWS_SECRET_ACCESS_KEY"] not in " ".join(proc.args)

    expected = expected_tops(catalogue, RUN_DATE)
    assert expected

    # The CSV object, byte for byte what the local run writes.
    body = s3_client(settings).get_object(Bucket=settings.datagouv_bucket, Key=f"{RUN_DATE}/datasets.csv")
    data = bytes(body["Body"].read())
    assert parse_csv_text(data.decode("utf-8")) == matching_records(catalogue)
    assert b"\r\n" in data and data.startswith(b'"id";"title";')

    # MongoDB's `tops` and the lake's Delta table: the expected top-30 organizations' datasets.
    docs = _docs(mongo_uri, database)
    assert _six(docs) == _six(expected)
    reader = DeltaReader(settings)
    tops = reader.table(DATAGOUV_TOPS)
    assert tops is not None, "no datagouv/tops Delta table in the lake"
    rows = [r for r in tops.to_pyarrow_table().to_pylist() if r["run_date"] == RUN_DATE]
    assert _six(rows) == _six(expected)

    # The run ledger: succeeded, under spark-submit, with the code version baked into the image.
    ledger = reader.table(OPS_RUNS)
    assert ledger is not None
    runs = [r for r in ledger.to_pyarrow_table().to_pylist() if r["job"] == "datagouv_catalog"]
    final = max(runs, key=lambda r: r["recorded_at"])
    assert final["status"] == "succeeded" and final["mode"] == "spark-submit", final
    assert final["version"] == _image_env(spark_image)["DATAPLATFORM_VERSION"]
    assert final["version"].startswith("git:") and final["version"] != "git:unknown"

    _cleanup(settings, mongo_uri, database)


def _six(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The contract's six fields of each row, in dataset order."""
    return sorted(({k: r[k] for k in DATAGOUV_TOP_FIELDS} for r in rows), key=lambda d: d["dataset_id"])


def _settings(env: dict[str, str]) -> Settings:
    return load_settings(
        lake_root=env["LAKE_ROOT"],
        s3_endpoint_url=env["S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        datagouv_bucket=env["DATAGOUV_BUCKET"],
    )


def _cleanup(settings: Settings, mongo_uri: str, database: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(database)
    client.close()
    s3 = s3_client(settings)
    s3.delete_object(Bucket=settings.datagouv_bucket, Key=f"{RUN_DATE}/datasets.csv")
    s3.delete_bucket(Bucket=settings.datagouv_bucket)


def _image_env(ref: str) -> dict[str, str]:
    proc = _images("podman", "image", "inspect", "--format", "{{json .Config.Env}}", ref)
    assert proc.returncode == 0, proc.stderr
    return dict(item.split("=", 1) for item in json.loads(proc.stdout))


def test_executor_mode_builds_sparks_executor_command(spark_image: str, shared_dir: Path) -> None:
    """`executor`: java with the SPARK_EXECUTOR_* contract (a stand-in `java` prints what it got)."""
    fake = shared_dir / "bin"
    fake.mkdir(mode=0o755)
    (fake / "java").write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    (fake / "java").chmod(0o755)
    env = {
        "JAVA_HOME": "/fake-jdk",
        "SPARK_EXECUTOR_MEMORY": "1024m",
        "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@driver-svc:7078",
        "SPARK_EXECUTOR_ID": "3",
        "SPARK_EXECUTOR_CORES": "1",
        "SPARK_APPLICATION_ID": "spark-app-1",
        "SPARK_EXECUTOR_POD_IP": "10.0.0.7",
        "SPARK_RESOURCE_PROFILE_ID": "0",
        "SPARK_EXECUTOR_POD_NAME": "app-exec-3",
        "SPARK_JAVA_OPT_10": "-Dlast=1",
        "SPARK_JAVA_OPT_2": "-Dsecond=a b",
        "SPARK_JAVA_OPT_0": "-Dfirst=x=y",
        "SPARK_EXTRA_CLASSPATH": "/opt/extra/*",
    }
    passed = [arg for name in sorted(env) for arg in ("-e", name)]
    proc = _images(
        "run", *passed, "-v", f"{fake.parent}:/fake-jdk:ro", spark_image, "executor",
        env={**os.environ, **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "-Dfirst=x=y",
        "-Dsecond=a b",
        "-Dlast=1",
        "-Xms1024m",
        "-Xmx1024m",
        "-cp",
        "/opt/spark/conf:/opt/spark/jars/*:/opt/extra/*",
        "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
        "--driver-url",
        "spark://CoarseGrainedScheduler@driver-svc:7078",
        "--executor-id",
        "3",
        "--cores",
        "1",
        "--app-id",
        "spark-app-1",
        "--hostname",
        "10.0.0.7",
        "--resourceProfileId",
        "0",
        "--podName",
        "app-exec-3",
    ]
    missing = _images("run", spark_image, "executor")
    assert missing.returncode != 0
    assert "SPARK_DRIVER_URL" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1


def test_an_unknown_uid_gets_a_user_name(spark_image: str) -> None:
    """Kubernetes may run the image as a uid it has no passwd entry for, on a read-only root:
    Spark and Hadoop still get a user name (the image's own uid 185 is `spark`)."""
    show = "id -un; python -c 'import getpass; print(getpass.getuser())'"
    as_185 = _images("run", spark_image, "bash", "-c", show)
    assert as_185.returncode == 0 and as_185.stdout.split() == ["spark", "spark"], as_185.stderr
    # --passwd=false: podman would otherwise add the entry itself, which a kubelet does not.
    anonymous = _images(
        "run", "--passwd=false", "--user", "4242:4242", "--read-only", spark_image, "bash", "-c", show
    )
    assert anonymous.returncode == 0 and anonymous.stdout.split() == ["spark", "spark"], anonymous.stderr
