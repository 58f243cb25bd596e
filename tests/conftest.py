"""Shared fixtures: the location of the shared corpus, and a skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not (root / "sigma").is_dir() or not (root / "evtx").is_dir():
        pytest.skip(f"shared corpus not found at {root} (set SENTINELLE_SHARED_DATA)")
    return root
