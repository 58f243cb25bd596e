"""Fixtures of the reader tests: shared EVTX files to damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.readers import evtx_records
from tests.readers.helpers import chunk_record_ids, require_accelerator


@pytest.fixture(params=["native", "python"])
def both_decoders(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the C accelerator (records and whole frames), then without it."""
    if request.param == "native":
        require_accelerator()
    else:
        monkeypatch.setattr(evtx_records, "native_frame", None)
        monkeypatch.setattr(evtx_records, "_native_decode", None)
    return str(request.param)


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
