"""Command line of the job (importable without starting Spark)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import date, timedelta

from common.cli import add_settings_flags, iso_date

_DUMP_DATE_RE = re.compile(r"^(latest|\d{8})$")
_WIKI_RE = re.compile(r"^[a-z][a-z0-9_]*wiki$")


def _dump_date(text: str) -> str:
    if not _DUMP_DATE_RE.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is neither 'latest' nor a dump date YYYYMMDD")
    return text


def _wiki(text: str) -> str:
    if not _WIKI_RE.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a Wikipedia database name such as enwiki")
    return text


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 366:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of days between 1 and 366")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.wikimedia_pageviews",
        description="Most/least requested Wikipedia article and top 5 categories per UTC day, "
        "from the hourly pageview dumps and the SQL dumps.",
    )
    parser.add_argument("--start-date", type=iso_date, required=True, help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--days", type=_days, default=7, help="number of days (default 7)")
    parser.add_argument("--wiki", type=_wiki, default="enwiki", help="wiki database name (default enwiki)")
    parser.add_argument(
        "--sql-dump-date", type=_dump_date, default="latest", help="SQL dumps to use: latest or YYYYMMDD"
    )
    parser.add_argument("--main-page", default="Main_Page", help="the wiki's main page, not an article")
    parser.add_argument(
        "--rebuild-dimensions",
        action="store_true",
        help="parse the SQL dumps again even when they did not change since the last build",
    )
    parser.add_argument("--download-workers", type=int, default=8, help="parallel downloads (default 8)")
    add_settings_flags(parser)
    return parser


@dataclass(frozen=True)
class Request:
    """What a run is asked to do, read once from the command line (the settings aside)."""

    wiki: str
    days: tuple[date, ...]
    main_page: str
    sql_dump_date: str
    rebuild_dimensions: bool
    download_workers: int

    @staticmethod
    def from_args(args: argparse.Namespace) -> Request:
        return Request(
            wiki=args.wiki,
            days=tuple(args.start_date + timedelta(days=i) for i in range(args.days)),
            main_page=args.main_page,
            sql_dump_date=args.sql_dump_date,
            rebuild_dimensions=args.rebuild_dimensions,
            download_workers=args.download_workers,
        )
