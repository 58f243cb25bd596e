"""A real browser (Playwright driving Debian's chromium) on the web app served by uvicorn:
an analyst signs in, triages an alert, opens an incident from it, adds a task and an indicator,
and sees a new alert appear without reloading. Hostile event fields are on the pages: no dialog
opens, no script runs, no console error (a CSP violation is one), the layout holds on a phone."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browsing import WAIT_SECONDS, live
from tests.web.conftest import PASSWORD
from tests.web.livestore import serve_web_app, stop_web_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(  # a failure in CI, which installs it (tests/conftest.py)
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)",
    ),
]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    env.update(
        SENTINELLE_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="sentinelle.web.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


def store(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.web.livestore", str(data_dir), *args],
        cwd=ROOT,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


@dataclass
class Server:
    url: str
    data_dir: Path
    hostile_id: str
    incident_id: str


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # A folder of its own rather than pytest's: the server outlives single tests, and pytest
    # prunes old temporary folders of the same user (another run on the machine) meanwhile.
    with tempfile.TemporaryDirectory(prefix="sentinelle-web-") as folder:
        yield from _serve(Path(folder))


def _serve(data_dir: Path) -> Iterator[Server]:
    hostile_id, incident_id = store(data_dir, "seed").split()
    process, port = serve_web_app(data_dir)
    try:
        yield Server(f"http://127.0.0.1:{port}", data_dir, hostile_id, incident_id)
    finally:
        stop_web_app(process)


@dataclass
class Watch:
    """What must never happen on our pages."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def sign_in(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(f"{server.url}/alerts/")


def test_an_analyst_triages_opens_an_incident_and_sees_alerts_arrive(
    server: Server, browser: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    sign_in(page, server)
    rows = page.locator("#alert-rows tr")
    assert rows.count() == 6
    assert page.locator("text=Seeded alert 3").count() == 1

    # Triage: acknowledge one alert.
    target = page.locator("tr", has_text="Seeded alert 3")
    target.locator("input[name=alert]").check()
    page.select_option("#triage select[name=action]", "acknowledge")
    page.click("#triage button[type=submit]")
    page.wait_for_url(f"{server.url}/alerts/")
    assert "acknowledged" in page.locator("tr", has_text="Seeded alert 3").inner_text().lower() or (
        "prise en compte" in page.locator("tr", has_text="Seeded alert 3").inner_text().lower()
    )

    # Open an incident from it.
    page.locator("tr", has_text="Seeded alert 3").locator("input[name=alert]").check()
    page.select_option("#triage select[name=action]", "open_incident")
    page.fill("#triage input[name=title]", "Browser-made incident")
    page.click("#triage button[type=submit]")
    page.wait_for_url("**/incidents/*/")
    assert page.locator("h1", has_text="Browser-made incident").count() == 1
    assert page.locator("#timeline", has_text="Seeded alert 3").count() == 1

    # A task and an indicator.
    page.fill("#task-form input[name=title]", "Isolate the workstation")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#tasks li:has-text('Isolate the workstation')")
    page.select_option("#indicator-form select[name=kind]", "ipv4-addr")
    page.fill("#indicator-form input[name=value]", "198.51.100.23")
    page.click("#indicator-form button[type=submit]")
    page.wait_for_selector("#indicators li:has-text('198.51.100.23')")

    # A new alert appears in the open list without a reload.
    page.goto(f"{server.url}/alerts/")
    live(page)
    page.evaluate("window.sentinelleNotReloaded = true")
    store(server.data_dir, "alert", "Arrived while watching")
    expect(page.locator("#alert-rows tr", has_text="Arrived while watching")).to_have_count(
        1, timeout=WAIT_SECONDS * 1000
    )
    assert page.evaluate("window.sentinelleNotReloaded") is True
    assert page.locator("#alert-rows tr").first.inner_text().find("Arrived while watching") >= 0
    assert page.locator("#live-count").inner_text() == "1"

    assert watch.dialogs == [] and watch.errors == []
    context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_hostile_fields_neither_run_nor_break_the_layout(
    server: Server, browser: Any, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    sign_in(page, server)
    for path in ("/alerts/", f"/alerts/{server.hostile_id}/", "/alerts/?host=%22%3E%3Cscript%3E"):
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("load")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} at {width}px is {overflow}px wider than the screen"
        assert page.evaluate("document.querySelectorAll('img[src=x], svg').length") == 0
    page.goto(f"{server.url}/alerts/{server.hostile_id}/")
    assert "\\u202e" in page.content()
    assert watch.dialogs == [] and watch.errors == []
    context.close()
