"""Reading flow messages from captured files.

Accepted formats, recognised by their first bytes (never by the file name):

- **pcap** (libpcap, either byte order, micro- or nanosecond timestamps) and **pcapng**, holding
  UDP datagrams over IPv4 or IPv6 on Ethernet (with 802.1Q tags), raw IP, Linux cooked (SLL and
  SLL2) or BSD loopback links: every UDP payload is one NetFlow/IPFIX message, its exporter is
  the packet's source address and its time the capture time. ``ports`` restricts the UDP
  destination ports read (default: all, so a capture of anything else shows up as
  unsupported-version counts rather than silently nothing).
- **IPFIX files** (RFC 5655): IPFIX messages one after another, each sized by its header; the
  exporter is the file itself.

File-level problems (unreadable, unknown format) raise ``ReadError`` with the file's location;
problems inside a file (a cut record, a non-UDP packet) are counted in ``CaptureStats``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sentinelle.errors import Location, ReadError
from sentinelle.events import ReadIssue


@dataclass(frozen=True, slots=True)
class Message:
    """One flow message taken from a file: its bytes, sender, time and place in the file."""

    payload: bytes
    exporter: str
    time: float | None
    where: str


@dataclass(slots=True)
class CaptureStats:
    packets: int = 0
    messages: int = 0
    skipped_not_udp: int = 0
    skipped_port: int = 0
    skipped_fragment: int = 0
    skipped_link: int = 0  # packets on a link type the reader does not decode
    truncated: int = 0
    issues: list[ReadIssue] = field(default_factory=list)
    max_issues: int = 100

    def issue(self, where: str, reason: str) -> None:
        if len(self.issues) < self.max_issues:
            self.issues.append(ReadIssue(where, reason))

    def cut(self, where: str, reason: str) -> None:
        """A record the file does not hold whole (or not at all): counted and reported."""
        self.truncated += 1
        self.issue(where, reason)


_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_MAX_RECORD = 1 << 24  # no captured packet is 16 MiB; a bigger length means a corrupt file

LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_RAW_ALT = (12, 14)
LINK_SLL = 113
LINK_SLL2 = 276
LINK_IPV4 = 228
LINK_IPV6 = 229
SUPPORTED_LINKS = frozenset(
    {LINK_NULL, LINK_ETHERNET, LINK_RAW, *LINK_RAW_ALT, LINK_SLL, LINK_SLL2, LINK_IPV4, LINK_IPV6}
)
# Names of the link types (tcpdump.org/linktypes.html) a capture may well hold.
LINK_NAMES = {
    LINK_NULL: "BSD loopback",
    LINK_ETHERNET: "Ethernet",
    LINK_RAW: "raw IP",
    12: "raw IP",
    14: "raw IP",
    LINK_SLL: "Linux cooked",
    LINK_SLL2: "Linux cooked v2",
    LINK_IPV4: "raw IPv4",
    LINK_IPV6: "raw IPv6",
    9: "PPP",
    50: "PPP over HDLC",
    104: "Cisco HDLC",
    105: "IEEE 802.11",
    108: "OpenBSD loopback",
    119: "802.11 Prism",
    127: "802.11 radiotap",
    147: "user-defined",
    192: "PPI",
    195: "IEEE 802.15.4",
    197: "Endace ERF",
    220: "USB",
    249: "netlink",
}
SUPPORTED_NAMES = "Ethernet, raw IP, Linux cooked (v1 and v2), BSD loopback"


def link_name(link: int) -> str:
    return f"link type {link} ({LINK_NAMES.get(link, 'unknown')})"


def sniff_capture(head: bytes) -> str | None:
    """``pcap``, ``pcapng`` or ``ipfix`` from a file's first bytes, or None."""
    if head[:4] in _PCAP_MAGIC:
        return "pcap"
    if head[:4] == _PCAPNG_MAGIC:
        return "pcapng"
    if len(head) >= 16 and head[:2] == b"\x00\x0a":
        length = int.from_bytes(head[2:4], "big")
        if length >= 16:
            return "ipfix"
    return None


