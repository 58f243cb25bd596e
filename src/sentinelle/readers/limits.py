"""The limits that bound what one hostile input can cost, in one place with their defaults.

Each limit spends the loss on the input that reaches it, never on its neighbours: an event past
the field cap loses its extra fields (reported), a member past the decompression ratio is
refused (reported), and every other event and member is read as usual. The defaults and how to
change them are listed in docs/ARCHITECTURE.md (Readers, Limits); ``sentinelle events
--read-limit NAME=VALUE`` and ``read_paths(..., limits=ReadLimits(...))`` change them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sentinelle.errors import ConfigError, Location

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Per-event, per-batch and per-archive limits of the readers."""

    # Fields kept per event; the rest are dropped and counted in a read issue.
    max_fields: int = 1024
    # Bytes of field names and text values kept per event (flattened JSON repeats its parents'
    # names in every child's, so a 16 MiB document could otherwise make gigabytes of names).
    max_event_bytes: int = 8 * MiB
    # Nesting flattened into dotted names; a value nested deeper is kept whole as JSON text.
    max_depth: int = 64
    # A batch is handed on once its events hold this many bytes of input, whatever their count.
    max_batch_bytes: int = 64 * MiB
    # Decompressed bytes per compressed byte a stream may reach past ``ratio_floor``.
    max_ratio: int = 200
    # Output every compressed stream may reach whatever its ratio (small bombs cost nothing).
    ratio_floor: int = 64 * MiB
    # Bytes spooled to temporary files (EVTX and archives inside archives) for one input,
    # all its members together.
    max_spool_bytes: int = 8 * GiB


DEFAULT_LIMITS = ReadLimits()
LIMIT_NAMES = tuple(field.name for field in dataclasses.fields(ReadLimits))


def with_overrides(base: ReadLimits, settings: list[str]) -> ReadLimits:
    """``base`` with ``NAME=VALUE`` settings applied (sizes take ``K``, ``M``, ``G`` suffixes).

    Raises ConfigError naming the setting when a name is unknown or a value not a positive
    integer.
    """
    changes: dict[str, int] = {}
    for setting in settings:
        name, sep, text = setting.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in LIMIT_NAMES:
            raise ConfigError(
                f"unknown read limit {setting!r} (one of: {', '.join(LIMIT_NAMES)})",
                Location("--read-limit"),
            )
        value = _size(text.strip())
        if value is None or value < 1:
            raise ConfigError(
                f"{name}: {text!r} is not a positive integer (K, M, G suffixes allowed)",
                Location("--read-limit"),
            )
        changes[name] = value
    return dataclasses.replace(base, **changes)


_UNITS = {"k": 1 << 10, "m": MiB, "g": GiB}


def _size(text: str) -> int | None:
    scale = _UNITS.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdecimal() or len(digits) > 18:
        return None
    return int(digits) * scale
