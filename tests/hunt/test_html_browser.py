"""The HTML report in a real browser (Debian's chromium, driven by Playwright) at the size of
the corpus and ten times it: it loads, its height and size stay bounded, no word is broken.

The figures (size, load time, first paint, height) are written to the test log (``-s`` shows
them; ``docs/PERFORMANCE.md``, "Hunt outputs", keeps them). Chromium is a system package: the
tests skip with the reason when it or Playwright is missing (a failure in CI, which installs
chromium: ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browsing import until
from tests.hunt.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    hunt_env,
    replay_timeline,
    run_hunt,
    write_report,
)

MAX_HEIGHT = 12_000  # CSS pixels, every group closed (the old report: 800,000 at 1x)
MAX_BYTES = 2_500_000  # whatever the hunt (the old report: 15 MB at 10x)

# Every one-line cell is one line high, and example details may wrap only between words.
_LAYOUT = """() => {
  const broken = [];
  for (const el of document.querySelectorAll('.c, .open td:not(.ex)')) {
    const line = parseFloat(getComputedStyle(el).lineHeight) || 20;
    if (el.getBoundingClientRect().height > line * 1.6 && el.textContent.length) {
      broken.push(el.textContent.slice(0, 80));
    }
  }
  for (const el of document.querySelectorAll('pre.detail')) {
    const s = getComputedStyle(el);
    if (s.wordBreak !== 'normal' || s.overflowWrap !== 'normal' || s.whiteSpace !== 'pre-wrap') {
      broken.push('detail style ' + s.wordBreak + ' ' + s.overflowWrap);
    }
  }
  return broken;
}"""
_FIRST_PAINT = "performance.getEntriesByType('paint').length > 1"
_TIMING = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByType('paint')
    .find(p => p.name === 'first-contentful-paint');
  return {load_ms: nav.loadEventEnd, paint_ms: paint ? paint.startTime : null,
          height: document.documentElement.scrollHeight};
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run the browser tests")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _open(browser: Any, report: Path, shot: Path) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(report.as_uri(), wait_until="load")
        until(page, _FIRST_PAINT)
        figures: dict[str, Any] = page.evaluate(_TIMING)
        page.screenshot(path=str(shot))
        figures["broken"] = page.evaluate(_LAYOUT)
        page.locator("details.rules").first.locator("summary").click()
        figures["broken_open"] = page.evaluate(_LAYOUT)
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        figures["height_all_open"] = page.evaluate("document.documentElement.scrollHeight")
        figures["size"] = report.stat().st_size
        figures["shot"] = shot.stat().st_size
    finally:
        page.close()
    return figures


def _log(label: str, figures: dict[str, Any]) -> None:
    print(
        f"\nHTML report {label}: {figures['size'] / 1e6:.2f} MB, load {figures['load_ms']:.0f} ms, "
        f"first paint {figures['paint_ms']:.0f} ms, height {figures['height']:,} px "
        f"({figures['height_all_open']:,} px with every group open)"
    )


def test_hostile_text_renders_as_text_in_the_browser(browser: Any, tmp_path: Path) -> None:
    from tests.hunt.helpers import make_detection

    hostile = '<img src=x onerror="document.title=1"><script>document.title=2</script>'
    det = make_detection({"CommandLine": hostile + " " + "A" * 3000}, title=hostile)
    report = write_report([det], tmp_path / "r.html")
    figures = _open(browser, report, tmp_path / "r.png")
    assert figures["broken"] == [] and figures["broken_open"] == []
    page = browser.new_page()
    try:
        page.goto(report.as_uri())
        assert page.title() == "Sentinelle hunt"  # neither the image handler nor the script ran
        assert hostile in page.locator("details.rules summary").first.inner_text()
    finally:
        page.close()


@pytest.fixture(scope="module")
def corpus_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The real hunt of the whole corpus with every SigmaHQ Windows rule: its JSONL timeline
    and the HTML report it wrote beside it."""
    folder = tmp_path_factory.mktemp("html")
    env = hunt_env(tmp_path_factory.getbasetemp() / "corpus-home")
    timeline, report = folder / "timeline.jsonl", folder / "report.html"
    proc = run_hunt(
        env,
        str(shared_data / "evtx" / "mitre"),
        "--rules",
        str(shared_data / "sigma" / "rules" / "windows"),
        "-o",
        str(timeline),
        "--html",
        str(report),
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    return timeline, report


@pytest.mark.corpus
def test_the_corpus_report_loads_bounded_and_unbroken(
    browser: Any, corpus_run: tuple[Path, Path], tmp_path: Path
) -> None:
    timeline, report = corpus_run
    figures = _open(browser, report, tmp_path / "corpus-1x.png")
    _log("1x corpus", figures)
    assert figures["shot"] > 10_000  # a screenshot of a drawn page, not a blank one
    assert figures["broken"] == [] and figures["broken_open"] == []
    assert figures["height"] <= MAX_HEIGHT
    assert figures["size"] <= MAX_BYTES
    text = report.read_text(encoding="utf-8")
    assert str(timeline) in text  # points to the full timeline
    assert "Detections by rule" in text and "Detections by host" in text and "<svg" in text


@pytest.mark.corpus
def test_ten_times_the_corpus_stays_bounded(
    browser: Any, corpus_run: tuple[Path, Path], tmp_path: Path
) -> None:
    timeline, _ = corpus_run
    dets = replay_timeline(timeline, copies=10)
    assert len(dets) > 10_000
    report = write_report(dets, tmp_path / "report-10x.html")
    figures = _open(browser, report, tmp_path / "corpus-10x.png")
    _log("10x corpus", figures)
    assert figures["broken"] == [] and figures["broken_open"] == []
    assert figures["height"] <= MAX_HEIGHT
    assert figures["size"] <= MAX_BYTES
    text = report.read_text(encoding="utf-8")
    assert "more hosts with" in text  # ten sites: the hosts past the list are counted, not shown
    assert f"{len(dets):,} detections" in text
