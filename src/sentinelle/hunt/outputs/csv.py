"""CSV timeline in the columns of Hayabusa's output profiles.

The profiles are Hayabusa's current ones (3.x ``list-profiles``), columns and order alike, so
Timeline Explorer and the scripts written for Hayabusa's CSV files open ours unchanged:
``standard`` (the default) is ``minimal`` plus ExtraFieldInfo and RuleID; ``verbose`` adds the
ATT&CK columns, the rule file and the log file; the ``all-field-info`` profiles put every field
of the event in AllFieldInfo instead of Details; ``super-verbose`` adds the rule's author, dates
and status and the event's provider; the ``timesketch-*`` profiles are a CSV that Timesketch
imports (``datetime``, ``timestamp_desc``, ``message``).

Values follow Hayabusa's forms: levels ``crit``/``high``/``med``/``low``/``info``, several
values in one cell joined by `` ¦ ``, timestamps ``2021-12-12 07:16:04.237 +00:00`` (always
UTC). Unlike Hayabusa, Channel is written out in full (``Security``, not ``Sec``) and RuleFile
is the rule's file name (its path is in the rule set). Details, ExtraFieldInfo and
AllFieldInfo are described in ``details.py``.

A cell holds at most 32,767 characters (``MAX_CELL``, Excel's limit for a cell and under the
131,072 that Python's ``csv`` module reads by default): a longer value is cut and ends with
``…``; the JSONL output keeps it whole.

Cells are attacker-controlled text opened in spreadsheets: a cell that would start a formula
(``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a leading apostrophe, as OWASP advises.
Written to a terminal, every cell also passes through ``terminal.printable``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TextIO

from sentinelle.detections import Detection
from sentinelle.hunt.outputs.details import all_field_info, details, extra_field_info
from sentinelle.hunt.outputs.fields import (
    computer,
    event_field,
    first_event,
    hayabusa_time,
    level_short,
    mitre_tactics,
    mitre_tags,
    other_tags,
    record_id,
)
from sentinelle.hunt.outputs.rulemeta import RuleCatalog
from sentinelle.hunt.outputs.timesketch import TIMESTAMP_DESC, usable_time
from sentinelle.hunt.summary import HuntSummary
from sentinelle.terminal import printable

Column = Callable[[Detection], str]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 32_767

_MINIMAL = (
    "Timestamp",
    "RuleTitle",
    "Level",
    "Computer",
    "Channel",
    "EventID",
    "RecordID",
    "Details",
)
_TAGS = ("MitreTactics", "MitreTags", "OtherTags")
_HEAD = ("Timestamp", "RuleTitle", "Level", "Computer", "Channel", "EventID")
_TIMESKETCH_HEAD = (
    "datetime",
    "timestamp_desc",
    "message",
    "Level",
    "Computer",
    "Channel",
    "EventID",
    *_TAGS,
    "RecordID",
    "Details",
)

PROFILES: dict[str, tuple[str, ...]] = {
    "minimal": _MINIMAL,
    "standard": (*_MINIMAL, "ExtraFieldInfo", "RuleID"),
    "verbose": (
        *_HEAD,
        *_TAGS,
        "RecordID",
        "Details",
        "ExtraFieldInfo",
        "RuleFile",
        "RuleID",
        "EvtxFile",
    ),
    "all-field-info": (*_HEAD, "RecordID", "AllFieldInfo", "RuleFile", "RuleID", "EvtxFile"),
    "all-field-info-verbose": (
        *_HEAD,
        *_TAGS,
        "RecordID",
        "AllFieldInfo",
        "RuleFile",
        "RuleID",
        "EvtxFile",
    ),
    "super-verbose": (
        *_HEAD,
        "RuleAuthor",
        "RuleModifiedDate",
        "Status",
        "RecordID",
        "Details",
        "ExtraFieldInfo",
        *_TAGS,
        "Provider",
        "RuleCreationDate",
        "RuleFile",
        "RuleID",
        "EvtxFile",
    ),
    "timesketch-minimal": (*_TIMESKETCH_HEAD, "RuleFile", "RuleID", "EvtxFile"),
    "timesketch-verbose": (*_TIMESKETCH_HEAD, "ExtraFieldInfo", "RuleFile", "RuleID", "EvtxFile"),
}

# Columns whose values this program writes itself and that may legitimately start with "-".
_TRUSTED = frozenset({"Timestamp", "datetime", "Level", "EventID", "RecordID", "timestamp_desc"})


def _iso(det: Detection) -> str:
    ts = usable_time(det.timestamp)
    return "" if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _columns(rules: RuleCatalog) -> dict[str, Column]:
    def evtx_file(det: Detection) -> str:
        ev = first_event(det)
        return "" if ev is None else ev.source

    return {
        "Timestamp": lambda d: hayabusa_time(d.timestamp),
        "datetime": _iso,
        "timestamp_desc": lambda d: TIMESTAMP_DESC.get(d.rule_type, "Detection Time"),
        "message": lambda d: d.rule_title,
        "RuleTitle": lambda d: d.rule_title,
        "Level": lambda d: level_short(d.level),
        "Computer": computer,
        "Channel": lambda d: event_field(d, "Channel"),
        "EventID": lambda d: event_field(d, "EventID"),
        "RecordID": record_id,
        "Details": details,
        "ExtraFieldInfo": extra_field_info,
        "AllFieldInfo": all_field_info,
        "MitreTactics": mitre_tactics,
        "MitreTags": mitre_tags,
        "OtherTags": other_tags,
        "Provider": lambda d: event_field(d, "Provider_Name"),
        "RuleID": lambda d: d.rule_id,
        "RuleFile": lambda d: rules.meta(d.rule_id).file_name,
        "RuleAuthor": lambda d: rules.meta(d.rule_id).author,
        "RuleCreationDate": lambda d: rules.meta(d.rule_id).date,
        "RuleModifiedDate": lambda d: rules.meta(d.rule_id).modified,
        "Status": lambda d: rules.meta(d.rule_id).status,
        "EvtxFile": evtx_file,
    }


def defuse(text: str) -> str:
    """``text`` that a spreadsheet shows as text, never evaluates as a formula."""
    if text.startswith(_FORMULA_START) and text != "-":
        return "'" + text
    return text


def _fit(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


class CsvWriter:
    def __init__(
        self,
        stream: TextIO,
        profile: str = "standard",
        rule_files: Mapping[str, str] | None = None,
        *,
        terminal: bool = False,
    ) -> None:
        names = PROFILES[profile]
        columns = _columns(RuleCatalog(rule_files))
        self._cells = [(name in _TRUSTED, columns[name]) for name in names]
        self._writer = csv.writer(stream, lineterminator="\r\n")
        self._writer.writerow(names)
        self._stream = stream
        self._terminal = terminal

    def write(self, det: Detection) -> None:
        row = [cell(det) if trusted else defuse(cell(det)) for trusted, cell in self._cells]
        if self._terminal:
            row = [printable(c) for c in row]
        self._writer.writerow([_fit(c) for c in row])

    def close(self, summary: HuntSummary) -> None:
        self._stream.flush()
