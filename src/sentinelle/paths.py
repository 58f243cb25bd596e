"""Where Sentinelle finds shared data and keeps its own files."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

# Repository layout: <checkout>/src/sentinelle/paths.py, shared data at <checkout>/../shared/data.
_CHECKOUT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """Shared corpus (SigmaHQ, EVTX): $SENTINELLE_SHARED_DATA, else ../shared/data."""
    env = os.environ.get("SENTINELLE_SHARED_DATA")
    if env:
        return Path(env)
    return _CHECKOUT.parent / "shared" / "data"


def cache_dir() -> Path:
    """Compiled rule sets and other derived data: $SENTINELLE_CACHE_DIR or the user cache dir."""
    env = os.environ.get("SENTINELLE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("sentinelle"))


def data_dir() -> Path:
    """Downloaded rule packages: $SENTINELLE_DATA_DIR or the user data dir."""
    env = os.environ.get("SENTINELLE_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("sentinelle"))


def config_dir() -> Path:
    """User configuration: $SENTINELLE_CONFIG_DIR or the user config dir."""
    env = os.environ.get("SENTINELLE_CONFIG_DIR")
    return Path(env) if env else Path(platformdirs.user_config_dir("sentinelle"))
