"""Command line of `python -m jobs.datagouv_catalog` (importable without starting Spark)."""

from __future__ import annotations

import argparse
from pathlib import Path

from common.cli import add_settings_flags, iso_date


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.datagouv_catalog",
        description=(
            "Download the data.gouv.fr catalogue exports, export the mobility/transport datasets "
            "to s3://DATAGOUV_BUCKET/RUN_DATE/datasets.csv and store those of the top 30 "
            "organizations in MongoDB (datagouv.tops) and the lake (datagouv/tops)."
        ),
    )
    parser.add_argument(
        "--run-date", type=iso_date, default=None, help="YYYY-MM-DD (default: today in Europe/Paris)"
    )
    parser.add_argument(
        "--mongo-database", default=None, help="MONGO_DATABASE: database of the `tops` collection (datagouv)"
    )
    parser.add_argument(
        "--redownload",
        action="store_true",
        help="download the exports again even if this run date already landed them",
    )
    parser.add_argument("--summary-json", type=Path, default=None, help="write stage timings and counts here")
    add_settings_flags(parser)
    return parser
