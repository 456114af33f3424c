"""scripts/k8s.sh refuses to start in one line naming what is missing, and exits non-zero."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.k8s.k8s_support import REPO

pytestmark = pytest.mark.k8s

SCRIPT = REPO / "scripts" / "k8s.sh"


def _up(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "up"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "K8S_STATE_DIR": str(tmp_path / "state"), **env},
    )


def test_a_binary_that_did_not_build_is_named(tmp_path: Path) -> None:
    proc = _up(tmp_path, DATAPLATFORM_CACHE=str(tmp_path / "empty-cache"))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"k8s: {tmp_path}/empty-cache/k8s/v1.34.4/bin/etcd missing:"
        " run scripts/build_k8s.sh (or make k8s-binaries)"
    ]
    assert not (tmp_path / "state").exists()


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _up(tmp_path, K8S_API_PORT=str(port))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"k8s: port {port} is in use (another cluster? run scripts/k8s.sh down)"
    ]
