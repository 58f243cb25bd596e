"""On-disk cache of compiled rule sets, keyed by the content of everything that shaped them.

The key hashes each rule file's path and bytes, the logsource mapping, the placeholder values,
the engine's format version and code, and the Python bytecode version (entries hold compiled
conditions as ``marshal`` bytes), so an edited rule, mapping or engine, or another Python, never
reuses a stale entry.
The cache directory is the user's own; entries are written atomically (temp file + rename).

Reading and hashing every rule file for the key costs a hunt more than the rest of loading the
set (2,400 SigmaHQ files: about 0.06 s of CPU). So the key found for a set of files is also
remembered under a digest of their stamps (size, modification and change times, inode), and a
hunt whose files all carry the same stamps takes it from there without reading them: a file's
content cannot change without its change time moving, and that time cannot be set back. As git
does for its index, stamps from the last two seconds are not remembered, since a file written
again within the clock's resolution could keep them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sentinelle.gcpause import collector_paused

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


# Stamps this recent are not trusted to change with the next write (see the module docstring).
_SETTLED_NS = 2_000_000_000


def file_stamp(path: str | Path) -> bytes:
    """What changes whenever the file's content does (empty when it cannot be read)."""
    try:
        st = os.stat(path)  # noqa: PTH116 - names as text: a Path per rule file costs more
    except OSError:
        return b""
    return b"%d:%d:%d:%d:%d" % (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def settled(stamps: Iterable[bytes], now_ns: int | None = None) -> bool:
    """Whether every stamp names a readable file last changed over two seconds ago."""
    limit = (time.time_ns() if now_ns is None else now_ns) - _SETTLED_NS
    for stamp in stamps:
        if not stamp:
            return False
        _, _, _, mtime, ctime = stamp.split(b":")
        if int(mtime) > limit or int(ctime) > limit:
            return False
    return True


def remembered_key(cache_dir: Path, stamps_key: str) -> str | None:
    """The content key remembered for files with these stamps (see ``remember_key``)."""
    try:
        text = (cache_dir / f"stamps-{stamps_key}.key").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) == 32 and all(c in "0123456789abcdef" for c in text) else None


def remember_key(cache_dir: Path, stamps_key: str, key: str) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".stamps-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
        Path(tmp).replace(cache_dir / f"stamps-{stamps_key}.key")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_entry_and_bytes(cache_dir: Path, key: str) -> tuple[Any, bytes] | None:
    """The cached object and the pickle it came from (what a process that needs the same
    object can be sent, instead of pickling it again); None when absent or unreadable (a
    broken entry is removed)."""
    path = cache_dir / f"rules-{key}.pickle"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        # The set is tens of thousands of objects that live as long as the process and hold no
        # cycle: the collector would walk them again and again as they are made.
        with collector_paused():
            obj = pickle.loads(data)  # noqa: S301 - our own cache directory, keyed by content hash
    except Exception:  # noqa: BLE001 - a truncated or foreign file: drop it, compile again
        path.unlink(missing_ok=True)
        return None
    return obj, data


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
