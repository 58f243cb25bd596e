"""On-disk cache of compiled rule sets, keyed by the content of everything that shaped them.

The key hashes each rule file's path and bytes, the logsource mapping, the placeholder values,
the engine's format version and code, and the Python bytecode version (entries hold compiled
conditions as ``marshal`` bytes), so an edited rule, mapping or engine, or another Python, never
reuses a stale entry.
The cache directory is the user's own; entries are written atomically (temp file + rename).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT_VERSION = "2"
# The code whose output the cache holds: any change to it invalidates every entry.
_CODE = ("engine", "sigma")


def code_digest() -> bytes:
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for package in _CODE:
        for path in sorted((root / package).glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.digest()


def cache_key(parts: Iterable[tuple[str, bytes]]) -> str:
    h = hashlib.sha256(f"sentinelle-engine-{FORMAT_VERSION}\0".encode())
    h.update(importlib.util.MAGIC_NUMBER)
    h.update(code_digest())
    for name, content in sorted(parts):
        h.update(name.encode("utf-8", "surrogateescape") + b"\0")
        h.update(hashlib.sha256(content).digest())
    return h.hexdigest()[:32]


def read_entry(cache_dir: Path, key: str) -> Any | None:
    """The cached object, or None when absent or unreadable (a broken entry is removed)."""
    path = cache_dir / f"rules-{key}.pickle"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        return pickle.loads(data)  # noqa: S301 - our own cache directory, keyed by content hash
    except Exception:  # noqa: BLE001 - a truncated or foreign file: drop it, compile again
        path.unlink(missing_ok=True)
        return None


def write_entry(cache_dir: Path, key: str, obj: Any) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".rules-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        Path(tmp).replace(cache_dir / f"rules-{key}.pickle")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
