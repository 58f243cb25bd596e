"""NetFlow v9 / IPFIX templates: parsing template records and compiling them into decode plans.

A template is compiled once into a ``Plan``: a ``struct.Struct`` that unpacks a whole data set
in one call when every field has a fixed length (the common case), plus the position of each
field the detectors need. Fields the detectors do not need are skipped as pad bytes, so they
cost nothing per record. Templates with variable-length fields (IPFIX only) fall back to a
per-record walk that produces the same tuple layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

# Information elements (IANA IPFIX registry; the first 127 are shared with NetFlow v9).
IE_OCTETS = 1
IE_PACKETS = 2
IE_PROTO = 4
IE_TCP_FLAGS = 6
IE_SRC_PORT = 7
IE_SRC_V4 = 8
IE_DST_PORT = 11
IE_DST_V4 = 12
IE_LAST_UPTIME = 21
IE_FIRST_UPTIME = 22
IE_SRC_V6 = 27
IE_DST_V6 = 28
IE_ICMP_V4 = 32
IE_ICMP_V6 = 139
IE_START_S = 150
IE_END_S = 151
IE_START_MS = 152
IE_END_MS = 153
IE_START_US = 154
IE_END_US = 155
IE_START_NS = 156
IE_END_NS = 157
IE_START_DELTA_US = 158
IE_END_DELTA_US = 159
IE_SYSTEM_INIT_MS = 160
IE_SAMPLING_INTERVAL = 34  # NetFlow v9 (one packet in N); also samplerRandomInterval (50)
IE_SAMPLER_RANDOM_INTERVAL = 50
IE_SAMPLING_PACKET_INTERVAL = 305  # PSAMP: this many packets taken ...
IE_SAMPLING_PACKET_SPACE = 306  # ... then this many skipped
# RFC 5103 biflows: the same element numbers under this enterprise mean the reverse direction.
REVERSE_PEN = 29305
VARIABLE = 0xFFFF

MAX_FIELDS = 512  # far above any real template; more is an attack on the collector


class Role(Enum):
    SRC = "src"
    DST = "dst"
    SPORT = "sport"
    DPORT = "dport"
    PROTO = "proto"
    FLAGS = "flags"
    BYTES = "bytes"
    PACKETS = "packets"
    RBYTES = "rbytes"
    RPACKETS = "rpackets"
    ICMP = "icmp"
    START = "start"
    END = "end"
    SYSTEM_INIT = "system_init"
    SAMPLING_INTERVAL = "sampling_interval"
    PACKET_INTERVAL = "packet_interval"
    PACKET_SPACE = "packet_space"


class TimeMode(Enum):
    """How a record's start/end time is encoded; decides the conversion to epoch seconds."""

    NONE = 0
    UPTIME = 1  # milliseconds of exporter uptime (v9 header uptime, or IPFIX system init time)
    SECONDS = 2
    MILLIS = 3
    NTP = 4  # 64-bit NTP timestamp (dateTimeMicroseconds / dateTimeNanoseconds)
    DELTA_US = 5  # microseconds before the export time


