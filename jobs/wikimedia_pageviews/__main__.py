"""`python -m jobs.wikimedia_pageviews ...` and `spark-submit jobs/wikimedia_pageviews/__main__.py ...`."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script: put the project on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.cli import run_job
from jobs.wikimedia_pageviews.cli import build_parser
from jobs.wikimedia_pageviews.job import main


def _main() -> int:
    args = build_parser().parse_args()

    return run_job("wikimedia_pageviews", lambda job: main(args, job), args)


if __name__ == "__main__":
    raise SystemExit(_main())
