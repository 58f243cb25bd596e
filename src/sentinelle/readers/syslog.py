"""Syslog lines (RFC 5424, RFC 3164 and the ISO-stamped variant of rsyslog), and bare key=value or
CEF lines, with firewall payloads parsed into fields.

Header fields: ``host``, ``program`` and ``app_name`` (the same value: the RFC 3164 tag or the
RFC 5424 APP-NAME), ``pid``, ``msgid``, ``message``, ``facility`` and ``severity`` (ints, from
PRI), ``sd.<SD-ID>.<param>`` for RFC 5424 structured data. Payload fields (key=value, CEF,
filterlog) are added where their name is free; a payload key that collides with a header field
is kept as ``payload.<key>``.

RFC 3164 stamps carry neither year nor zone: the zone is taken as UTC and the year is the one
that puts the stamp at most two days after the file's modification time (so a December line in a
file written in January gets the previous year).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from sentinelle.readers import payloads
from sentinelle.readers.timestamps import in_range, parse_timestamp

Fields = dict[str, Any]

_PRI_RE = re.compile(r"<(\d{1,3})>")
_RFC5424_RE = re.compile(r"<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ?(.*)", re.DOTALL)
_BSD_STAMP_RE = re.compile(r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: \d{4})? ")
_ISO_STAMP_RE = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) ")
_TAG_RE = re.compile(r"([^\s:\[\]]{1,64})(?:\[([^\]\s]{0,32})\])?: ?(.*)", re.DOTALL)
_SD_ELEMENT_RE = re.compile(r"\[([^\s\]=]+)((?:\s+[^\s\]=]+=\"(?:[^\"\\]|\\.)*\")*)\s*\]")
_SD_PARAM_RE = re.compile(r"([^\s\]=]+)=\"((?:[^\"\\]|\\.)*)\"")
_SD_ESCAPE_RE = re.compile(r"\\([\"\\\]])")
_TWO_DAYS = 2 * 86400.0


class YearGuess:
    """Chooses the year of RFC 3164 stamps from a reference time (the file's mtime)."""

    def __init__(self, reference: float | None = None) -> None:
        # A file's mtime is set by whoever wrote it: one the calendar cannot hold counts as now.
        kept = None if reference is None else in_range(reference)
        self.reference = time.time() if kept is None else kept
        self.year = datetime.fromtimestamp(self.reference, tz=UTC).year

    def stamp(self, text: str) -> float | None:
        ts = parse_timestamp(text, year=self.year)
        if ts is not None and ts > self.reference + _TWO_DAYS:
            ts = parse_timestamp(text, year=self.year - 1)
        return ts


def looks_like_syslog(line: str) -> bool:
    """Sniffing helper: does this line start like a syslog record?"""
    body = line
    pri = _PRI_RE.match(line)
    if pri:
        return True
    return bool(_BSD_STAMP_RE.match(body) or _ISO_STAMP_RE.match(body))


def parse_syslog(line: str, years: YearGuess) -> tuple[Fields, float | None, bool]:
    """Fields and timestamp of one line; the bool says whether a timestamp field was present."""
    fields: Fields = {}
    stamp: str | None = None
    ts: float | None = None
    rest = line
    match = _RFC5424_RE.match(line)
    if match and match.group(2) != "0":
        _pri(int(match.group(1)), fields)
        fields["syslog_version"] = int(match.group(2))
        stamp = _nil(match.group(3))
        for name, value in (
            ("host", match.group(4)),
            ("app_name", match.group(5)),
            ("pid", match.group(6)),
            ("msgid", match.group(7)),
        ):
            if _nil(value) is not None:
                fields[name] = value
        if "app_name" in fields:
            fields["program"] = fields["app_name"]
        fields["message"] = ""  # its place: before the structured data (see values.settle)
        rest = _structured_data(match.group(8), fields)
        if rest.startswith("\ufeff"):
            rest = rest[1:]
        fields["message"] = rest
        ts = parse_timestamp(stamp) if stamp else None
    else:
        pri = _PRI_RE.match(line)
        if pri:
            _pri(int(pri.group(1)), fields)
            rest = line[pri.end() :]
        bsd = _BSD_STAMP_RE.match(rest)
        iso = None if bsd else _ISO_STAMP_RE.match(rest)
        if bsd:
            stamp = bsd.group(1)
            ts = years.stamp(stamp)
            rest = rest[bsd.end() :]
        elif iso:
            stamp = iso.group(1)
            ts = parse_timestamp(stamp)
            rest = rest[iso.end() :]
        if stamp is not None and not rest.startswith("CEF:"):
            rest = _host_and_tag(rest, fields)
        fields["message"] = rest
    _payload(fields, rest)
    if ts is None and stamp is None:
        inner = payloads.kv_timestamp(fields)
        if inner is not None:
            return fields, inner, True
        if "rt" in fields or "date" in fields or "eventtime" in fields:
            return fields, None, True
    return fields, ts, stamp is not None


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _pri(pri: int, fields: Fields) -> None:
    if pri <= 191:
        fields["facility"] = pri >> 3
        fields["severity"] = pri & 7


def _host_and_tag(rest: str, fields: Fields) -> str:
    if rest.startswith("CEF:"):
        return rest
    host, _, after = rest.partition(" ")
    if after.startswith("CEF:") or not after:
        if host and not after:
            return rest
        fields["host"] = host
        return after
    tag = _TAG_RE.match(after)
    if tag:
        fields["host"] = host
        fields["program"] = fields["app_name"] = tag.group(1)
        if tag.group(2):
            fields["pid"] = tag.group(2)
        return tag.group(3)
    # "host message" with no tag, or a tag with no host: keep the first word as host only when
    # it cannot be a tag itself.
    direct = _TAG_RE.match(rest)
    if direct:
        fields["program"] = fields["app_name"] = direct.group(1)
        if direct.group(2):
            fields["pid"] = direct.group(2)
        return direct.group(3)
    fields["host"] = host
    return after


def _structured_data(text: str, fields: Fields) -> str:
    if text.startswith("-"):
        return text[2:] if text.startswith("- ") else text[1:]
    position = 0
    while text.startswith("[", position):
        element = _SD_ELEMENT_RE.match(text, position)
        if element is None:
            break
        sd_id = element.group(1)
        for name, value in _SD_PARAM_RE.findall(element.group(2)):
            fields[f"sd.{sd_id}.{name}"] = _SD_ESCAPE_RE.sub(r"\1", value)
        position = element.end()
    rest = text[position:]
    return rest[1:] if rest.startswith(" ") else rest


def _payload(fields: Fields, message: str) -> None:
    parsed: Fields | None = None
    if "CEF:" in message[:200]:
        parsed = payloads.parse_cef(message)
    elif fields.get("program") == "filterlog":
        parsed = payloads.parse_filterlog(message)
    elif "=" in message:
        parsed = payloads.parse_kv(message)
    if not parsed:
        return
    for key, value in parsed.items():
        if key in fields:
            fields[f"payload.{key}"] = value
        else:
            fields[key] = value
