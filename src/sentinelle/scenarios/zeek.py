"""Zeek ``conn.log`` in its native TSV form (``#fields`` header), one line per connection.

Lines come in the order Zeek writes them: when each connection ends (``ts`` is its start).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from sentinelle.scenarios.sink import LogSink

FIELDS = (
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
)
TYPES = (
    "time",
    "string",
    "addr",
    "port",
    "addr",
    "port",
    "enum",
    "string",
    "interval",
    "count",
    "count",
    "string",
    "bool",
    "bool",
    "count",
    "string",
    "count",
    "count",
    "count",
    "count",
    "set[string]",
)
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d-%H-%M-%S")


def header(first: float, last: float) -> list[str]:
    return [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        f"#open\t{_stamp(first)}",
        "#fields\t" + "\t".join(FIELDS),
        "#types\t" + "\t".join(TYPES),
    ]


def footer(first: float, last: float) -> list[str]:
    return [f"#close\t{_stamp(last + 1)}"]


@dataclass(slots=True)
class Conn:
    ts: float
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    proto: str  # tcp, udp, icmp
    conn_state: str  # SF, S0, REJ, RSTO, SH, OTH...
    history: str
    duration: float | None = None
    orig_bytes: int = 0
    resp_bytes: int = 0
    orig_pkts: int = 1
    resp_pkts: int = 0
    service: str = "-"
    local_orig: bool = True
    local_resp: bool = True


class ConnLog:
    """A conn.log file in a sink; draws Zeek-like connection uids from its own generator."""

    def __init__(self, sink: LogSink, path: str, rng: random.Random) -> None:
        self._sink = sink
        self._path = path
        self._rng = rng
        sink.set_frame(path, header, footer)

    def _uid(self) -> str:
        return "C" + "".join(self._rng.choice(_B62) for _ in range(17))

    def add(self, c: Conn) -> None:
        # IP header overhead Zeek adds in *_ip_bytes: 20 bytes IP + 20 TCP / 8 UDP / 8 ICMP.
        per_pkt = 40 if c.proto == "tcp" else 28
        values = (
            f"{c.ts:.6f}",
            self._uid(),
            c.orig_h,
            str(c.orig_p),
            c.resp_h,
            str(c.resp_p),
            c.proto,
            c.service,
            "-" if c.duration is None else f"{c.duration:.6f}",
            str(c.orig_bytes),
            str(c.resp_bytes),
            c.conn_state,
            "T" if c.local_orig else "F",
            "T" if c.local_resp else "F",
            "0",
            c.history,
            str(c.orig_pkts),
            str(c.orig_bytes + per_pkt * c.orig_pkts),
            str(c.resp_pkts),
            str(c.resp_bytes + per_pkt * c.resp_pkts),
            "-",
        )
        # Zeek writes a connection when it ends, so the file is in order of end times.
        self._sink.add_line(self._path, c.ts + (c.duration or 0.0), "\t".join(values))
