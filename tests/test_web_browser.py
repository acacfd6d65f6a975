"""A real Chromium (Debian's, through Playwright) against a real `commitments serve` process on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.api_world import free_port
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]
COMMITMENTS = str(Path(sys.executable).with_name("commitments"))
CHROMIUM = "/usr/bin/chromium"
# The README's screenshots: `COMMITMENTS_SCREENSHOTS=docs .venv/bin/pytest tests/test_web_browser.py` refreshes them.
SCREENSHOTS = os.environ.get("COMMITMENTS_SCREENSHOTS")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-default-apps", "--disable-extensions"]


@dataclass
class LiveServer:
    base_url: str
    database_url: str
    process: subprocess.Popen[str]

    def cli(self, *args: str) -> str:
        done = subprocess.run([COMMITMENTS, "--db", self.database_url, *args], capture_output=True, text=True,
                              timeout=60, check=True)
        return done.stdout


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """`commitments serve --demo` on a fresh SQLite file; stopped with SIGTERM, which must end it cleanly."""
    database_url = f"sqlite:///{tmp_path / 'commitments.db'}"
    port = free_port()
    env = {**os.environ, "COMMITMENTS_WEB_DEFAULT_LANGUAGE": "en"}
    process = subprocess.Popen([COMMITMENTS, "--db", database_url, "serve", "--demo", "--no-scheduler",
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env)
    server = LiveServer(f"http://127.0.0.1:{port}", database_url, process)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"serve exited early: {process.stdout.read() if process.stdout else ''}"
            assert time.monotonic() < deadline, "serve did not answer /healthz within 60 s"
            time.sleep(0.3)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    assert "Application shutdown complete" in output, output


@pytest.fixture
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the browser test must run, not skip)")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
            yield context.new_page()
        finally:
            browser.close()


@pytest.mark.slow
def test_an_official_reports_progress_on_an_overdue_milestone_in_the_browser(live_server: LiveServer, page: Page,
                                                                               tmp_path: Path) -> None:
    shots = ROOT / SCREENSHOTS if SCREENSHOTS else tmp_path
    token = json.loads(live_server.cli("users", "add", "oncf-official", "--role", "official", "--org", "ONCF",
                                       "--json"))["token"]
    live_server.cli("fund", "rail-test-platform", "--amount", "250000000", "--fund", "Industrial Acceleration Fund",
                    "--purpose", "Rail test bench", "--effective-on", "2026-02-01")
    live_server.cli("disburse", "rail-test-platform", "--amount", "40000000", "--value-date", "2026-05-15",
                    "--tranche", "T1", "--effective-on", "2026-05-15")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    # The dashboard asks for a token first.
    page.goto(f"{live_server.base_url}/")
    expect(page).to_have_url(f"{live_server.base_url}/signin?next=%2F")
    page.fill("#token", "ct_wrong")
    page.click("form[action='/signin'] button")
    expect(page.locator(".error")).to_have_text("This token is unknown or revoked.")
    page.fill("#token", token)
    page.click("form[action='/signin'] button")

    expect(page).to_have_url(f"{live_server.base_url}/")
    problems.clear()  # the refused token above was answered 401, which the browser logs
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("table#agreements tbody tr")).to_have_count(5)
    rail_row = page.locator("table#agreements tr[data-ref='rail-test-platform']")
    expect(rail_row.locator(".badge.overdue")).to_have_text("2 · overdue")
    expect(page.locator(".overdue-list tr[data-ref='rail-test-platform'][data-milestone='feasibility-study']")).to_have_count(1)
    _chart_drawn(page, "dashboard-funding-chart")
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

    # The agreement page: marked overdue, with both charts drawn from the vendored Chart.js.
    rail_row.locator("a").first.click()
    expect(page).to_have_url(f"{live_server.base_url}/agreements/rail-test-platform")
    expect(page.locator("#overdue-flag")).to_have_text("overdue (2)")
    expect(page.locator("#milestones tr[data-milestone='feasibility-study'] .badge.overdue")).to_have_text("overdue")
    _chart_drawn(page, "timeline-chart")
    _chart_drawn(page, "funding-chart")

    # Report progress through the form; it shows at the top of the history, recorded as this official.
    page.click("details[data-milestone='feasibility-study'] summary")
    form = page.locator("details[data-milestone='feasibility-study'] form.progress-form")
    form.locator("input[name='percent']").fill("75")
    form.locator("textarea[name='note']").fill("Bench design approved by the steering committee")
    form.locator("button").click()
    expect(page).to_have_url(f"{live_server.base_url}/agreements/rail-test-platform?done=progress#history")
    expect(page.locator(".notice")).to_have_text("Recorded.")
    latest = page.locator("#history-table tbody tr").first
    expect(latest).to_have_attribute("data-type", "MilestoneProgressReported")
    expect(latest).to_contain_text("user:oncf-official")
    expect(latest).to_contain_text("Bench design approved by the steering committee")
    expect(page.locator("#milestones tr[data-milestone='feasibility-study']")).to_contain_text("75%")
    page.screenshot(path=str(shots / "agreement.png"), full_page=True)

    # The same page in Arabic is right to left.
    page.click("nav.languages a[lang='ar']")
    expect(page).to_have_url(f"{live_server.base_url}/agreements/rail-test-platform")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.locator("#overdue-flag")).to_have_text("متأخر (2)")
    _chart_drawn(page, "timeline-chart")
    page.screenshot(path=str(shots / "agreement-ar.png"), full_page=False)

    # The API saw the same write, and the page loaded nothing that the content security policy refused.
    history = httpx.get(f"{live_server.base_url}/api/agreements/rail-test-platform/history?offset=7&limit=10",
                        headers={"Authorization": f"Bearer {token}"}).json()
    assert [(e["type"], e["actor"], e["data"]["percent"]) for e in history["items"]] == [
        ("MilestoneProgressReported", "user:oncf-official", 75)]
    assert problems == []


def _chart_drawn(page: Page, canvas_id: str) -> None:
    drawn = page.evaluate("id => { const c = Chart.getChart(document.getElementById(id));"
                          " return c ? c.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0; }", canvas_id)
    assert drawn > 0, f"chart {canvas_id} has no data"


