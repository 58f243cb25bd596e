"""Timeline outputs. Each writer takes detections one by one, in timeline order, and the hunt's
summary at the end; none of them holds the whole timeline in memory.

A writer may also have ``notes()``: sentences the analyst must read at the end of the hunt
(what it could not put in its file, and where to find it instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TextIO

from sentinelle.detections import Detection
from sentinelle.hunt.summary import HuntSummary

FORMATS = ("table", "csv", "jsonl", "timesketch")
# Hayabusa's output profiles (columns of the CSV; the table takes the same names).
PROFILES = (
    "minimal",
    "standard",
    "verbose",
    "all-field-info",
    "all-field-info-verbose",
    "super-verbose",
    "timesketch-minimal",
    "timesketch-verbose",
)


class TimelineWriter(Protocol):
    def write(self, det: Detection) -> None: ...

    def close(self, summary: HuntSummary) -> None: ...


def writer_notes(writer: TimelineWriter) -> list[str]:
    """The writer's end-of-hunt notes, if it has any."""
    notes = getattr(writer, "notes", None)
    return list(notes()) if callable(notes) else []


def open_writer(
    fmt: str,
    stream: TextIO,
    profile: str = "standard",
    rule_files: Mapping[str, str] | None = None,
    width: int | None = None,
    *,
    terminal: bool = False,
) -> TimelineWriter:
    """The writer for ``fmt`` (one of ``FORMATS``) over an open text stream; ``terminal`` says
    the stream is a person's terminal (input text then passes through ``printable``)."""
    if fmt == "jsonl":
        from sentinelle.hunt.outputs.jsonl import JsonlWriter

        return JsonlWriter(stream, terminal=terminal)
    if fmt == "csv":
        from sentinelle.hunt.outputs.csv import CsvWriter

        return CsvWriter(stream, profile, rule_files, terminal=terminal)
    if fmt == "timesketch":
        from sentinelle.hunt.outputs.timesketch import TimesketchWriter

        return TimesketchWriter(stream, terminal=terminal)
    if fmt == "table":
        from sentinelle.hunt.outputs.table import TableWriter

        return TableWriter(stream, profile, width=width)
    raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(FORMATS)})")
