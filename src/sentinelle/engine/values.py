"""How event values are read for matching: one definition shared by both evaluation paths.

An event value may be a string, a number, a boolean, None, or a list (multi-valued field: any
element may match). Strings are compared case-insensitively by folding both sides with
``str.lower`` (not Unicode case folding), so the literal index of the compiled path and the
reference evaluator agree by construction.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from datetime import UTC, datetime
from typing import Any

import re2

from sentinelle.engine import ir


def scalars(value: Any) -> list[Any]:
    """The individual values of a field (a list contributes each element, nested once)."""
    if isinstance(value, list | tuple):
        return [v for v in value if not isinstance(v, list | tuple | dict)]
    if isinstance(value, dict):
        return []
    return [value]


def text(value: Any) -> str | None:
    """The string form a pattern is matched against; None when the value has none."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def number(value: Any) -> int | float | None:
    """The numeric reading of a value: numbers as they are, decimal strings parsed; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, str):
        s = value.strip()
        try:
            return int(s, 10)
        except ValueError:
            pass
        try:
            f = float(s)
        except ValueError:
            return None
        return None if math.isnan(f) or math.isinf(f) else f
    return None


def boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            return low == "true"
    return None


def timestamp(value: Any) -> datetime | None:
    """A field value read as a UTC date: epoch seconds, or ISO 8601 text."""
    n = number(value)
    if n is not None:
        try:
            return datetime.fromtimestamp(n, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    s = value.strip().replace(" ", "T", 1)
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def time_part(dt: datetime, part: str) -> int:
    if part == "week":
        return dt.isocalendar().week
    return int(getattr(dt, part))


def compare(op: str, left: int | float, right: int | float) -> bool:
    if op == "lt":
        return left < right
    if op == "lte":
        return left <= right
    if op == "gt":
        return left > right
    return left >= right


def in_network(value: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return addr.version == network.version and addr in network


def regex_text(pattern: str, flags: str) -> str:
    return f"(?{flags}){pattern}" if flags else pattern


def re2_options() -> Any:
    """RE2 options for rule patterns: errors are raised, never also logged.

    By default RE2 writes every pattern it cannot parse to stderr through absl logging (a
    banner and one line per pattern), besides raising; a rule's rejection already says it.
    """
    options = re2.Options()
    options.log_errors = False
    return options


_QUIET = re2_options()


@functools.lru_cache(maxsize=1024)
def compile_re2(text: str) -> Any:
    """``text`` compiled by RE2 without logging (``re2.error`` when RE2 refuses it)."""
    return re2.compile(text, options=_QUIET)


def compile_regex(m: ir.Regex) -> Any:
    return compile_re2(regex_text(m.pattern, m.flags))


def fieldref(value: str, other: str, m: ir.FieldRef) -> bool:
    """``value`` against the other field's value, case-insensitively."""
    a, b = value.lower(), other.lower()
    if m.starts and m.ends:
        return b in a
    if m.starts:
        return a.startswith(b)
    if m.ends:
        return a.endswith(b)
    return a == b


DASH_CLASS = "[" + "".join(re2.escape(c) for c in ir.DASHES) + "]"


def glob_regex(parts: tuple[ir.Part, ...]) -> str:
    """An anchored RE2 pattern for a wildcard pattern whose literal parts are already folded."""
    out = ["^"]
    for p in parts:
        if p == ir.STAR:
            out.append(".*")
        elif p == ir.ONE:
            out.append(".")
        elif p == ir.DASH:
            out.append(DASH_CLASS)
        else:
            assert isinstance(p, str)
            out.append(re2.escape(p))
    out.append("$")
    return "(?s)" + "".join(out)


def fold(parts: tuple[ir.Part, ...], cased: bool) -> tuple[ir.Part, ...]:
    if cased:
        return parts
    return tuple(p.lower() if isinstance(p, str) else p for p in parts)
