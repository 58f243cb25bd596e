"""Fixtures of the reader tests: shared EVTX files to damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.readers.helpers import chunk_record_ids


@pytest.fixture(scope="session")
def mitre_dir(shared_data: Path) -> Path:
    return shared_data / "evtx" / "mitre"


@pytest.fixture(scope="session")
def multi_chunk_evtx(mitre_dir: Path) -> Path:
    """A shared EVTX file with at least three chunks holding records."""
    for path in sorted(mitre_dir.rglob("*.evtx"), key=lambda p: -p.stat().st_size):
        if sum(1 for ids in chunk_record_ids(path).values() if ids) >= 3:
            return path
    pytest.skip("no EVTX file with three populated chunks in the shared corpus")
