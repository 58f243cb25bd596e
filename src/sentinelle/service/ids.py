"""Deterministic ids: the same event, seen again, has the same id; so has the same alert.

An event's id comes from where it came from: the input, the sender, and the sender's own key
(file path and record, a bulk ``_id``) or, without one, the digest of the record's bytes. A
client that sends a batch again because it saw no answer sends the same ids; matching the
journal again after a crash makes the same alert ids, which the store already holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

ID_LENGTH = 32  # hex characters: 128 bits


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two tuples collide
        h.update(part)
    return h.hexdigest()[:ID_LENGTH]


def event_id(input_name: str, sender: str, key: str, data: bytes) -> str:
    position = key.encode("utf-8", "surrogatepass") if key else hashlib.sha256(data).digest()
    return _digest(
        b"event",
        input_name.encode(),
        sender.encode("utf-8", "surrogatepass"),
        b"k" if key else b"d",
        position,
    )


def alert_id(rule_id: str, event_id: str) -> str:
    """A single-event detection: its rule and its event."""
    return _digest(b"alert", rule_id.encode("utf-8", "surrogatepass"), event_id.encode())


def group_alert_id(rule_id: str, group: Mapping[str, Any], window_start: float | None) -> str:
    """A correlation or network detection: its rule, its group and the start of its window."""
    canonical = orjson.dumps(group, option=orjson.OPT_SORT_KEYS, default=str)
    start = b"" if window_start is None else repr(float(window_start)).encode()
    return _digest(b"group", rule_id.encode("utf-8", "surrogatepass"), canonical, start)