_TIME_IE: dict[int, tuple[Role, TimeMode]] = {
    IE_FIRST_UPTIME: (Role.START, TimeMode.UPTIME),
    IE_LAST_UPTIME: (Role.END, TimeMode.UPTIME),
    IE_START_S: (Role.START, TimeMode.SECONDS),
    IE_END_S: (Role.END, TimeMode.SECONDS),
    IE_START_MS: (Role.START, TimeMode.MILLIS),
    IE_END_MS: (Role.END, TimeMode.MILLIS),
    IE_START_US: (Role.START, TimeMode.NTP),
    IE_END_US: (Role.END, TimeMode.NTP),
    IE_START_NS: (Role.START, TimeMode.NTP),
    IE_END_NS: (Role.END, TimeMode.NTP),
    IE_START_DELTA_US: (Role.START, TimeMode.DELTA_US),
    IE_END_DELTA_US: (Role.END, TimeMode.DELTA_US),
}
_COUNTER_IE: dict[int, Role] = {
    IE_OCTETS: Role.BYTES,
    IE_PACKETS: Role.PACKETS,
    IE_PROTO: Role.PROTO,
    IE_TCP_FLAGS: Role.FLAGS,
    IE_SRC_PORT: Role.SPORT,
    IE_DST_PORT: Role.DPORT,
    IE_ICMP_V4: Role.ICMP,
    IE_ICMP_V6: Role.ICMP,
    IE_SYSTEM_INIT_MS: Role.SYSTEM_INIT,
    IE_SAMPLING_INTERVAL: Role.SAMPLING_INTERVAL,
    IE_SAMPLER_RANDOM_INTERVAL: Role.SAMPLING_INTERVAL,
    IE_SAMPLING_PACKET_INTERVAL: Role.PACKET_INTERVAL,
    IE_SAMPLING_PACKET_SPACE: Role.PACKET_SPACE,
}
_ADDRESS_IE: dict[int, tuple[Role, int]] = {
    IE_SRC_V4: (Role.SRC, 4),
    IE_DST_V4: (Role.DST, 4),
    IE_SRC_V6: (Role.SRC, 16),
    IE_DST_V6: (Role.DST, 16),
}
_INT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    ie: int
    length: int  # VARIABLE (65535) for an IPFIX variable-length field
    enterprise: int = 0


@dataclass(slots=True)
class Plan:
    """A compiled template. ``index[role]`` is the role's position in an unpacked row."""

    fields: tuple[FieldSpec, ...]
    struct: struct.Struct | None  # None when a field has variable length
    min_length: int  # bytes of one record (fixed), or its lower bound (variable)
    index: dict[Role, int]
    odd_ints: tuple[int, ...]  # row positions holding bytes to turn into ints (3, 5, 6, 7 bytes)
    row_roles: tuple[Role | None, ...]  # role of each row value, in order (variable path)
    start_mode: TimeMode
    end_mode: TimeMode
    v6: bool
    hostile: tuple[str, ...]  # fields ignored because their length makes no sense

    @property
    def has_flows(self) -> bool:
        return Role.SRC in self.index and Role.DST in self.index

    def __reduce__(self) -> tuple[object, tuple[tuple[FieldSpec, ...]]]:
        # A compiled struct cannot be pickled: a checkpoint keeps the fields and compiles again.
        return compile_plan, (self.fields,)


def parse_template_fields(
    body: bytes | memoryview, offset: int, count: int, ipfix: bool
) -> tuple[tuple[FieldSpec, ...], int] | None:
    """Read ``count`` field specifiers at ``offset``; None when they run past ``body``."""
    specs: list[FieldSpec] = []
    end = len(body)
    for _ in range(count):
        if offset + 4 > end:
            return None
        ie, length = struct.unpack_from(">HH", body, offset)
        offset += 4
        enterprise = 0
        if ipfix and ie & 0x8000:
            if offset + 4 > end:
                return None
            (enterprise,) = struct.unpack_from(">I", body, offset)
            offset += 4
            ie &= 0x7FFF
        specs.append(FieldSpec(ie, length, enterprise))
    return tuple(specs), offset


def _role_of(spec: FieldSpec) -> tuple[Role | None, TimeMode, str | None]:
    """The role a field plays, its time mode, and why it is ignored when its length is wrong."""
    ie, length = spec.ie, spec.length
    if spec.enterprise == REVERSE_PEN:
        role = {IE_OCTETS: Role.RBYTES, IE_PACKETS: Role.RPACKETS}.get(ie)
        if role is not None and not 1 <= length <= 8:
            return None, TimeMode.NONE, f"reverse counter {ie} with length {length}"
        return role, TimeMode.NONE, None
    if spec.enterprise:
        return None, TimeMode.NONE, None
    if ie in _ADDRESS_IE:
        role, size = _ADDRESS_IE[ie]
        if length != size:
            return None, TimeMode.NONE, f"address field {ie} with length {length}"
        return role, TimeMode.NONE, None
    if ie in _TIME_IE:
        role, mode = _TIME_IE[ie]
        if not 1 <= length <= 8:
            return None, TimeMode.NONE, f"time field {ie} with length {length}"
        return role, mode, None
    if ie in _COUNTER_IE:
        if not 1 <= length <= 8:
            return None, TimeMode.NONE, f"field {ie} with length {length}"
        return _COUNTER_IE[ie], TimeMode.NONE, None
    return None, TimeMode.NONE, None


