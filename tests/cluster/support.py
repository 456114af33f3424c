"""The standalone cluster of scripts/cluster.sh, as a pytest session fixture, and what tests use
to run jobs on it: an environment without the test process's Spark settings, the address at which
executors reach the emulators and MinIO, the driver's REST API to see which stage runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MINIO_PASSWORD, MINIO_USER, _port_open

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster.sh"


@dataclass(frozen=True)
class Cluster:
    master: str  # spark://host:port
    service_host: str  # where executors reach services of this machine (emulators bind here)
    s3_endpoint_url: str  # MinIO, as executors reach it
    net: str  # netns or loopback

    def env(self, lake_root: str, **extra: str) -> dict[str, str]:
        """A job's whole environment on the cluster: the test run's Spark and lake settings left out."""
        keep = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYSPARK_", "SPARK_", "LAKE_", "S3_", "AWS_", "GITHUB_", "WIKIMEDIA_"))
            and not k.startswith(("DATAGOUV_", "MONGO_"))
        }
        return {
            **keep,
            "SPARK_MASTER": self.master,
            "LAKE_ROOT": lake_root,
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": MINIO_USER,
            "AWS_SECRET_ACCESS_KEY": MINIO_PASSWORD,
            **extra,
        }

    def restore_workers(self) -> None:
        """Start again any worker a test killed (the script starts only what is not running)."""
        _script("start")

    def kill_worker(self, number: int) -> None:
        _script("kill-worker", str(number))


def _script(*args: str) -> str:
    proc = subprocess.run(
        [str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, f"scripts/cluster.sh {' '.join(args)} failed:\n{proc.stderr[-2000:]}"
    return proc.stdout


def _read_env() -> dict[str, str] | None:
    proc = subprocess.run([str(SCRIPT), "env"], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    values = dict(line.split("=", 1) for line in proc.stdout.split())
    return values if _port_open(values["SPARK_MASTER"]) else None


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The cluster, started for this run when it is not up (and then stopped at the end)."""
    started = False
    values = _read_env()
    if values is None:
        _script("start")
        started = True
        values = _read_env()
        assert values is not None, "scripts/cluster.sh start left no cluster.env"
    else:
        _script("start")  # a worker an earlier run killed
    yield Cluster(
        master=values["SPARK_MASTER"],
        service_host=values["CLUSTER_SERVICE_HOST"],
        s3_endpoint_url=values["CLUSTER_S3_ENDPOINT_URL"],
        net=values["CLUSTER_NET"],
    )
    if started:
        _script("stop")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_job(
    module: str, env: dict[str, str], args: list[str], log: Path, *, ui_port: int | None = None
) -> subprocess.Popen[bytes]:
    """`python -m jobs.<module>` on the cluster, its output to `log`; with `ui_port`, the driver's
    UI (and REST API) on."""
    if ui_port is not None:
        env = {
            **env,
            "SPARK_UI_ENABLED": "true",
            "PYSPARK_SUBMIT_ARGS": f"--conf spark.ui.port={ui_port} pyspark-shell",
        }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", f"jobs.{module}", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_job(module: str, env: dict[str, str], args: list[str], log: Path, timeout: float = 600) -> int:
    job = start_job(module, env, args, log)
    try:
        return job.wait(timeout=timeout)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, 9)
            job.wait()


def active_stages(host: str, ui_port: int) -> list[dict[str, Any]]:
    """The driver's running stages (its REST API), or [] while it is not up."""
    base = f"http://{host}:{ui_port}/api/v1/applications"
    try:
        with urllib.request.urlopen(base, timeout=2) as resp:
            apps = json.load(resp)
        with urllib.request.urlopen(f"{base}/{apps[0]['id']}/stages?status=active", timeout=2) as resp:
            return list(json.load(resp))
    except (OSError, ValueError, IndexError, KeyError):
        return []


def wait_until(
    condition: Any, job: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 400
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if job.poll() is not None:
            pytest.fail(f"the job ended (rc {job.returncode}) before {what}:\n{tail(log)}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def tail(log: Path, lines: int = 60) -> str:
    """The end of a job's output, Java frames left out."""
    kept = [line for line in log.read_text(errors="replace").splitlines() if not line.startswith("\tat ")]
    return "\n".join(kept[-lines:])


def error_lines(log: Path, name: str) -> list[str]:
    return [
        line for line in log.read_text(errors="replace").splitlines() if line.startswith(f"{name}: error:")
    ]


def wait_for_exit(job: subprocess.Popen[bytes], log: Path, what: str, timeout: float) -> int:
    """The job's exit code, or a failure that shows why it did not end within `timeout`."""
    try:
        return job.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the job did not end within {timeout:.0f} s of {what}:\n{tail(log, 120)}")
