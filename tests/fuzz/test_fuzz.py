"""The fuzz targets in ``make test``: every seed replayed in this process, then a bounded
coverage-guided run of each target (``make fuzz`` runs them for longer)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from tests.fuzz import run

# Seconds per target in ``make test``: enough to explore past the seeds, short enough for CI.
BOUNDED_SECONDS = int(os.environ.get("SENTINELLE_FUZZ_SECONDS", "3"))


@pytest.mark.parametrize("name", run.targets())
def test_seed_corpus_replays(name: str) -> None:
    target = importlib.import_module(f"tests.fuzz.fuzz_{name}").fuzz_one
    seeded = run.seeds(name)
    assert seeded, f"tests/fuzz/corpus/{name}/ holds no seed"
    for data in seeded:
        target(data)


@pytest.mark.parametrize("name", run.targets())
def test_bounded_fuzz_run_finds_nothing(name: str, tmp_path: Path) -> None:
    assert run.fuzz(name, BOUNDED_SECONDS, tmp_path), (
        (tmp_path / name / "fuzz.log").read_text(errors="replace")[-4000:]
        if (tmp_path / name / "fuzz.log").exists()
        else name
    )
