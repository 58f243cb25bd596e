"""Payloads carried inside syslog messages: key=value (FortiGate, Stormshield, iptables...), CEF,
and pfSense ``filterlog`` CSV. Each parser returns vendor fields plus the canonical network fields
of :mod:`sentinelle.readers.netfields`, or None when the text is not of its kind.
"""

from __future__ import annotations

import re
from typing import Any

from sentinelle.readers import netfields
from sentinelle.readers.timestamps import parse_timestamp

Fields = dict[str, Any]

# key=value, where value is "double quoted" (backslash escapes), 'single quoted' or a bare word.
_KV_RE = re.compile(r"""([A-Za-z_][\w.\-:]{0,127})=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']*)""")
_BARE_WORD_RE = re.compile(r"(?<![\w=\-.:/])([A-Z]{2,10})(?=\s|$)")
_ESCAPE_RE = re.compile(r"\\(.)")
_IPTABLES_ACTION_RE = re.compile(
    r"\b(ACCEPT|DROP|REJECT|DENY|BLOCK|ALLOW|PASS|LOG|AUDIT)", re.IGNORECASE
)
# Minimum number of key=value pairs for a message to be read as key=value.
_KV_MIN_PAIRS = 3


def parse_kv(text: str) -> Fields | None:
    """Vendor key=value fields of ``text`` plus canonical fields; None if it is not key=value."""
    pairs = _KV_RE.findall(text)
    if len(pairs) < _KV_MIN_PAIRS:
        return None
    fields: Fields = {}
    for key, quoted in pairs:
        value = quoted
        if quoted[:1] == '"' and len(quoted) >= 2:
            value = _ESCAPE_RE.sub(r"\1", quoted[1:-1])
        elif quoted[:1] == "'" and len(quoted) >= 2:
            value = quoted[1:-1]
        fields.setdefault(key, value)
    if "SRC" in fields and "PROTO" in fields:
        # iptables / netfilter LOG: bare flags (DF, SYN, ACK...) and a prefix naming the verdict.
        flags = _BARE_WORD_RE.findall(_KV_RE.sub(" ", text))
        if flags:
            fields["flags"] = " ".join(flags)
        prefix = text.split("IN=", 1)[0]
        verdict = _IPTABLES_ACTION_RE.search(prefix)
        if verdict:
            fields["action"] = verdict.group(1).lower()
        netfields.add_canonical(fields, netfields.IPTABLES)
        fields["log_format"] = "iptables"
    elif "devname" in fields or "logid" in fields:
        netfields.add_canonical(fields, netfields.FORTIGATE)
        fields["log_format"] = "fortigate"
    elif fields.get("id") == "firewall" and ("fw" in fields or "startime" in fields):
        netfields.add_canonical(fields, netfields.STORMSHIELD)
        fields["log_format"] = "stormshield"
    else:
        netfields.add_canonical(fields, netfields.GENERIC)
        fields["log_format"] = "kv"
    return fields


def kv_timestamp(fields: Fields) -> float | None:
    """The event time written inside a key=value record, if any (UTC; offsets honoured)."""
    eventtime = fields.get("eventtime")
    if eventtime is not None:
        ts = parse_timestamp(eventtime)
        if ts is not None:
            return ts
    date, clock = fields.get("date"), fields.get("time")
    tz = fields.get("tz")
    if isinstance(date, str) and isinstance(clock, str) and len(date) == 10:
        return parse_timestamp(f"{date}T{clock}{_offset(tz)}")
    if isinstance(clock, str) and len(clock) >= 19:  # Stormshield: time="2024-01-01 12:00:00"
        return parse_timestamp(clock.replace(" ", "T", 1) + _offset(tz))
    for key in ("timestamp", "ts", "rt"):
        if key in fields:
            return parse_timestamp(fields[key])
    return None


def _offset(tz: Any) -> str:
    if isinstance(tz, str):
        text = tz.strip().strip('"')
        if len(text) == 5 and text[0] in "+-" and text[1:].isdigit():
            return f"{text[:3]}:{text[3:]}"
    return ""


# CEF ----------------------------------------------------------------------------------------

