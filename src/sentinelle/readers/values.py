"""Field values every output can encode, and the cap on how many fields one event keeps.

A log may hold numbers no output can write (``orig_bytes`` of 10^23: JSON encoders, Arrow and
Timesketch stop at 64 bits), ``NaN`` or infinities (JSON has no spelling for them), and as many
fields as its line has room for. :func:`settle` is the one place every text reader passes its
events through: such a value is kept as text (nothing a rule could match is lost), fields past
the cap are dropped, and what was changed comes back as one line for a read issue.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import orjson

from sentinelle.readers.limits import DEFAULT_LIMITS, ReadLimits

Fields = dict[str, Any]

# What orjson (every JSON-based output) writes: signed 64-bit down, unsigned 64-bit up.
INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1
_PLAIN = frozenset((str, bool, type(None)))
# Fields kept from the end of a capped event (see settle).
_KEPT_LAST = 64


def settle(fields: Fields, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[Fields, str | None]:
    """``fields`` capped, each value encodable, and what changed (None: nothing).

    Cheap when nothing is wrong (the usual case): one pass over the value types in C. A capped
    event gets a new dict: one that held 100,000 fields keeps their table's memory after
    deletions, which a batch of such events would multiply.
    """
    notes: list[str] = []
    extra = len(fields) - limits.max_fields
    if extra > 0:
        # The overflow is dropped from the middle: readers put a record's own fields first
        # (syslog header, CSV's first columns) and last (the message and its payload, the
        # canonical fields), and an attacker's bulk (structured-data parameters, columns)
        # between them, so the cap is spent on the bulk.
        tail = min(_KEPT_LAST, limits.max_fields // 4)
        items = list(fields.items())
        fields = dict(
            itertools.chain(items[: limits.max_fields - tail], items[-tail:] if tail else ())
        )
        notes.append(f"{extra} fields past the cap of {limits.max_fields} dropped")
    kinds = set(map(type, fields.values()))
    if not kinds.issubset(_PLAIN):
        changed = [name for name, value in fields.items() if not _encodable(value)]
        for name in changed:
            fields[name] = json_text(fields[name])
        if changed:
            shown = ", ".join(changed[:3])
            if len(changed) > 3:
                shown += f" and {len(changed) - 3} more"
            notes.append(f"values no output can encode kept as text ({shown})")
    return fields, ("; ".join(notes) if notes else None)


def _encodable(value: Any) -> bool:
    kind = value.__class__
    if kind is int:
        return bool(INT_MIN <= value <= INT_MAX)
    if kind is float:
        return math.isfinite(value)
    if kind is list or kind is dict:
        stack: list[Any] = [value]
        while stack:
            item = stack.pop()
            items = item.values() if item.__class__ is dict else item
            for child in items:
                child_kind = child.__class__
                if child_kind is list or child_kind is dict:
                    stack.append(child)
                elif (child_kind is int and not INT_MIN <= child <= INT_MAX) or (
                    child_kind is float and not math.isfinite(child)
                ):
                    return False
        return True
    return True


def json_text(value: Any) -> str:
    """``value`` as compact JSON text, at any depth and with numbers of any size.

    Iterative, so a value nested a thousand levels deep costs no recursion; integers are written
    in full and non-finite floats as ``NaN``/``Infinity`` (as Python's json does): the text is
    for reading and matching, and keeps every digit the log held.
    """
    if value.__class__ is str:
        return str(value)
    out: list[str] = []
    # Work items: a value to write, or a literal piece of text (commas, closing brackets).
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        literal, item = stack.pop()
        if literal:
            out.append(item)
            continue
        kind = item.__class__
        if kind is dict:
            out.append("{")
            stack.append((True, "}"))
            pairs = list(item.items())
            for index in range(len(pairs) - 1, -1, -1):
                key, child = pairs[index]
                stack.append((False, child))
                stack.append((True, ("," if index else "") + _scalar(str(key)) + ":"))
        elif kind is list or kind is tuple:
            out.append("[")
            stack.append((True, "]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append((False, item[index]))
                if index:
                    stack.append((True, ","))
        else:
            out.append(_scalar(item))
    return "".join(out)


def _scalar(value: Any) -> str:
    kind = value.__class__
    if kind is int:
        return str(value)
    if kind is float and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return orjson.dumps(str(value)).decode()


class FieldBudget:
    """What one event's flattening may still add: fields, bytes of names and text, depth.

    Flattening nested JSON repeats every parent's name in each child's name, so a document
    under the 16 MiB cap could make gigabytes of names, and a thousand levels of nesting
    would exhaust the recursion of a recursive walk. The flatteners ask :meth:`room` before
    each field and keep a value nested past ``depth`` whole, as JSON text.
    """

    __slots__ = ("bytes_left", "deep", "depth", "dropped", "fields_left", "limits")

    def __init__(self, limits: ReadLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.fields_left = limits.max_fields
        self.bytes_left = limits.max_event_bytes
        self.depth = limits.max_depth
        self.dropped = 0
        self.deep = 0

    def spent(self, prefix: str) -> bool:
        """Whether no child of a container named ``prefix`` can fit any more (its names are at
        least as long): the walk then counts the children instead of naming them."""
        return self.fields_left <= 0 or len(prefix) >= self.bytes_left

    def room(self, name: str, value: Any) -> bool:
        """Whether ``name = value`` still fits; counts it as dropped when it does not."""
        cost = len(name) + (len(value) if value.__class__ is str else 8)
        if self.fields_left <= 0 or cost > self.bytes_left:
            self.dropped += 1
            return False
        self.fields_left -= 1
        self.bytes_left -= cost
        return True

    def note(self) -> str | None:
        notes = []
        if self.dropped:
            limits = self.limits
            notes.append(
                f"{self.dropped} fields dropped past the cap of {limits.max_fields} fields"
                f" or {limits.max_event_bytes} bytes per event"
            )
        if self.deep:
            notes.append(f"{self.deep} values nested deeper than {self.depth} kept as JSON text")
        return "; ".join(notes) if notes else None
