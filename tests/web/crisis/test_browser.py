"""A real browser (Playwright driving Debian's chromium, with part 1's fixtures) on the crisis
room served by uvicorn: a person of the crisis cell declares a service down and a screen open
in a second browser context changes without reloading, even across a restart of the server;
writes three log entries and a correction; declares an incident significant and sees the
clocks; prints the kit, whose PDF holds the contacts."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browsing import WAIT_SECONDS, live
from tests.web.conftest import PASSWORD
from tests.web.test_browser import CHROMIUM, ROOT, Watch, _env, browser

__all__ = ["browser"]  # part 1's fixture: one chromium for the module

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(  # a failure in CI, which installs it (tests/conftest.py)
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)",
    ),
]


def store(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.web.crisis.livestore", str(data_dir), *args],
        cwd=ROOT, env=_env(data_dir), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@dataclass
class Server:
    data_dir: Path
    port: int
    incident: str
    process: Any = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", "sentinelle.web.asgi:application"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        command += ["--timeout-graceful-shutdown", "2"]  # open streams do not hold a restart
        self.process = subprocess.Popen(command, cwd=ROOT, env=_env(self.data_dir))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="sentinelle-crisis-") as folder:
        data_dir = Path(folder)
        incident = store(data_dir, "seed")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        running = Server(data_dir, port, incident)
        running.start()
        try:
            yield running
        finally:
            running.stop()


def sign_in(page: Any, server: Server, name: str) -> None:
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url(f"{server.url}/alerts/")


def declare(page: Any, server: Server, site: str, service: str, status: str, why: str) -> None:
    page.goto(f"{server.url}/crisis/cell/{site}/{service}/")
    page.select_option("#declare-form select[name=status]", status)
    page.fill("#declare-form textarea[name=reason]", why)
    page.click("#declare-form button[type=submit]")
    page.wait_for_url(f"{server.url}/crisis/cell/{site}/{service}/")


def pdf_text(data: bytes) -> str:
    pypdf = pytest.importorskip("pypdf")
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_the_crisis_cell_at_work(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    wait_ms = WAIT_SECONDS * 1000
    cell = browser.new_context()
    page = cell.new_page()
    watch = Watch()
    watch.attach(page)
    sign_in(page, server, "cri")

    # A screen for the wall of the emergency department: its address, opened in another context.
    page.goto(f"{server.url}/crisis/screens/")
    page.fill("#screen-form input[name=name]", "Urgences Central")
    page.click("#screen-form button[type=submit]")
    address = page.locator("#new-address").inner_text()
    wall = browser.new_context(viewport={"width": 1920, "height": 1080})
    screen = wall.new_page()
    screen.goto(address)
    live(screen)
    screen.evaluate("window.sentinelleNotReloaded = true")
    assert screen.locator("#cell-cen-laboratory").get_attribute("data-status") == "operational"

    declare(page, server, "cen", "laboratory", "down", "Analyser room flooded")
    expect(screen.locator("#cell-cen-laboratory")).to_have_attribute(
        "data-status", "down", timeout=wait_ms
    )
    assert "Analyser room flooded" in screen.locator("#cell-cen-laboratory").inner_text()

    # The server restarts under the open screen: it reconnects by itself and goes on.
    server.stop()
    server.start()
    declare(page, server, "cen", "imaging", "degraded", "PACS viewer slow")
    expect(screen.locator("#cell-cen-imaging")).to_have_attribute(
        "data-status", "degraded", timeout=2 * wait_ms
    )
    assert screen.evaluate("window.sentinelleNotReloaded") is True

    # Three log entries and a correction.
    for kind, text in (
        ("decision", "Cut the internet at 02:10"),
        ("information", "Emergency departments on paper"),
        ("communication", "ARS called at 02:30"),
    ):
        page.goto(f"{server.url}/crisis/log/")
        page.select_option("#log-form select[name=kind]", kind)
        page.fill("#log-form textarea[name=text]", text)
        page.click("#log-form button[type=submit]")
        page.wait_for_selector(f"li.entry:has-text('{text}')")
    page.locator("li.entry", has_text="ARS called at 02:30").locator("a[href$='/correct/']").click()
    page.fill("#correction-form textarea[name=text]", "ARS and CERT Santé called at 02:30")
    page.click("#correction-form button[type=submit]")
    page.wait_for_selector("li.entry:has-text('ARS and CERT Santé called at 02:30')")
    assert page.locator("li.entry.corrected", has_text="ARS called at 02:30").count() == 1

    # The incident declared significant: the clocks start, on the board and on the wall.
    page.goto(f"{server.url}/incidents/{server.incident}/")
    page.click("#declare-significant")
    page.fill("#significance-form textarea[name=reason]", "Patient care disrupted")
    page.click("#significance-form button[type=submit]")
    page.wait_for_url(f"{server.url}/crisis/clocks/")
    page.goto(f"{server.url}/crisis/")
    assert page.locator("#board-clocks li.clock").count() == 5
    expect(screen.locator("#board-clocks li.clock")).to_have_count(5, timeout=wait_ms)
    assert screen.evaluate("window.sentinelleNotReloaded") is True

    # The kit: printed, the contacts are on the paper; its PDF holds them too.
    page.goto(f"{server.url}/crisis/kit/")
    page.emulate_media(media="print")
    contacts = page.locator("#contacts table.contacts")
    assert contacts.is_visible() and "Claire Martin" in contacts.inner_text()
    assert "06 12 34 56 78" in contacts.inner_text()
    page.emulate_media(media="screen")
    with page.expect_download() as download:
        page.click("a[href$='/kit/export.pdf']")
    text = pdf_text(Path(download.value.path()).read_bytes())
    assert "Claire Martin" in text and "06 12 34 56 78" in text

    assert watch.dialogs == [] and watch.errors == []
    cell.close()
    wall.close()


def test_viewers_read_the_board_and_cannot_declare(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    sign_in(page, server, "vic")
    page.goto(f"{server.url}/crisis/")
    assert page.locator("#board-grid").count() == 1
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1  # the grid scrolls inside its frame on a phone
    page.goto(f"{server.url}/crisis/cell/cen/laboratory/")
    assert page.locator("#declare-form").count() == 0
    assert watch.dialogs == [] and watch.errors == []
    context.close()
