"""Writing events found by a command (``search``): JSON lines, a terminal table, or CSV.

Every writer takes the events one by one and holds none of them, so a search that finds
millions of events prints them in constant memory. Text from the logs reaches a terminal only
through ``sentinelle.terminal``; a CSV cell that would start a spreadsheet formula is defused.
"""

from __future__ import annotations

import csv
import sys
from typing import Protocol, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sentinelle.events import Event
from sentinelle.terminal import printable, printable_json

_CHUNK = 200  # table rows laid out at a time
_CELL = 2000  # longest field list in a table cell; JSON and CSV are never cut
CSV_COLUMNS = ("Timestamp", "Computer", "Channel", "EventID", "RecordID", "AllFieldInfo", "File")


class EventWriter(Protocol):
    def write(self, event: Event) -> None: ...

    def close(self) -> None: ...


def _value(value: object) -> str:
    if isinstance(value, str):
        return value
    import orjson

    return orjson.dumps(value, default=str).decode()


def field_list(event: Event, limit: int | None = None) -> str:
    """``Name: value ¦ Name: value`` of the event's fields but the System header, one line."""
    from sentinelle.hunt.outputs.details import event_field_info

    return event_field_info(event.fields, limit)


class JsonlEvents:
    def __init__(self, stream: TextIO) -> None:
        from sentinelle.cli.events import json_line

        self._line = json_line
        self._stream = stream
        self._terminal = stream.isatty()

    def write(self, event: Event) -> None:
        line = self._line(event)
        self._stream.write(printable_json(line) if self._terminal else line)

    def close(self) -> None:
        self._stream.flush()


class TableEvents:
    def __init__(self, stream: TextIO) -> None:
        width = None if stream.isatty() else 200
        self._console = Console(file=stream, width=width, highlight=False, emoji=False)
        self._rows: list[Event] = []
        self._header = True

    def write(self, event: Event) -> None:
        self._rows.append(event)
        if len(self._rows) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        table = Table(show_header=self._header, header_style="bold", box=None)
        for name in ("Time (UTC)", "Computer", "Channel", "EventID", "Fields"):
            table.add_column(name, no_wrap=name != "Fields", overflow="fold")
        for event in self._rows:
            fields = event.fields
            listed = field_list(event, _CELL)
            table.add_row(
                *(
                    Text(printable(str(x)))
                    for x in (
                        event.iso_time() or "-",
                        fields.get("Computer", ""),
                        fields.get("Channel", ""),
                        fields.get("EventID", ""),
                        listed,
                    )
                )
            )
        self._console.print(table)
        self._rows = []
        self._header = False

    def close(self) -> None:
        if self._rows or self._header:
            self._flush()


class CsvEvents:
    """Hayabusa's search columns: Timestamp, Computer, Channel, EventID, RecordID,
    AllFieldInfo, File."""

    def __init__(self, stream: TextIO) -> None:
        from sentinelle.hunt.outputs.csv import defuse
        from sentinelle.hunt.outputs.fields import hayabusa_time

        self._defuse = defuse
        self._time = hayabusa_time
        self._csv = csv.writer(stream, lineterminator="\n")
        self._csv.writerow(CSV_COLUMNS)
        self._stream = stream

    def write(self, event: Event) -> None:
        fields = event.fields
        row = (
            self._time(event.timestamp),
            _value(fields.get("Computer", "")),
            _value(fields.get("Channel", "")),
            _value(fields.get("EventID", "")),
            _value(fields.get("EventRecordID", event.record)),
            field_list(event),
            event.source,
        )
        self._csv.writerow([self._defuse(cell) for cell in row])

    def close(self) -> None:
        self._stream.flush()


def open_event_writer(fmt: str, stream: TextIO = sys.stdout) -> EventWriter:
    if fmt == "jsonl":
        return JsonlEvents(stream)
    if fmt == "csv":
        return CsvEvents(stream)
    return TableEvents(stream)
