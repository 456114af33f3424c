"""Entry point: `python -m jobs.datagouv_catalog` or `spark-submit jobs/datagouv_catalog/__main__.py`."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by spark-submit: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.cli import run_job
from jobs.datagouv_catalog.cli import build_parser
from jobs.datagouv_catalog.job import main


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_job("datagouv_catalog", lambda job: main(args, job), args)


if __name__ == "__main__":
    raise SystemExit(_main())
