"""Helpers shared by the benchmarks: corpus discovery, peak memory of a child process, ratios.

Benchmarks print ratios against a baseline measured in the same run, because these machines are
noisy; absolute figures are printed too, for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import re
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sentinelle.paths import shared_data_dir


def mitre_evtx_files() -> list[Path]:
    """The EVTX files of the shared attack corpus, sorted; exits with a reason when absent."""
    root = shared_data_dir() / "evtx" / "mitre"
    files = sorted(root.rglob("*.evtx"))
    if not files:
        sys.exit(f"benchmark needs the shared EVTX corpus at {root} (set SENTINELLE_SHARED_DATA)")
    return files


def run_child_json(code: str, *args: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; return its last stdout line (JSON) plus peak RSS.

    Peak RSS is read from the child's own rusage, so each measurement starts from an empty
    process and one run cannot inflate the next.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # RUSAGE_CHILDREN is the max over all children so far; the child reports its own as well.
    result.setdefault("peak_rss_mb", max(after, before) / 1024)
    return result


def sqlite_regexp(pattern: str, value: Any) -> bool:
    """SQLite's REGEXP as the peer (Zircolite) defines it: a search; no value or a bad pattern
    is no match."""
    if value is None:
        return False
    try:
        return re.search(pattern, str(value)) is not None
    except re.error:
        return False


def sqlite_logs(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> sqlite3.Connection:
    """The peer's event store: an in-memory table ``logs`` with one case-insensitive text column
    per field (``rows`` give the cells in ``columns`` order) and REGEXP for the rules."""
    db = sqlite3.connect(":memory:")
    db.create_function("REGEXP", 2, sqlite_regexp, deterministic=True)
    cols = ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in columns)
    db.execute(f"CREATE TABLE logs (row_id INTEGER PRIMARY KEY, {cols})")
    marks = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    db.executemany(f"INSERT INTO logs ({names}) VALUES ({marks})", rows)
    return db


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")
