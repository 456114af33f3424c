"""`python -m api`: serve the API with uvicorn on API_HOST:API_PORT (API_WORKERS processes)."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from api.settings import load_api_settings
from common.cli import run_entry

log = logging.getLogger("api")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host", help="listen address (env API_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (env API_PORT, default 8000)")
    parser.add_argument("--workers", type=int, help="worker processes (env API_WORKERS, default 2)")
    parser.add_argument("--lake-root", help="LAKE_ROOT (local path or s3a://bucket/prefix)")
    parser.add_argument("--access-log", action="store_true", default=None, help="log every request")
    return parser


def main(args: argparse.Namespace) -> None:
    settings = load_api_settings(
        api_host=args.host,
        api_port=args.port,
        api_workers=args.workers,
        lake_root=args.lake_root,
        api_access_log=args.access_log,
    )
    log.info(
        "serving LAKE_ROOT=%s on http://%s:%d with %d worker(s), tables checked every %.1f s",
        settings.lake_root,
        settings.api_host,
        settings.api_port,
        settings.api_workers,
        settings.api_refresh_seconds,
    )
    # Workers are separate processes that rebuild their settings from the environment: pass the flags on.
    os.environ.update(
        {
            "API_HOST": settings.api_host,
            "API_PORT": str(settings.api_port),
            "LAKE_ROOT": settings.lake_root,
            "API_ACCESS_LOG": str(settings.api_access_log).lower(),
        }
    )
    uvicorn.run(
        "api.main:app_from_env",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        loop="uvloop",
        http="httptools",
        access_log=settings.api_access_log,
        log_config=None,
        server_header=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    parser = build_parser()
    parsed = parser.parse_args()
    raise SystemExit(run_entry("api", lambda: main(parsed)))
