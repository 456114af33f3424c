"""One job through `spark-submit`, exactly as the operator would start it: the rendered
SparkApplication's mainApplicationFile (mapped back through the Dockerfile) and arguments, the
rendered ConfigMap as the environment, on the GitHub emulator, submitted to the standalone
cluster of scripts/cluster.sh (executors in other JVMs, without the checkout), the lake on MinIO.
The jars go with `--jars`, which is what $SPARK_HOME/jars is to the image."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.support import Cluster, cluster
from tests.conftest import MINIO_ENDPOINT, MINIO_PASSWORD, MINIO_USER
from tests.k8s.k8s_support import REPO, Stage, image_path_to_repo, of_kind, parse_dockerfile, render, stage

pytestmark = [pytest.mark.k8s, pytest.mark.e2e, pytest.mark.cluster]
__all__ = ["cluster"]

ORG = "k8s-e2e-org"
RUN_DATE = "2026-11-18"
# Properties that only make sense inside the image or on a cluster.
CLUSTER_ONLY = ("spark.pyspark.", "spark.kubernetes.", "spark.jars.ivy")


def _rendered_github_app(lake: str, api_url: str) -> tuple[dict[str, Any], dict[str, str]]:
    docs = render(
        [],
        {
            "jobs.github.args.org": ORG,
            "jobs.github.args.runDate": RUN_DATE,
            "settings.LAKE_ROOT": lake,
            "settings.GITHUB_API_URL": api_url,
        },
    )
    (app,) = [d for d in of_kind(docs, "SparkApplication") if d["metadata"]["name"] == "dataplatform-github"]
    (config,) = of_kind(docs, "ConfigMap")
    return app["spec"], config["data"]


def _submit(
    cluster: Cluster, tmp_path: Path, lake: str, api_url: str, *, ship_jars: bool = True
) -> subprocess.CompletedProcess[str]:
    """spark-submit of the rendered github SparkApplication to the cluster."""
    spark_submit = Path(sys.executable).with_name("spark-submit")
    assert spark_submit.is_file(), f"{spark_submit} missing (it ships with the pyspark wheel in .venv)"
    jars = sorted(str(p) for p in (REPO / "jars").glob("*.jar"))
    assert jars, "jars/ is empty: run `make setup`"
    spec, settings = _rendered_github_app(lake, api_url)
    _, stages = parse_dockerfile()
    main_file = image_path_to_repo(
        spec["mainApplicationFile"].removeprefix("local://"), stage(stages, "spark")
    )
    assert main_file is not None and main_file.is_file()
    assert spec["arguments"] == ["--org", ORG, "--run-date", RUN_DATE]

    conf = {k: v for k, v in spec["sparkConf"].items() if not k.startswith(CLUSTER_ONLY)}
    conf.update({"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"})
    # The driver has the jars on its class path either way; without --jars the executors do not.
    jar_flags = ["--jars", ",".join(jars)] if ship_jars else ["--driver-class-path", ":".join(jars)]
    command = [str(spark_submit), "--master", cluster.master, "--driver-memory", "1g", *jar_flags]
    for key, value in sorted(conf.items()):
        command += ["--conf", f"{key}={value}"]
    command += [str(main_file), *spec["arguments"]]

    # The pod's environment: the ConfigMap (envFrom), the lake's credentials (the Secret).
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_", "GITHUB_", "LAKE_"))
    }
    env.update(settings)
    env.update(
        {
            "S3_ENDPOINT_URL": cluster.s3_endpoint_url,
            # The driver pod's own address, in the operator's case: one the executors can reach.
            "SPARK_LOCAL_IP": cluster.service_host,
            "AWS_ACCESS_KEY_ID": MINIO_USER,
            "AWS_SECRET_ACCESS_KEY": MINIO_PASSWORD,
        }
    )
    # ...and the image's own ENV (PYTHONPATH=/opt/app), mapped back to the repository through the
    # Dockerfile's COPY layout: the driver's; the executors get the code from the factory.
    env["PYTHONPATH"] = _image_pythonpath_in_repo(stage(stages, "spark"))
    env.update(
        {
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "GITHUB_PROGRESS_SECONDS": "60",
        }
    )
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


def _storage() -> dict[str, str]:
    from common.settings import load_settings
    from common.storage import delta_storage_options

    return delta_storage_options(
        load_settings(
            lake_root="s3a://lake-tests/x",
            s3_endpoint_url=MINIO_ENDPOINT,
            aws_access_key_id=MINIO_USER,
            aws_secret_access_key=MINIO_PASSWORD,
        )
    )


def test_github_job_runs_through_spark_submit_with_the_rendered_arguments(
    cluster: Cluster, tmp_path: Path, unique_name: str
) -> None:
    if not (REPO / "jobs" / "github_contributors" / "__main__.py").is_file():
        pytest.skip("jobs/github_contributors is not there yet")
    from emulators.github import start
    from emulators.github_data import expected_series, generate_org

    data = tmp_path / "github"
    generate_org(data, ORG, repos=5, commits=150, seed=11)
    server = start(data, host=cluster.service_host)
    lake = f"s3a://lake-tests/{unique_name}"
    try:
        proc = _submit(cluster, tmp_path, lake, server.url)
        assert proc.returncode == 0, (
            f"spark-submit failed ({proc.returncode}):\n{_python_errors(proc.stderr)}"
        )
    finally:
        server.stop()

    from deltalake import DeltaTable

    uri = f"s3://lake-tests/{unique_name}/github/new_contributors_monthly"
    rows = DeltaTable(uri, storage_options=_storage()).to_pyarrow_table().to_pylist()
    got: dict[str, list[tuple[str, int, int]]] = {}
    for row in sorted(rows, key=lambda r: (r["repo"], r["month"])):
        assert row["org"] == ORG
        got.setdefault(row["repo"], []).append(
            (row["month"], int(row["new_contributors"]), int(row["total_contributors"]))
        )
    assert got == expected_series(data, ORG, date.fromisoformat(RUN_DATE))


def test_executors_without_the_jars_fail_in_one_line_naming_the_class(
    cluster: Cluster, tmp_path: Path, unique_name: str
) -> None:
    """The jars on the driver only: the executors' S3A write cannot load its class; the error line
    says so (not `An error occurred while calling o134.save`), and no gold table is published."""
    from emulators.github import start
    from emulators.github_data import generate_org

    data = tmp_path / "github"
    generate_org(data, ORG, repos=2, commits=40, seed=3)
    server = start(data, host=cluster.service_host)
    lake = f"s3a://lake-tests/{unique_name}"
    try:
        proc = _submit(cluster, tmp_path, lake, server.url, ship_jars=False)
    finally:
        server.stop()
    # spark-submit's PythonRunner merges the Python driver's stderr into its own stdout.
    output = proc.stdout + proc.stderr
    (tmp_path / "spark-submit.out").write_text(output)  # for a look when this fails
    assert proc.returncode == 1, _python_errors(output)
    lines = [line for line in output.splitlines() if line.startswith("github_contributors: error:")]
    assert len(lines) == 1, [line for line in output.splitlines() if "error" in line.lower()][-20:]
    # The first class an executor misses is Delta's (a task's lambda), or S3A's for a plain read.
    assert "An error occurred" not in lines[0], lines[0]
    assert "the executors cannot load" in lines[0] or "ClassNotFoundException" in lines[0], lines[0]

    from common.settings import load_settings
    from common.storage import s3_client

    reader = load_settings(
        s3_endpoint_url=MINIO_ENDPOINT, aws_access_key_id=MINIO_USER, aws_secret_access_key=MINIO_PASSWORD
    )
    # The gold tables are written side by side: a sibling's write may have begun (S3A leaves an
    # empty `_delta_log/` marker), but no data file and no commit: no version a reader could see.
    prefix = f"{unique_name}/github/new_contributors_monthly/"
    listed = s3_client(reader).list_objects_v2(Bucket="lake-tests", Prefix=prefix)
    keys = [obj["Key"] for obj in listed.get("Contents", [])]
    assert not [key for key in keys if key.endswith((".json", ".parquet", ".checkpoint"))], keys


def _python_errors(stderr: str) -> str:
    """The Python side of a failure (a worker traceback hides among JVM stack frames)."""
    lines = stderr.splitlines()
    keep = [line for line in lines if not line.lstrip().startswith("at ") and line.strip()]
    return "\n".join(keep[-80:])


def _image_pythonpath_in_repo(spark_stage: Stage) -> str:
    """The spark image's PYTHONPATH entries, as repository folders."""
    env = " ".join(i.args[0] for i in spark_stage.instructions if i.keyword == "ENV")
    match = re.search(r"PYTHONPATH=(\S+)", env)
    assert match, "the spark image sets no PYTHONPATH: executors could not import jobs.*"
    folders = []
    for entry in match.group(1).split(":"):
        mapped = image_path_to_repo(f"{entry.rstrip('/')}/jobs/__init__.py", spark_stage)
        assert mapped is not None, f"PYTHONPATH entry {entry} holds no jobs/ package in the image"
        folders.append(str(mapped.parent.parent))
    return ":".join(folders)
