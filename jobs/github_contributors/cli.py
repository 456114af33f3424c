"""Command line of `python -m jobs.github_contributors` (importable without starting Spark)."""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

from common.cli import add_settings_flags, iso_date

ORG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


def org_name(text: str) -> str:
    """argparse type: a GitHub organization login (letters, digits, hyphens; at most 39)."""
    if not ORG_RE.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a GitHub organization name")
    return text


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments end with one `prog: error: ...` line (exit 2), as every job error does."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m jobs.github_contributors",
        description="Crawl an organization's commits and compute monthly new contributors per repository.",
    )
    parser.add_argument("--org", required=True, type=org_name, help="GitHub organization, e.g. facebook")
    parser.add_argument(
        "--run-date",
        type=iso_date,
        default=None,
        help="last month of the series (YYYY-MM-DD, default today UTC)",
    )
    parser.add_argument(
        "--full-refresh", action="store_true", help="forget the crawl state and refetch every repository"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="concurrent requests in all (partitions x threads)"
    )
    add_settings_flags(parser)
    return parser
