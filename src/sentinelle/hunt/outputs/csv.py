"""CSV timeline in the column layout of Hayabusa's output profiles.

``standard`` is Hayabusa's default profile (Timestamp, Computer, Channel, EventID, Level,
MitreTactics, RecordID, RuleTitle, Details), so tools built around Hayabusa timelines open this
file unchanged. Levels use Hayabusa's short forms (crit, high, med, low, info), multi-valued
cells its `` ¦ `` separator, and timestamps its form in UTC (``2021-12-12 07:16:04.237 +00:00``).

Cells are attacker-controlled text opened in spreadsheets: a cell that would start a formula
(``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a leading apostrophe, as OWASP advises.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from typing import TextIO

from sentinelle.detections import Detection
from sentinelle.hunt.outputs.fields import (
    computer,
    details,
    event_field,
    first_event,
    hayabusa_time,
    level_short,
    mitre_tactics,
    mitre_tags,
    other_tags,
    record_id,
)
from sentinelle.hunt.summary import HuntSummary

Column = Callable[[Detection], str]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _columns(rule_files: Mapping[str, str]) -> dict[str, Column]:
    def evtx_file(det: Detection) -> str:
        ev = first_event(det)
        return "" if ev is None else ev.source

    return {
        "Timestamp": lambda d: hayabusa_time(d.timestamp),
        "Computer": computer,
        "Channel": lambda d: event_field(d, "Channel"),
        "EventID": lambda d: event_field(d, "EventID"),
        "Level": lambda d: level_short(d.level),
        "MitreTactics": mitre_tactics,
        "MitreTags": mitre_tags,
        "OtherTags": other_tags,
        "RecordID": record_id,
        "RuleTitle": lambda d: d.rule_title,
        "Details": details,
        "RuleFile": lambda d: rule_files.get(d.rule_id, ""),
        "EvtxFile": evtx_file,
    }


PROFILES: dict[str, tuple[str, ...]] = {
    "minimal": ("Timestamp", "Computer", "Channel", "EventID", "Level", "RuleTitle", "Details"),
    "standard": (
        "Timestamp",
        "Computer",
        "Channel",
        "EventID",
        "Level",
        "MitreTactics",
        "RecordID",
        "RuleTitle",
        "Details",
    ),
    "verbose": (
        "Timestamp",
        "Computer",
        "Channel",
        "EventID",
        "Level",
        "MitreTactics",
        "MitreTags",
        "OtherTags",
        "RecordID",
        "RuleTitle",
        "Details",
        "RuleFile",
        "EvtxFile",
    ),
}

# Columns whose values this program writes itself and that may legitimately start with "-".
_TRUSTED = frozenset({"Timestamp", "Level", "EventID", "RecordID"})


def defuse(text: str) -> str:
    """``text`` that a spreadsheet shows as text, never evaluates as a formula."""
    if text.startswith(_FORMULA_START) and text != "-":
        return "'" + text
    return text


class CsvWriter:
    def __init__(
        self, stream: TextIO, profile: str = "standard", rule_files: Mapping[str, str] | None = None
    ) -> None:
        names = PROFILES[profile]
        columns = _columns(rule_files or {})
        self._cells = [(name in _TRUSTED, columns[name]) for name in names]
        self._writer = csv.writer(stream, lineterminator="\r\n")
        self._writer.writerow(names)
        self._stream = stream

    def write(self, det: Detection) -> None:
        self._writer.writerow(
            [cell(det) if trusted else defuse(cell(det)) for trusted, cell in self._cells]
        )

    def close(self, summary: HuntSummary) -> None:
        self._stream.flush()