def read_capture(
    path: Path, stats: CaptureStats | None = None, ports: Collection[int] = ()
) -> Iterator[Message]:
    """The flow messages of a capture file, streamed (the file is never loaded whole)."""
    stats = stats if stats is not None else CaptureStats()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ReadError(f"cannot open: {exc.strerror}", Location(str(path))) from exc
    with handle:
        head = handle.read(16)
        kind = sniff_capture(head)
        handle.seek(0)
        if kind == "pcap":
            yield from _read_pcap(handle, str(path), stats, ports)
        elif kind == "pcapng":
            yield from _read_pcapng(handle, str(path), stats, ports)
        elif kind == "ipfix":
            yield from _read_ipfix_file(handle, str(path), stats)
        else:
            raise ReadError(
                "not a flow capture (expected pcap, pcapng or an RFC 5655 IPFIX file)",
                Location(str(path)),
            )


def _read_ipfix_file(handle: BinaryIO, name: str, stats: CaptureStats) -> Iterator[Message]:
    number = 0
    offset = 0
    while True:
        header = handle.read(4)
        if not header:
            return
        number += 1
        where = f"{name} message {number} (offset {offset})"
        if len(header) < 4 or header[:2] != b"\x00\x0a":
            stats.cut(where, "not an IPFIX message header; rest of file skipped")
            return
        length = int.from_bytes(header[2:4], "big")
        if length < 16:
            stats.cut(where, f"IPFIX message length {length}; rest of file skipped")
            return
        rest = handle.read(length - 4)
        offset += length
        if len(rest) < length - 4:
            stats.cut(where, f"file ends inside a {length}-byte message")
            return
        stats.messages += 1
        data = header + rest
        export_time = float(int.from_bytes(data[4:8], "big"))
        yield Message(data, name, export_time, where)


def _headers(
    handle: BinaryIO, size: int, name: str, unit: str, stats: CaptureStats
) -> Iterator[tuple[bytes, str]]:
    """The fixed-size header opening each record (or block) and where it stands, until the
    file ends; a header the file cuts short is reported and ends the file."""
    number = 0
    while True:
        head = handle.read(size)
        if not head:
            return
        number += 1
        where = f"{name} {unit} {number}"
        if len(head) < size:
            stats.cut(where, f"file ends inside a {unit} header")
            return
        yield head, where


def _read_pcap(
    handle: BinaryIO, name: str, stats: CaptureStats, ports: Collection[int]
) -> Iterator[Message]:
    header = handle.read(24)
    if len(header) < 24:
        raise ReadError("pcap file header cut short", Location(name))
    endian, unit = _PCAP_MAGIC[header[:4]]
    link = struct.unpack(endian + "I", header[20:24])[0] & 0x0FFFFFFF
    if link not in SUPPORTED_LINKS:
        # One link type for the whole file: nothing in it can be read.
        raise ReadError(
            f"{link_name(link)} is not supported (supported: {SUPPORTED_NAMES})", Location(name)
        )
    record = struct.Struct(endian + "IIII")
    for head, where in _headers(handle, 16, name, "record", stats):
        secs, frac, caplen, _wirelen = record.unpack(head)
        if caplen > _MAX_RECORD:
            stats.cut(where, f"record length {caplen}; rest of file skipped")
            return
        frame = handle.read(caplen)
        if len(frame) < caplen:
            stats.cut(where, "file ends inside a packet")
            return
        message = _udp_message(frame, link, secs + frac * unit, where, stats, ports)
        if message is not None:
            yield message


