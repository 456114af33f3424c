"""The dashboard's runs panel in headless chromium: the last run of each job, a failure in red."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import sync_playwright

from api.settings import ApiSettings
from common import ledger
from common.settings import load_settings
from tests.api.test_api_browser import ARGS, CHROMIUM, served  # noqa: F401 - the served fixture

pytestmark = pytest.mark.browser


def test_runs_panel_shows_last_run_of_each_job(served: str, filled_settings: ApiSettings) -> None:  # noqa: F811
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: run scripts/setup_web.sh (Debian package chromium)")
    settings = load_settings(lake_root=filled_settings.lake_root)
    for job, error in (
        ("github_contributors", "an older failure, not shown"),
        ("github_contributors", None),
        ("datagouv_catalog", "MongoDB unreachable (ping) after 3 tries: connection refused"),
    ):
        ledger.close_run(ledger.open_run(job, settings, {}), error)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(served + "/")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            rows = page.locator("#runs-table tbody tr")
            assert rows.count() == 2
            failed = page.locator("#runs-table tr[data-job=datagouv_catalog]")
            assert failed.get_attribute("data-status") == "failed"
            assert "MongoDB unreachable" in failed.inner_text()
            color = failed.locator("td").first.evaluate("td => getComputedStyle(td).color")
            assert color == "rgb(185, 28, 28)"  # red
            ok = page.locator("#runs-table tr[data-job=github_contributors]")
            assert ok.get_attribute("data-status") == "succeeded"
            assert "older failure" not in ok.inner_text() and "ago" in ok.inner_text()
            assert page.locator("#runs-status").inner_text() == ""
        finally:
            browser.close()