_CEF_HEADER_NAMES = (
    "cef_version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "cef_severity",
)
# An extension key starts a new pair; values run until the next " key=" (spaces allowed).
_CEF_KEY_RE = re.compile(r"(?:^|(?<=\s))([A-Za-z0-9_.\[\]]+)=")
_CEF_UNESCAPE = {"\\=": "=", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\|": "|"}
_CEF_ESCAPE_RE = re.compile(r"\\[=\\nr|]")


def parse_cef(text: str) -> Fields | None:
    """``CEF:0|Vendor|Product|Version|Id|Name|Severity|ext`` to fields; None if not CEF."""
    start = text.find("CEF:")
    if start < 0:
        return None
    parts = _split_cef_header(text[start + 4 :])
    if parts is None:
        return None
    header, extension = parts
    fields: Fields = dict(zip(_CEF_HEADER_NAMES, header, strict=True))
    keys = list(_CEF_KEY_RE.finditer(extension))
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(extension)
        value = extension[match.end() : end].rstrip()
        fields.setdefault(
            match.group(1), _CEF_ESCAPE_RE.sub(lambda m: _CEF_UNESCAPE[m.group(0)], value)
        )
    # Custom labels: cs1Label=Rule cs1=Allow-Web -> Rule=Allow-Web as well.
    for key in [k for k in fields if k.endswith("Label") and k[:-5] in fields]:
        label = fields[key]
        if isinstance(label, str) and label and label not in fields:
            fields[label] = fields[key[:-5]]
    netfields.add_canonical(fields, netfields.CEF)
    fields["log_format"] = "cef"
    return fields


def _split_cef_header(text: str) -> tuple[list[str], str] | None:
    """The seven header fields (``\\|`` and ``\\\\`` unescaped) and the extension text."""
    header: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text) and len(header) < 7:
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "|\\":
            current.append(text[index + 1])
            index += 2
            continue
        if char == "|":
            header.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if len(header) < 7:
        return None
    return header, text[index:]


# pfSense filterlog ----------------------------------------------------------------------------

_FILTERLOG_COMMON = (
    "rule_number",
    "sub_rule_number",
    "anchor",
    "tracker",
    "interface",
    "reason",
    "action",
    "direction",
    "ip_version",
)
_FILTERLOG_V4 = ("tos", "ecn", "ttl", "ip_id", "offset", "ip_flags", "proto_id", "proto_name")
_FILTERLOG_V6 = ("class", "flow_label", "hop_limit", "proto_name", "proto_id")
_FILTERLOG_IP = ("length", "src", "dst")
_FILTERLOG_TCP = (
    "srcport",
    "dstport",
    "data_length",
    "tcp_flags",
    "sequence",
    "ack",
    "window",
    "urg",
    "tcp_options",
)
_FILTERLOG_UDP = ("srcport", "dstport", "data_length")
_FILTERLOG_MAP = {
    "src": "src_ip",
    "dst": "dst_ip",
    "srcport": "src_port",
    "dstport": "dst_port",
    "proto_name": "proto",
    "action": "action",
}


def parse_filterlog(text: str) -> Fields | None:
    """pfSense/OPNsense ``filterlog`` CSV (IPv4 and IPv6) to fields; None if it does not fit."""
    values = text.strip().split(",")
    if len(values) < 9 or values[8] not in ("4", "6"):
        return None
    names: list[str] = list(_FILTERLOG_COMMON)
    names += _FILTERLOG_V4 if values[8] == "4" else _FILTERLOG_V6
    names += _FILTERLOG_IP
    fields: Fields = dict(zip(names, values, strict=False))
    proto = fields.get("proto_name", "").lower()
    rest = values[len(names) :]
    if proto == "tcp":
        fields.update(zip(_FILTERLOG_TCP, rest, strict=False))
    elif proto == "udp":
        fields.update(zip(_FILTERLOG_UDP, rest, strict=False))
    elif rest:
        fields["proto_details"] = ",".join(rest)
    netfields.add_canonical(fields, _FILTERLOG_MAP)
    fields["log_format"] = "pfsense-filterlog"
    return fields