def _read_pcapng(
    handle: BinaryIO, name: str, stats: CaptureStats, ports: Collection[int]
) -> Iterator[Message]:
    endian = "<"
    links: list[tuple[int, float]] = []
    for head, where in _headers(handle, 8, name, "block", stats):
        if head[:4] == _PCAPNG_MAGIC:
            bom = handle.read(4)
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            (length,) = struct.unpack(endian + "I", head[4:8])
            if length < 28 or length > _MAX_RECORD:
                stats.cut(where, f"section header length {length}; rest of file skipped")
                return
            handle.read(length - 12)
            links = []  # a new section starts its own interface list
            continue
        block_type_num, length = struct.unpack(endian + "II", head)
        if length < 12 or length % 4 or length > _MAX_RECORD:
            stats.cut(where, f"block length {length}; rest of file skipped")
            return
        body = handle.read(length - 8)
        if len(body) < length - 8:
            stats.cut(where, "file ends inside a block")
            return
        body = body[:-4]  # the trailing copy of the block length
        if block_type_num == 1 and len(body) >= 8:
            link = struct.unpack(endian + "H", body[:2])[0]
            links.append((link, _pcapng_resolution(body[8:], endian)))
            if link not in SUPPORTED_LINKS:
                stats.issue(
                    where,
                    f"interface {len(links) - 1}: {link_name(link)} is not supported"
                    f" (supported: {SUPPORTED_NAMES}); its packets are skipped",
                )
        elif block_type_num == 6 and len(body) >= 20:
            iface, ts_high, ts_low, caplen = struct.unpack(endian + "IIII", body[:16])
            if iface >= len(links) or 20 + caplen > len(body):
                stats.cut(where, "packet block with unknown interface or cut data")
                continue
            link, unit = links[iface]
            frame = body[20 : 20 + caplen]
            when = ((ts_high << 32) | ts_low) * unit
            message = _udp_message(frame, link, when, where, stats, ports)
            if message is not None:
                yield message
        elif block_type_num == 3 and len(body) >= 4 and links:
            message = _udp_message(body[4:], links[0][0], None, where, stats, ports)
            if message is not None:
                yield message


def _pcapng_resolution(options: bytes, endian: str) -> float:
    """Seconds per timestamp unit from an interface block's options (default microseconds)."""
    offset = 0
    while offset + 4 <= len(options):
        code, length = struct.unpack(endian + "HH", options[offset : offset + 4])
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[offset + 4]
            return float(2 ** -(value & 0x7F)) if value & 0x80 else float(10 ** -(value & 0x7F))
        offset += 4 + length + (-length % 4)
    return 1e-6


def _udp_message(
    frame: bytes,
    link: int,
    when: float | None,
    where: str,
    stats: CaptureStats,
    ports: Collection[int],
) -> Message | None:
    stats.packets += 1
    if link not in SUPPORTED_LINKS:
        stats.skipped_link += 1
        return None
    ip = _network_layer(frame, link)
    if ip is None or len(ip) < 20:
        stats.skipped_not_udp += 1
        return None
    version = ip[0] >> 4
    if version == 4:
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17 or ihl < 20 or len(ip) < ihl + 8:
            stats.skipped_not_udp += 1
            return None
        if int.from_bytes(ip[6:8], "big") & 0x3FFF:
            # Fragmented datagrams are not reassembled; NetFlow exporters keep under the MTU.
            stats.skipped_fragment += 1
            stats.issue(where, "fragmented UDP datagram skipped")
            return None
        source = ".".join(str(b) for b in ip[12:16])
        udp = ip[ihl:]
    elif version == 6:
        if len(ip) < 48 or ip[6] != 17:
            stats.skipped_not_udp += 1
            return None
        source = str(ipaddress.IPv6Address(bytes(ip[8:24])))
        udp = ip[40:]
    else:
        stats.skipped_not_udp += 1
        return None
    dport = int.from_bytes(udp[2:4], "big")
    if ports and dport not in ports:
        stats.skipped_port += 1
        return None
    length = int.from_bytes(udp[4:6], "big")
    payload = udp[8:length] if 8 <= length <= len(udp) else udp[8:]
    if length > len(udp):
        stats.cut(where, f"UDP datagram cut by the capture ({len(udp)} of {length} bytes)")
    stats.messages += 1
    return Message(bytes(payload), source, when, where)


def _network_layer(frame: bytes, link: int) -> bytes | None:
    if link == LINK_ETHERNET:
        offset, ethertype = 14, int.from_bytes(frame[12:14], "big")
        while ethertype in (0x8100, 0x88A8) and len(frame) >= offset + 4:
            ethertype = int.from_bytes(frame[offset + 2 : offset + 4], "big")
            offset += 4
        return frame[offset:] if ethertype in (0x0800, 0x86DD) else None
    if link in (LINK_RAW, LINK_IPV4, LINK_IPV6, *LINK_RAW_ALT):
        return frame
    if link == LINK_SLL:
        return frame[16:] if frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if link == LINK_SLL2:
        return frame[20:] if frame[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if link == LINK_NULL:
        return frame[4:]
    return None
