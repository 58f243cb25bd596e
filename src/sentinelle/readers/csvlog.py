"""CSV logs with a header row: one event per row, columns named by the header, values as text.

The delimiter is chosen from the header row (comma, semicolon, tab or pipe, the most frequent).
Quoted fields may span lines; such a record still counts against the line cap as a whole.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from sentinelle.errors import Location, ReadError
from sentinelle.readers.lines import LINE_CAP, Line

Fields = dict[str, Any]

_DELIMITERS = (",", ";", "\t", "|")


def choose_delimiter(header: str) -> str:
    return max(_DELIMITERS, key=header.count)


def read_csv_lines(
    lines: Iterator[Line],
) -> Iterator[tuple[int, Fields | None, str | None, str | None]]:
    """``(line number, fields, problem, note)`` per record; the header row gives the names.

    Raises ReadError (with the line) when the header itself cannot be read: the file is not.

    ``note`` reports a repair of a kept record (invalid UTF-8 replaced by U+FFFD).
    """
    names: list[str] | None = None
    delimiter = ","
    pending: list[Line] = []
    pending_size = 0
    for line in lines:
        if line.problem is not None:
            if names is None:
                # Without its header no row can be named: taking the next line for it would
                # name every column wrongly, and in silence.
                raise ReadError(
                    f"CSV header unreadable ({line.problem})", Location("", line.number)
                )
            yield line.number, None, line.problem, None
            pending, pending_size = [], 0
            continue
        if names is None:
            if not line.text.strip():
                continue
            delimiter = choose_delimiter(line.text)
            try:
                names = next(csv.reader([line.text], delimiter=delimiter))
            except csv.Error as exc:  # a lone carriage return, a NUL...
                raise ReadError(
                    f"CSV header unreadable ({exc})", Location("", line.number)
                ) from exc
            continue
        pending.append(line)
        pending_size += len(line.text)
        text = "\n".join(item.text for item in pending)
        if _open_quote(text):
            if pending_size > LINE_CAP:
                yield pending[0].number, None, f"quoted record longer than {LINE_CAP} bytes", None
                pending, pending_size = [], 0
            continue
        first = pending[0].number
        note = next((item.note for item in pending if item.note), None)
        pending, pending_size = [], 0
        if not text.strip():
            continue
        try:
            row = next(csv.reader([text], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            yield first, None, f"bad CSV record: {exc}", None
            continue
        if len(row) != len(names):
            yield first, None, f"{len(row)} columns for a {len(names)}-column header", None
            continue
        yield first, dict(zip(names, row, strict=True)), None, note
    if pending:
        yield pending[0].number, None, "unterminated quoted field at end of input", None


def _open_quote(text: str) -> bool:
    # An odd number of double quotes means a quoted field continues on the next line.
    return text.count('"') % 2 == 1
