"""The command line and the default run date (Europe/Paris)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from jobs.datagouv_catalog.cli import build_parser
from jobs.datagouv_catalog.job import today_in_paris


@pytest.mark.unit
def test_parser_defaults_and_settings_flags() -> None:
    args = build_parser().parse_args([])
    assert args.run_date is None and args.redownload is False
    args = build_parser().parse_args(["--run-date", "2026-01-07", "--datagouv-bucket", "b"])
    assert args.run_date == date(2026, 1, 7) and args.datagouv_bucket == "b"


@pytest.mark.unit
def test_bad_run_date_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--run-date", "07/01/2026"])
    assert exc.value.code == 2


@pytest.mark.unit
def test_default_run_date_is_today_in_paris() -> None:
    assert today_in_paris(datetime(2026, 1, 6, 23, 30, tzinfo=UTC)) == date(2026, 1, 7)
    assert today_in_paris(datetime(2026, 7, 6, 21, 59, tzinfo=UTC)) == date(2026, 7, 6)
    assert today_in_paris(datetime(2026, 7, 6, 22, 0, tzinfo=UTC)) == date(2026, 7, 7)
