"""Timeline outputs. Each writer takes detections one by one, in timeline order, and the hunt's
summary at the end; none of them holds the whole timeline in memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TextIO

from sentinelle.detections import Detection
from sentinelle.hunt.summary import HuntSummary

FORMATS = ("table", "csv", "jsonl", "timesketch")
PROFILES = ("minimal", "standard", "verbose")


class TimelineWriter(Protocol):
    def write(self, det: Detection) -> None: ...

    def close(self, summary: HuntSummary) -> None: ...


def open_writer(
    fmt: str,
    stream: TextIO,
    profile: str = "standard",
    rule_files: Mapping[str, str] | None = None,
    width: int | None = None,
) -> TimelineWriter:
    """The writer for ``fmt`` (one of ``FORMATS``) over an open text stream."""
    if fmt == "jsonl":
        from sentinelle.hunt.outputs.jsonl import JsonlWriter

        return JsonlWriter(stream)
    if fmt == "csv":
        from sentinelle.hunt.outputs.csv import CsvWriter

        return CsvWriter(stream, profile, rule_files)
    if fmt == "timesketch":
        from sentinelle.hunt.outputs.timesketch import TimesketchWriter

        return TimesketchWriter(stream)
    if fmt == "table":
        from sentinelle.hunt.outputs.table import TableWriter

        return TableWriter(stream, profile, width=width)
    raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(FORMATS)})")
