"""A newcomer's first command, cold: `make demo` on a fresh clone with empty caches, to the dashboard.

Clones the checkout's HEAD into a temporary folder and runs `make demo` there with a fresh HOME, so
pip, Maven, npm and Go download and build everything again (the Go module proxy, PyPI, Maven
Central, npm), as on a new machine; the local services are reused when already up (starting them
takes seconds). Timed from the command to the dashboard's line; the demo is then stopped.
Needs the network and takes minutes: `make bench` runs it only when asked (`BENCH=demo_cold`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.results_file import write_result

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "demo_cold.json"
TARGET_SECONDS = 360  # issue 31: at most 6 minutes cold
READY = re.compile(r"demo setup: (\w+) ready \((\d+) s\)")
JOB_DONE = re.compile(r"\[(\w+)\] (\S+) INFO common.ledger: run \S+ of \w+ (started|recorded as succeeded)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="demo-cold-"))
    try:
        repo, home = work / "repo", work / "home"
        home.mkdir()
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        env = {**os.environ, "HOME": str(home), "API_PORT": str(_free_port())}
        env.setdefault("PYENV_ROOT", str(Path.home() / ".pyenv"))  # the interpreter, not a cache
        log = work / "demo.log"
        began = time.monotonic()
        with log.open("wb") as out:
            demo = subprocess.Popen(
                ["make", "demo"],
                cwd=repo,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        seconds = None
        while demo.poll() is None:
            if "Dashboard: http" in log.read_text(errors="replace"):
                seconds = time.monotonic() - began
                break
            time.sleep(0.5)
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
        text = log.read_text(errors="replace")
        if seconds is None:
            raise SystemExit(f"make demo ended without a dashboard:\n{text[-3000:]}")
        result = {
            "benchmark": "demo_cold",
            "command": "make demo (fresh clone, empty HOME: pip, Maven, npm and Go caches empty)",
            "to_dashboard_s": round(seconds, 1),
            "target_s": TARGET_SECONDS,
            "meets_target": seconds <= TARGET_SECONDS,
            "setup_steps_s": {name: int(s) for name, s in READY.findall(text)},
            "job_log_lines": [" ".join(m) for m in JOB_DONE.findall(text)],
            "cpus": os.cpu_count(),
        }
        write_result(RESULT, result, load_before)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
