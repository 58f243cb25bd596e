"""Benchmark of the hunt's outputs (issue 16): writers' speed and the HTML report in a browser.

1. The detections of the whole shared corpus (one real hunt, every SigmaHQ Windows rule,
   JSONL timeline) replayed 1 and 10 times (each copy a site of its own, a day later) through
   every writer: detections/s of each against the JSONL writer, the baseline, in this run.
2. The HTML report of those detections opened in Debian's chromium (Playwright): file size,
   load time and first paint against those of a one-paragraph page in the same browser, and
   the page's height (every group closed, and every group open).

Usage: ``.venv/bin/python bench/hunt_outputs.py [--copies 1 10]``
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' replay and browser

from tests.browsing import until
from tests.hunt.helpers import CHROMIUM, CHROMIUM_ARGS, replay_timeline

from _common import ratio
from sentinelle.detections import Detection
from sentinelle.hunt.outputs import open_writer
from sentinelle.hunt.outputs.html import HtmlWriter
from sentinelle.hunt.summary import HuntSummary
from sentinelle.paths import shared_data_dir

FIRST_PAINT = "performance.getEntriesByType('paint').length > 1"
TIMING = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByType('paint')
    .find(p => p.name === 'first-contentful-paint');
  return {load_ms: nav.loadEventEnd, paint_ms: paint ? paint.startTime : 0,
          height: document.documentElement.scrollHeight};
}"""


def corpus_timeline(folder: Path) -> Path:
    data = shared_data_dir()
    out = folder / "timeline.jsonl"
    cmd = [sys.executable, "-m", "sentinelle.cli.main", "hunt", str(data / "evtx" / "mitre")]
    cmd += ["--rules", str(data / "sigma" / "rules" / "windows"), "-o", str(out), "-q"]
    subprocess.run(cmd, check=True, env=os.environ.copy())
    return out


def _stream_writer(fmt: str) -> Any:
    return open_writer(fmt, io.StringIO(), width=160)


def time_writer(make: Callable[[], Any], dets: list[Detection]) -> float:
    best = float("inf")
    for _ in range(3):
        summary = HuntSummary(files=1, events=len(dets))
        writer = make()
        start = time.perf_counter()
        for det in dets:
            summary.add(det)
            writer.write(det)
        writer.close(summary)
        best = min(best, time.perf_counter() - start)
    return len(dets) / best


def open_in_browser(browser: Any, path: Path) -> dict[str, Any]:
    best: dict[str, Any] = {}
    for _ in range(3):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(path.as_uri(), wait_until="load")
        until(page, FIRST_PAINT)
        figures = page.evaluate(TIMING)
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        figures["height_open"] = page.evaluate("document.documentElement.scrollHeight")
        page.close()
        if not best or figures["load_ms"] < best["load_ms"]:
            best = figures
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sentinelle-bench-") as tmp:
        folder = Path(tmp)
        timeline = corpus_timeline(folder)
        plain = folder / "plain.html"
        plain.write_text("<!DOCTYPE html><html><body><p>baseline</p></body></html>")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            base = open_in_browser(browser, plain)
            for copies in args.copies:
                dets = replay_timeline(timeline, copies)
                rates = {
                    fmt: time_writer(functools.partial(_stream_writer, fmt), dets)
                    for fmt in ("jsonl", "csv", "timesketch", "table")
                }
                report = folder / f"report-{copies}.html"
                rates["html"] = time_writer(functools.partial(HtmlWriter, report), dets)
                print(f"\n{copies}x corpus: {len(dets):,} detections")
                for fmt, rate in rates.items():
                    print(
                        f"  {fmt:<10} {rate:>10,.0f} detections/s  "
                        f"{ratio(rate, rates['jsonl']):.2f} of jsonl"
                    )
                shown = open_in_browser(browser, report)
                print(
                    f"  html report {report.stat().st_size / 1e6:.2f} MB, load "
                    f"{shown['load_ms']:.0f} ms ({ratio(shown['load_ms'], base['load_ms']):.1f}x "
                    f"a one-paragraph page), first paint {shown['paint_ms']:.0f} ms "
                    f"({ratio(shown['paint_ms'], base['paint_ms']):.1f}x), height "
                    f"{shown['height']:,} px ({shown['height_open']:,} px all groups open)"
                )
            browser.close()


if __name__ == "__main__":
    main()
