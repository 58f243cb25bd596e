"""Waiting in a real browser without evaluating code in a page that forbids it.

Our pages (the web app's Content-Security-Policy, the hunt report's meta policy) refuse
``unsafe-eval``. Playwright's ``wait_for_function`` compiles its predicate in the page with
``new Function``: chromium allows that only during the DevTools call that starts the wait, so the
first check passes and a later one, if the condition was not yet true, fails with an EvalError
at random. ``tests/test_browser_waits.py`` keeps it out of the tests and benchmarks.

Wait instead with Playwright's locator assertions (``expect(locator).to_have_text(...)``,
``to_have_count``), which retry in Playwright's own script, or with :func:`until`, which polls
from Python (each ``page.evaluate`` is its own DevTools call).
"""

from __future__ import annotations

import time
from typing import Any

WAIT_SECONDS = 30.0  # generous: the machine may be loaded; a wait ends as soon as it holds


def until(page: Any, expression: str, seconds: float = WAIT_SECONDS) -> Any:
    """Poll ``expression`` in ``page`` from Python until it is truthy; its value."""
    deadline = time.monotonic() + seconds
    while not (value := page.evaluate(expression)):
        assert time.monotonic() < deadline, f"still false after {seconds} s: {expression}"
        time.sleep(0.05)
    return value


def live(page: Any, seconds: float = WAIT_SECONDS) -> None:
    """Wait until the page's live stream is open: ``#live-status`` shows its ``data-on`` text
    (``static/sentinelle/app.js`` writes it at the stream's ``open`` event)."""
    from playwright.sync_api import expect

    status = page.locator("#live-status")
    expect(status).to_have_text(status.get_attribute("data-on") or "", timeout=seconds * 1000)
