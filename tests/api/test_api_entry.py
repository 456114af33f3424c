"""`python -m api`: serves on the configured port with uvicorn workers; bad settings end in one line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from api.settings import ApiSettings

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.e2e
def test_python_m_api_serves_the_lake(filled_settings: ApiSettings) -> None:
    port = _free_port()
    env = {**os.environ, "LAKE_ROOT": filled_settings.lake_root, "API_PORT": str(port), "API_WORKERS": "2"}
    server = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, body = time.monotonic() + 60, None
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/github/repos", timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                time.sleep(0.2)
        assert body is not None, "python -m api did not answer within 60 s"
        assert [r["repo"] for r in body["repos"]] == ["alpha", "beta"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "GET /github/repos" not in output  # access log off by default


@pytest.mark.unit
def test_bad_setting_is_one_line_and_exit_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api", "--port", "70000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("api: error: API_PORT")
