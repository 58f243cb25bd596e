"""Turning the many timestamp spellings of logs into UTC epoch seconds.

Every reader calls :func:`parse_timestamp`; EVTX has its own fast path because its
``SystemTime`` has one fixed shape and is parsed once per record on the hottest loop.
Values without a zone are taken as UTC (documented in docs/ARCHITECTURE.md).

Every function here is total: whatever a log writes (``1e300``, year 0 or 99999, ``NaN``, a
negative epoch), the answer is epoch seconds that ``datetime`` can represent (years 1 to 9999),
or None. An attacker's timestamp may cost its own event its time, never stop the reading or a
later stage that formats the time.
"""

from __future__ import annotations

import math
import re
from calendar import timegm
from datetime import UTC, datetime
from typing import Any

# Epoch of "YYYY-MM-DDTHH:MM" prefixes: records of one file share few minutes, so a small
# cache turns most timestamp parses into a dict hit plus one float().
_MINUTE_CACHE: dict[str, float] = {}
_MINUTE_CACHE_MAX = 4096

# Numbers above these are milliseconds / microseconds / nanoseconds since the epoch.
_MS_THRESHOLD = 1e11
_US_THRESHOLD = 1e14
_NS_THRESHOLD = 1e17

# The instants datetime represents (0001-01-01 to 9999-12-31T23:59:59 UTC): every result lies
# in between, so formatting an event's time can never fail downstream.
MIN_EPOCH = -62135596800.0
MAX_EPOCH = 253402300799.0


def in_range(ts: float | None) -> float | None:
    """``ts`` when it is a representable instant, else None (NaN and infinities included)."""
    if ts is not None and MIN_EPOCH <= ts <= MAX_EPOCH:
        return ts
    return None


_MONTHS = {
    name: index
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# "Mar  3 12:00:00" or "Mar 03 12:00:00.123" (RFC 3164 and most daemons); no year, no zone.
_BSD_RE = re.compile(r"([A-Za-z]{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)?")


def _minute_epoch(prefix: str) -> float:
    base = _MINUTE_CACHE.get(prefix)
    if base is None:
        base = float(
            timegm(
                (
                    int(prefix[0:4]),
                    int(prefix[5:7]),
                    int(prefix[8:10]),
                    int(prefix[11:13]),
                    int(prefix[14:16]),
                    0,
                    0,
                    0,
                    0,
                )
            )
        )
        if len(_MINUTE_CACHE) >= _MINUTE_CACHE_MAX:
            _MINUTE_CACHE.clear()
        _MINUTE_CACHE[prefix] = base
    return base


def parse_windows_time(text: str) -> float | None:
    """``2020-12-11T12:28:01.2990045Z`` (EVTX SystemTime) to epoch seconds; None if unreadable."""
    if len(text) >= 20 and text[-1] == "Z" and text[10] == "T" and text[16] == ":":
        try:
            return in_range(_minute_epoch(text[:16]) + float(text[17:-1]))
        except (ValueError, OverflowError):
            pass
    return parse_timestamp(text)


def parse_timestamp(value: Any, *, year: int | None = None) -> float | None:
    """Epoch seconds (UTC) from an epoch number or a date string; None when unreadable.

    Accepts ISO 8601 / RFC 3339 (any fraction length, ``Z``, offsets, space separator),
    epoch seconds/ms/us/ns as numbers or digit strings, and BSD syslog stamps
    (``Mar  3 12:00:00``), which need ``year`` (default: the current year).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return _epoch_number(float(value))
        except OverflowError:  # an int past the float range
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text[0].isdigit():
        if len(text) >= 16 and text[4] == "-" and text[7] == "-":
            return _iso(text)
        try:
            return _epoch_number(float(text))
        except ValueError:
            return _iso(text)
    match = _BSD_RE.match(text)
    if match:
        return _bsd(match, year)
    return _iso(text)


def _epoch_number(number: float) -> float | None:
    if not math.isfinite(number) or number < 0:
        return None
    if number > _NS_THRESHOLD:
        number /= 1e9
    elif number > _US_THRESHOLD:
        number /= 1e6
    elif number > _MS_THRESHOLD:
        number /= 1e3
    return in_range(number)


def _iso(text: str) -> float | None:
    if len(text) > 64:
        return None
    candidate = text
    # Python's parser wants "+01:00"; logs also write "+0100" and " UTC".
    if candidate.endswith(" UTC"):
        candidate = candidate[:-4] + "Z"
    if len(candidate) > 5 and candidate[-5] in "+-" and candidate[-4:].isdigit():
        candidate = f"{candidate[:-2]}:{candidate[-2:]}"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return in_range(parsed.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def _bsd(match: re.Match[str], year: int | None) -> float | None:
    month = _MONTHS.get(match.group(1).lower())
    if month is None:
        return None
    fraction = float(match.group(6)) if match.group(6) else 0.0
    try:
        parsed = datetime(
            year if year is not None else datetime.now(UTC).year,
            month,
            int(match.group(2)),
            int(match.group(3)),
            int(match.group(4)),
            int(match.group(5)),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    return in_range(parsed.timestamp() + fraction)