# Where a time mode ranks when a template carries several encodings of the same instant:
# the most precise absolute one wins.
_TIME_PREFERENCE = {
    TimeMode.NTP: 5,
    TimeMode.MILLIS: 4,
    TimeMode.SECONDS: 3,
    TimeMode.UPTIME: 2,
    TimeMode.DELTA_US: 1,
    TimeMode.NONE: 0,
}


def compile_plan(fields: tuple[FieldSpec, ...]) -> Plan:
    """Compile field specifiers into a decode plan (never fails: odd fields are ignored)."""
    fmt = [">"]
    index: dict[Role, int] = {}
    odd: list[int] = []
    row_roles: list[Role | None] = []
    hostile: list[str] = []
    start_mode = end_mode = TimeMode.NONE
    variable = False
    length_total = 0
    v6 = False
    for spec in fields:
        role, mode, problem = _role_of(spec)
        if problem is not None:
            hostile.append(problem)
        if spec.length == VARIABLE:
            variable = True
            length_total += 1
            row_roles.append(None)  # a variable-length field is never one the detectors read
            continue
        length_total += spec.length
        if role is None or (role in index and mode == TimeMode.NONE):
            fmt.append(f"{spec.length}x")
            row_roles.append(None)
            continue
        if role is Role.START or role is Role.END:
            current = start_mode if role is Role.START else end_mode
            if _TIME_PREFERENCE[mode] <= _TIME_PREFERENCE[current]:
                fmt.append(f"{spec.length}x")
                row_roles.append(None)
                continue
            if role is Role.START:
                start_mode = mode
            else:
                end_mode = mode
        position = len(row_roles) - row_roles.count(None)
        if role in (Role.SRC, Role.DST):
            fmt.append(f"{spec.length}s")
            v6 = spec.length == 16
        elif spec.length in _INT_CODES:
            fmt.append(_INT_CODES[spec.length])
        else:
            fmt.append(f"{spec.length}s")
            odd.append(position)
        index[role] = position
        row_roles.append(role)
    compiled = None if variable else struct.Struct("".join(fmt))
    # The variable path keeps every field in the row, so its positions count all fields.
    if variable:
        index = {role: pos for pos, role in enumerate(row_roles) if role is not None}
        odd = []
    return Plan(
        fields=fields,
        struct=compiled,
        min_length=length_total,
        index=index,
        odd_ints=tuple(odd),
        row_roles=tuple(row_roles),
        start_mode=start_mode,
        end_mode=end_mode,
        v6=v6,
        hostile=tuple(hostile),
    )


def walk_variable(
    plan: Plan, body: bytes | memoryview, offset: int
) -> tuple[tuple[object, ...], int] | None:
    """Read one variable-length record at ``offset``: its row and the next offset, or None."""
    row: list[object] = []
    end = len(body)
    for spec, role in zip(plan.fields, plan.row_roles, strict=True):
        length = spec.length
        if length == VARIABLE:
            if offset >= end:
                return None
            length = body[offset]
            offset += 1
            if length == 255:
                if offset + 2 > end:
                    return None
                length = int.from_bytes(body[offset : offset + 2], "big")
                offset += 2
        if offset + length > end:
            return None
        chunk = bytes(body[offset : offset + length])
        offset += length
        if role is Role.SRC or role is Role.DST:
            row.append(chunk)
        elif role is not None:
            row.append(int.from_bytes(chunk, "big"))
        else:
            row.append(None)
    return tuple(row), offset
