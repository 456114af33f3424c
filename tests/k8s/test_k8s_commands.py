"""The commands the chart's own pods run, executed here as the images would run them: the API
container (`python -m api` + its /health probe, i.e. the `helm test` pod) and the dev MinIO
bucket Job (against the local MinIO)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from common.settings import load_settings
from common.storage import s3_client
from tests.k8s.k8s_support import REPO, VALUE_SETS, of_kind, render

pytestmark = [pytest.mark.k8s, pytest.mark.integration]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = (doc["spec"].get("template", doc)["spec"])["containers"]
    assert len(containers) == 1
    return containers[0]


def _plain_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def test_api_container_serves_health_as_the_helm_test_expects() -> None:
    docs = render([])
    (config,) = of_kind(docs, "ConfigMap")
    (deployment,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "dataplatform-api"]
    (test_pod,) = [
        d for d in of_kind(docs, "Pod") if d["metadata"]["annotations"].get("helm.sh/hook") == "test"
    ]
    api = _container(deployment)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in config["data"]}
    env.update(config["data"])
    env.update(_plain_env(api))
    env.update({"API_PORT": str(port), "PYTHONPATH": str(REPO)})  # the image's WORKDIR /opt/app
    command = [sys.executable if word == "python" else word for word in api["command"]]
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        probe = _container(test_pod)
        probe_command = [sys.executable if w == "python" else w for w in probe["command"]]
        url = f"http://127.0.0.1:{port}/health"
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run([*probe_command, url], capture_output=True, text=True, timeout=30)
            if done.returncode == 0 or time.monotonic() > deadline or server.poll() is not None:
                break
            time.sleep(0.5)
        assert server.poll() is None, (
            f"the API exited: {server.stderr.read().decode()[-2000:] if server.stderr else ''}"
        )
        assert done.returncode == 0, done.stderr
        path = api["readinessProbe"]["httpGet"]["path"]
        assert path == "/health" and url.endswith(path)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_dev_minio_bucket_job_creates_its_buckets(minio: dict[str, str], unique_name: str) -> None:
    docs = render(VALUE_SETS["dev"], {"dev.minio.buckets": "{" + unique_name + "}"})
    (config,) = of_kind(docs, "ConfigMap")
    (job,) = of_kind(docs, "Job")
    container = _container(job)
    assert container["args"] == [unique_name]
    env = {k: v for k, v in os.environ.items() if k not in config["data"]}
    env.update(config["data"])
    env.update(minio)  # what the Secret dataplatform-s3 and the in-cluster endpoint provide
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable if w == "python" else w for w in container["command"]]
    for _ in range(2):  # idempotent: the hook runs on every install and upgrade
        done = subprocess.run(
            [*command, *container["args"]], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    client = s3_client(
        load_settings(
            s3_endpoint_url=minio["S3_ENDPOINT_URL"],
            aws_access_key_id=minio["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=minio["AWS_SECRET_ACCESS_KEY"],
        )
    )
    try:
        client.head_bucket(Bucket=unique_name)
    finally:
        client.delete_bucket(Bucket=unique_name)
