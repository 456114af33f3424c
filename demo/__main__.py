"""`python -m demo` (what `make demo` runs): the whole platform offline, in one command.

Starts the local services if they are down, the three source emulators on sample data, runs the
three jobs with the embedded default (LAKE_ROOT=./lake, Spark local mode), prints a summary, then
serves the API and dashboard until Ctrl-C, and stops everything it started.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from common.cli import run_entry
from common.logging import setup_logging
from demo.pipeline import ROOT, run_demo, summary

log = logging.getLogger("demo")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _services(action: str) -> None:
    rc = subprocess.run([str(ROOT / "scripts" / "services.sh"), action], cwd=ROOT).returncode
    if rc != 0:
        from common.errors import PlatformError

        raise PlatformError(f"scripts/services.sh {action} failed (run `make setup` first?)")


def serve_api(env: dict[str, str], host: str, port: int) -> None:
    """Serve the API in a child process until Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "--host", host, "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            if _port_open(host, port) or proc.poll() is not None:
                break
            time.sleep(0.2)
        if proc.poll() is not None:
            from common.errors import PlatformError

            raise PlatformError(f"the API exited at start-up (port {port} busy? set API_PORT)")
        print(
            f"\nDashboard: http://{host}:{port}/   API docs: http://{host}:{port}/docs   (Ctrl-C to stop)\n"
        )
        proc.wait()
    except KeyboardInterrupt:
        print("\nstopping the API and the services the demo started")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--no-serve", action="store_true", help="stop after the jobs and the summary")
    parser.add_argument("--sources", default=str(ROOT / ".demo" / "sources"), help="sample sources folder")
    args = parser.parse_args()
    setup_logging()
    lake_root = os.environ.get("LAKE_ROOT", "./lake")
    host = os.environ.get("API_HOST", "127.0.0.1")
    port = int(os.environ.get("API_PORT", "8000"))

    def _run() -> int:
        started_services = not (_port_open("127.0.0.1", 9000) and _port_open("127.0.0.1", 27017))
        if started_services:
            _services("start")
        try:
            run = run_demo(Path(args.sources), lake_root)
            print("\nWhat the jobs produced:")
            for line in summary(run):
                print(f"  {line}")
            if not args.no_serve:
                serve_api(run.env, host, port)
        finally:
            if started_services:
                _services("stop")
        return 0

    return run_entry("demo", _run)


if __name__ == "__main__":
    raise SystemExit(main())
