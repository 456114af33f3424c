"""The dashboard's additions in headless chromium: humans/bots switch, flagged titles, changes panel."""

from __future__ import annotations

import os
from datetime import date

import pyarrow as pa
import pytest
from playwright.sync_api import sync_playwright

from api.settings import ApiSettings
from common import tables
from emulators import lake_data
from tests.api.test_api_browser import ARGS, CHROMIUM, served

pytestmark = pytest.mark.browser
__all__ = ["served"]  # the fixture, shared with the dashboard's main browser test

TOP = pa.schema(
    [
        ("wiki", pa.string()),
        ("day", pa.date32()),
        ("rank", pa.int32()),
        ("title", pa.string()),
        ("views", pa.int64()),
        ("mobile_share", pa.float64()),
        ("peak_hour_share", pa.float64()),
        ("views_vs_previous", pa.float64()),
        ("flags", pa.list_(pa.string())),
        ("suspicious", pa.bool_()),
    ]
)


@pytest.fixture
def filled_settings(filled_settings: ApiSettings) -> ApiSettings:
    """The API fixtures plus a top whose most requested article is flagged."""
    day = date(2024, 3, 1)
    rows = [
        {"wiki": "enwiki", "day": day, "rank": r, "title": t, "views": v, "mobile_share": 0.0,
         "peak_hour_share": 0.9 if f else 0.1, "views_vs_previous": None, "flags": f, "suspicious": bool(f)}
        for r, t, v, f in [(1, "Dog_(animal)", 1000, ["peak_hour"]), (2, "Cat", 900, [])]
    ]  # fmt: skip
    lake_data.write(filled_settings, tables.WIKI_TOP_ARTICLES, TOP, rows)
    return filled_settings


def test_switch_flags_and_changes(served: str) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: run scripts/setup_web.sh (Debian package chromium)")
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(served + "/")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)

            page.select_option("#kind-select", "humans")
            page.wait_for_selector("#contributors-chart[data-kind=humans][data-ready=true]", timeout=10_000)
            label = page.evaluate("Chart.getChart('contributors-chart').data.datasets[0].label")
            assert label == "new human contributors"

            flagged = page.locator("#wiki-table tbody tr[data-day='2024-03-01'] .flag")
            assert flagged.get_attribute("data-flags") == "peak_hour"
            assert (
                "unflagged: Cat" in page.locator("#wiki-table tbody tr[data-day='2024-03-01']").inner_text()
            )
            assert page.locator("#wiki-table tbody tr[data-day='2024-03-02'] .flag").count() == 0

            assert "2024-05-01 → 2024-05-08" in page.locator("#changes-dates").inner_text()
            added = page.locator("#changes-table tbody tr[data-change=added]").inner_text()
            assert "3" in added and "Transport d0, Transport d2, Transport d3" in added  # titles, not ids
            assert page.locator("#changes-status").inner_text() == ""
        finally:
            browser.close()
    assert errors == []
