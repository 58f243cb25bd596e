"""Zeek logs in their native TSV form (``#separator``/``#fields``/``#types`` header).

Values are typed from ``#types`` (time/interval/double -> float, count/int/port -> int, bool ->
True/False, set/vector -> list of str); unset fields (``-``) are left out. Records with the
``id.orig_h`` family (conn, dns, http...) also get the canonical network fields; ``conn_state``
and ``duration`` keep their Zeek names. Zeek JSON logs are read by the JSON reader and get the
same canonical fields through :func:`add_zeek_canonical`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sentinelle.readers import netfields
from sentinelle.readers.lines import Line

Fields = dict[str, Any]


def add_zeek_canonical(fields: Fields) -> None:
    if "id.orig_h" in fields:
        netfields.add_canonical(fields, netfields.ZEEK)


@dataclass(slots=True)
class ZeekHeader:
    separator: str = "\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str | None = None
    names: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)


def _unescape_separator(text: str) -> str:
    # "#separator \x09": the only header written with a \x escape.
    if text.startswith("\\x") and len(text) == 4:
        try:
            return chr(int(text[2:], 16))
        except ValueError:
            return text
    return text


def _convert(kind: str, text: str, header: ZeekHeader) -> Any:
    if kind in ("time", "interval", "double"):
        return float(text)
    if kind in ("count", "int", "port"):
        return int(text)
    if kind == "bool":
        if text in ("T", "F"):
            return text == "T"
        raise ValueError(f"bad bool {text!r}")
    if kind.startswith(("set[", "vector[", "table[")):
        return [] if text == header.empty else text.split(header.set_separator)
    return text


def read_zeek_lines(lines: Iterator[Line]) -> Iterator[tuple[Line, Fields | None, str | None]]:
    """``(line, fields, problem)`` for every data line; header lines update the schema.

    With fields, ``problem`` is a note on a kept record: a value not of its column's type is
    kept as the text the log wrote (an attacker's ``abc`` in a ``count`` column costs that
    value its type, not the record).
    """
    header = ZeekHeader()
    for line in lines:
        if line.problem is not None:
            yield line, None, line.problem
            continue
        text = line.text
        if not text.strip():
            continue
        if text.startswith("#") and _is_directive(text, header):
            _header_line(text, header)
            continue
        if not header.names:
            yield line, None, "Zeek data line before any #fields header"
            continue
        values = text.split(header.separator)
        if len(values) != len(header.names):
            yield line, None, f"{len(values)} values for {len(header.names)} #fields"
            continue
        fields: Fields = {}
        mistyped: list[str] = []
        for name, kind, value in zip(header.names, header.types, values, strict=False):
            if value == header.unset:
                continue
            try:
                fields[name] = _convert(kind, value, header)
            except ValueError:
                fields[name] = value
                mistyped.append(f"{name} ({kind})")
        if header.path:
            fields["_path"] = header.path
        add_zeek_canonical(fields)
        note = None
        if mistyped:
            shown = ", ".join(mistyped[:3]) + (
                f" and {len(mistyped) - 3} more" if len(mistyped) > 3 else ""
            )
            note = f"values not of their column's type kept as text: {shown}"
        yield line, fields, note


# Zeek's header lines; Zeek escapes a '#' that starts a value, so any other line beginning
# with '#' is read as data (a forged or damaged line costs its own record, with a reason,
# instead of vanishing as a header nobody reads).
DIRECTIVES = frozenset(
    ("set_separator", "empty_field", "unset_field", "path", "open", "close", "fields", "types")
)


def _is_directive(text: str, header: ZeekHeader) -> bool:
    return text.startswith("#separator") or (text[1:].partition(header.separator)[0] in DIRECTIVES)


def _header_line(text: str, header: ZeekHeader) -> None:
    if text.startswith("#separator"):
        # An empty separator cannot split anything: the one before it stays.
        header.separator = _unescape_separator(text.split(" ", 1)[-1].strip()) or header.separator
        return
    key, _, value = text[1:].partition(header.separator)
    if key == "set_separator":
        header.set_separator = value
    elif key == "empty_field":
        header.empty = value
    elif key == "unset_field":
        header.unset = value
    elif key == "path":
        header.path = value
    elif key == "fields":
        header.names = value.split(header.separator)
        header.types = ["string"] * len(header.names)
    elif key == "types":
        types = value.split(header.separator)
        if len(types) == len(header.names):
            header.types = types
