"""Credentials never reach a command line: the driver JVM that pyspark starts gets the S3 keys
through its gateway, not as `--conf` flags that any user of the machine reads in `ps`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import MINIO_ENDPOINT

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SESSION = """
from common.settings import load_settings
from common.spark import get_spark
spark = get_spark(load_settings(), "secrets-probe")
conf = spark.sparkContext._jsc.hadoopConfiguration()
print("up", conf.get("fs.s3a.access.key"), conf.get("fs.s3a.secret.key"), flush=True)
import sys; sys.stdin.read()
"""


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return found


def test_s3_keys_reach_the_jvm_but_no_command_line(tmp_path: Path) -> None:
    access, secret = f"AK{uuid.uuid4().hex[:10]}", f"SK{uuid.uuid4().hex}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SPARK_", "PYSPARK_"))},
        "LAKE_ROOT": f"s3a://lake-tests/{tmp_path.name}",
        "S3_ENDPOINT_URL": MINIO_ENDPOINT,
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SESSION], cwd=REPO, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line == ["up", access, secret], "the JVM did not get the keys"
        time.sleep(0.5)
        pids = _descendants(proc.pid)
        assert len(pids) >= 2, "no JVM was started"
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            assert secret not in cmdline and access not in cmdline, f"pid {pid}: {cmdline[:200]}"
    finally:
        proc.kill()
        proc.wait()


def test_a_mongo_password_given_as_a_flag_is_refused_in_one_line(tmp_path: Path) -> None:
    """A flag is in every user's process list: the password goes through MONGO_URI instead."""
    secret = f"pw{uuid.uuid4().hex[:12]}"
    lake = tmp_path / "lake"
    proc = subprocess.run(
        [
            sys.executable, "-m", "jobs.datagouv_catalog",
            "--lake-root", str(lake), "--mongo-uri", f"mongodb://app:{secret}@127.0.0.1:27017",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "datagouv_catalog: error: --mongo-uri: carries a password, which every user of the machine "
        "reads in the process list: set MONGO_URI in the environment instead"
    ]
    assert secret not in proc.stdout + proc.stderr
    assert not lake.exists()  # refused before the run opened: no ledger, no work
