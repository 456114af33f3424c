"""The dashboard in headless Debian chromium (Playwright, no browser download): chart, tables, offline."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Route, sync_playwright

from api.main import create_app
from api.settings import ApiSettings
from emulators import lake_data

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
VENDOR = Path(__file__).resolve().parents[2] / "api" / "static" / "vendor" / "chart.umd.min.js"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(filled_settings: ApiSettings) -> Iterator[str]:
    """The app under uvicorn in a thread on a free port; its base URL."""
    port = _free_port()
    config = uvicorn.Config(create_app(filled_settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_dashboard_renders_chart_and_tables(served: str) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: run scripts/setup_web.sh (Debian package chromium)")
    if not VENDOR.is_file():
        pytest.fail("Chart.js not vendored: run scripts/setup_web.sh")

    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def only_local(route: Route) -> None:
                if route.request.url.startswith(served):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(served + "/")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)

            canvas = page.locator("#contributors-chart")
            assert canvas.get_attribute("data-repo") == "alpha"
            assert canvas.get_attribute("data-points") == str(len(lake_data.ALPHA))

            page.select_option("#repo-select", "beta")
            page.wait_for_selector("#contributors-chart[data-repo=beta][data-ready=true]", timeout=10_000)
            assert canvas.get_attribute("data-points") == "3"
            lengths = page.evaluate(
                "Chart.getChart('contributors-chart').data.datasets.map(d => [d.type, d.data.length])"
            )
            assert lengths == [["bar", 3], ["line", 3]]

            page.select_option("#repo-select", "alpha")
            page.wait_for_selector("#contributors-chart[data-repo=alpha][data-ready=true]", timeout=10_000)
            cumulative = page.evaluate("Chart.getChart('contributors-chart').data.datasets[1].data")
            assert cumulative == [2, 2, 5, 6, 6, 10]

            assert page.locator("#wiki-table tbody tr").count() == 2
            first_day = page.locator("#wiki-table tbody tr").first.inner_text()
            assert "Dog_(animal)" in first_day and "Mammals" in first_day
            assert page.locator("#datagouv-table tbody tr").count() == 4
            assert "2024-05-08" in page.locator("#datagouv-date").inner_text()
            for status in ("github-status", "wiki-status", "datagouv-status"):
                assert page.locator(f"#{status}").inner_text() == ""

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert outside == []  # everything, the chart library included, came from the API itself
