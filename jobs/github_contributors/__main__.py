"""`python -m jobs.github_contributors ...` and `spark-submit jobs/github_contributors/__main__.py ...`."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # spark-submit runs this file as a script: make the project importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.cli import run_job
from jobs.github_contributors.cli import build_parser
from jobs.github_contributors.job import NAME, main


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_job(NAME, lambda job: main(args, job), args)


if __name__ == "__main__":
    raise SystemExit(_main())
