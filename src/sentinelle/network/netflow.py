"""Decoding NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages into flow records.

One ``FlowDecoder`` serves a collector or a captured file: it keeps the template cache and the
sequence numbers per exporter and observation domain. Every input is hostile: a malformed,
truncated or unknown message is counted in ``DecodeStats`` and described in a bounded list of
``ReadIssue``s, and decoding goes on with the next set or message. The decoder never raises for
bad input, and its state (templates, sequence streams, data waiting for a template) is capped,
with every eviction counted.
"""

from __future__ import annotations

import socket
import struct
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from sentinelle.events import ReadIssue
from sentinelle.network.flow import FlowRecord
from sentinelle.network.records import Context, build_records, fix_odd, uptime_age
from sentinelle.network.template_cache import CacheCounts, Template, TemplateCache
from sentinelle.network.templates import (
    MAX_FIELDS,
    FieldSpec,
    Plan,
    Role,
    compile_plan,
    parse_template_fields,
    walk_variable,
)

_V5_HEADER = struct.Struct(">HHIIIIBBH")
_V5_RECORD = struct.Struct(">4s4s8xIIIIHHxBBB8x")  # next hop, interfaces, AS and masks skipped
_V9_HEADER = struct.Struct(">HHIIII")
_IPFIX_HEADER = struct.Struct(">HHIII")
_SET_HEADER = struct.Struct(">HH")
_U32 = 1 << 32

_ntoa = socket.inet_ntoa


@dataclass(slots=True)
class DecodeStats:
    """Counters of everything the decoder met; ``issues`` holds a bounded sample with places."""

    messages: int = 0
    records: int = 0
    versions: dict[int, int] = field(default_factory=dict)
    malformed: int = 0
    truncated: int = 0
    unsupported_version: int = 0
    unknown_template_sets: int = 0
    pending_decoded_sets: int = 0
    pending_dropped_sets: int = 0
    hostile_lengths: int = 0
    non_flow_records: int = 0
    sampled_records: int = 0  # counters multiplied by the exporter's sampling rate
    # Records set aside because their flow ends far from the message's export time, in all and
    # per exporter (the first 1,000 exporters by name, the rest under "other").
    far_from_header: int = 0
    far_from_header_by_exporter: dict[str, int] = field(default_factory=dict)
    sequence_lost: int = 0  # v5/IPFIX: records lost; v9: export packets lost
    sequence_gaps: int = 0  # how many times a gap was seen
    out_of_order: int = 0
    templates: CacheCounts = field(default_factory=CacheCounts)
    streams_evicted: int = 0
    issues: list[ReadIssue] = field(default_factory=list)
    issues_dropped: int = 0
    max_issues: int = 200

    def issue(self, where: str, reason: str) -> None:
        if len(self.issues) < self.max_issues:
            self.issues.append(ReadIssue(where, reason))
        else:
            self.issues_dropped += 1

    def far(self, exporter: str, count: int, where: str, export_time: float) -> None:
        self.far_from_header += count
        by = self.far_from_header_by_exporter
        name = exporter if exporter in by or len(by) < 1_000 else "other"
        by[name] = by.get(name, 0) + count
        self.issue(
            where,
            f"{count} records set aside: their flows end far from the message's export time"
            f" ({export_time:.0f})",
        )

    @property
    def problems(self) -> int:
        return (
            self.malformed
            + self.truncated
            + self.unsupported_version
            + self.unknown_template_sets
            + self.hostile_lengths
        )

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__ if name not in _NOT_COUNTERS}
        out["versions"] = {str(k): v for k, v in sorted(self.versions.items())}
        templates = self.templates
        out["templates"] = {
            name: getattr(templates, name) for name in templates.__slots__ if name != "max_named"
        }
        out["templates"]["by_exporter"] = dict(sorted(templates.by_exporter.items()))
        out["far_from_header_by_exporter"] = dict(sorted(self.far_from_header_by_exporter.items()))
        return out


_NOT_COUNTERS = frozenset(
    {"issues", "max_issues", "versions", "templates", "far_from_header_by_exporter"}
)


@dataclass(frozen=True, slots=True)
class DecoderLimits:
    max_templates: int = 4096  # in all
    max_templates_per_exporter: int = 256  # each exporter (address, domain) has its own share
    template_timeout: float = 1800.0  # seconds without refresh before a template is forgotten
    # A flow record is set aside when its flow ends this long before its message's export time
    # (exporters hold an idle TCP flow up to an hour), or this long after it (clock jitter).
    max_flow_age_seconds: float = 86_400.0
    max_flow_ahead_seconds: float = 600.0
    max_streams: int = 4096  # (exporter, version, domain) sequence trackers
    max_pending_sets: int = 256  # data sets kept while their template has not arrived


class FlowDecoder:
    """Decodes NetFlow v5/v9 and IPFIX messages; holds templates and sequence state."""

    def __init__(self, limits: DecoderLimits | None = None) -> None:
        self.limits = limits or DecoderLimits()
        self.stats = DecodeStats()
        self._templates = TemplateCache(
            self.limits.max_templates, self.limits.max_templates_per_exporter
        )
        self.stats.templates = self._templates.counts
        limits = self.limits
        self._window = (limits.max_flow_age_seconds, limits.max_flow_ahead_seconds)
        self._streams: OrderedDict[tuple[str, int, int], tuple[int, int]] = OrderedDict()
        self._system_init: OrderedDict[tuple[str, int], float] = OrderedDict()
        # One packet in N sampled, per exporter and domain: counters are scaled back up.
        self._sampling: OrderedDict[tuple[str, int], float] = OrderedDict()
        self._pending: deque[tuple[tuple[str, int, int, int], bytes, Context]] = deque()

    @property
    def template_count(self) -> int:
        return len(self._templates)

    def decode(
        self, data: bytes, exporter: str = "-", received: float | None = None, where: str = ""
    ) -> list[FlowRecord]:
        """Flow records of one message (one UDP datagram, or one message read from a file).

        ``exporter`` identifies the sender (its IP address) so that templates of different
        exporters never mix; ``received`` is the arrival time, used for template expiry;
        ``where`` names the message in issues (``file.pcap record 12``).
        """
        stats = self.stats
        stats.messages += 1
        where = where or exporter
        if len(data) < 2:
            stats.truncated += 1
            stats.issue(where, f"message of {len(data)} bytes")
            return []
        version = (data[0] << 8) | data[1]
        stats.versions[version] = stats.versions.get(version, 0) + 1
        if version == 5:
            return self._decode_v5(data, exporter, where)
        if version == 9:
            return self._decode_v9(data, exporter, received, where)
        if version == 10:
            return self._decode_ipfix(data, exporter, received, where)
        stats.unsupported_version += 1
        stats.issue(where, f"not a NetFlow v5/v9 or IPFIX message (version {version})")
        return []

    # -- sequence numbers ------------------------------------------------------------------

    def _track(self, key: tuple[str, int, int], sequence: int, count: int, where: str) -> None:
        """Count gaps. ``count`` is what the message adds to the sequence (records or 1)."""
        streams = self._streams
        previous = streams.pop(key, None)
        if previous is None and len(streams) >= self.limits.max_streams:
            streams.popitem(last=False)
            self.stats.streams_evicted += 1
        streams[key] = (sequence, count)
        if previous is None:
            return
        last_seq, last_count = previous
        expected = (last_seq + last_count) % _U32
        if sequence == expected:
            return
        # Some exporters (softflowd's IPFIX) count the current message's records in its own
        # sequence number; that is consistent too, only shifted by one message.
        if key[1] == 10 and sequence == (last_seq + count) % _U32:
            return
        ahead = (sequence - expected) % _U32
        if ahead < _U32 // 2:
            self.stats.sequence_gaps += 1
            self.stats.sequence_lost += ahead
            self.stats.issue(where, f"sequence gap: {ahead} missing (expected {expected})")
        else:
            self.stats.out_of_order += 1
            streams[key] = previous  # a late message must not move the expected number back

    # -- NetFlow v5 ------------------------------------------------------------------------

    def _decode_v5(self, data: bytes, exporter: str, where: str) -> list[FlowRecord]:
        stats = self.stats
        if len(data) < _V5_HEADER.size:
            stats.truncated += 1
            stats.issue(where, f"v5 header needs 24 bytes, got {len(data)}")
            return []
        _, count, uptime, secs, nsecs, sequence, engine_type, engine_id, sampling = (
            _V5_HEADER.unpack_from(data)
        )
        available = (len(data) - _V5_HEADER.size) // _V5_RECORD.size
        if count > 30 or count == 0:
            stats.malformed += 1
            stats.issue(where, f"v5 record count {count} outside 1..30")
            count = min(count, 30)
        if available < count:
            stats.truncated += 1
            stats.issue(where, f"v5 announces {count} records, carries {available}")
            count = available
        self._track((exporter, 5, (engine_type << 8) | engine_id), sequence, count, where)
        rate = sampling & 0x3FFF  # the top two bits give the sampling mode
        base_ms = secs * 1000 + nsecs // 1_000_000 - uptime  # epoch ms at exporter boot
        export = (base_ms + uptime) / 1000.0
        low, high = export - self._window[0], export + self._window[1]
        far = 0
        out: list[FlowRecord] = []
        body = memoryview(data)[_V5_HEADER.size : _V5_HEADER.size + count * _V5_RECORD.size]
        for (
            src,
            dst,
            pkts,
            octets,
            first,
            last,
            sport,
            dport,
            flags,
            proto,
            _tos,
        ) in _V5_RECORD.iter_unpack(body):
            # Uptime counters wrap after 49.7 days: measure back from the header's uptime.
            start = (base_ms + uptime - uptime_age(uptime, first)) / 1000.0
            end = (base_ms + uptime - uptime_age(uptime, last)) / 1000.0
            if not low <= end <= high:
                far += 1
                continue
            out.append(
                FlowRecord(
                    start if start <= end else end,
                    end,
                    _ntoa(src),
                    _ntoa(dst),
                    sport,
                    dport,
                    proto,
                    pkts,
                    octets,
                    flags if proto == 6 else None,
                    0,
                    0,
                    None,
                    None,
                    exporter,
                )
            )
        if far:
            stats.far(exporter, far, where, export)
        stats.records += len(out)
        if rate > 1:
            _scale(out, float(rate))
            stats.sampled_records += len(out)
        return out

    # -- NetFlow v9 and IPFIX ----------------------------------------------------------------

    def _decode_v9(
        self, data: bytes, exporter: str, received: float | None, where: str
    ) -> list[FlowRecord]:
        stats = self.stats
        if len(data) < _V9_HEADER.size:
            stats.truncated += 1
            stats.issue(where, f"v9 header needs 20 bytes, got {len(data)}")
            return []
        _, _count, uptime, secs, sequence, source_id = _V9_HEADER.unpack_from(data)
        ctx = Context(exporter, 9, source_id, float(secs), uptime, where)
        self._track((exporter, 9, source_id), sequence, 1, where)
        return self._walk_sets(data, _V9_HEADER.size, len(data), ctx, received)

    def _decode_ipfix(
        self, data: bytes, exporter: str, received: float | None, where: str
    ) -> list[FlowRecord]:
        stats = self.stats
        if len(data) < _IPFIX_HEADER.size:
            stats.truncated += 1
            stats.issue(where, f"IPFIX header needs 16 bytes, got {len(data)}")
            return []
        _, length, export_time, sequence, domain = _IPFIX_HEADER.unpack_from(data)
        if length < _IPFIX_HEADER.size:
            stats.malformed += 1
            stats.issue(where, f"IPFIX message length {length} below its header")
            return []
        if length > len(data):
            stats.truncated += 1
            stats.issue(where, f"IPFIX message announces {length} bytes, carries {len(data)}")
            length = len(data)
        ctx = Context(exporter, 10, domain, float(export_time), 0, where)
        before = stats.records
        out = self._walk_sets(data, _IPFIX_HEADER.size, length, ctx, received)
        # IPFIX sequence numbers count data records, so they are tracked after decoding.
        self._track((exporter, 10, domain), sequence, stats.records - before, where)
        return out

    def _walk_sets(
        self, data: bytes, offset: int, end: int, ctx: Context, received: float | None
    ) -> list[FlowRecord]:
        stats = self.stats
        ipfix = ctx.version == 10
        template_ids = (2, 3) if ipfix else (0, 1)
        now = received if received is not None else ctx.export_time
        out: list[FlowRecord] = []
        view = memoryview(data)
        number = 0
        while offset + 4 <= end:
            number += 1
            set_id, set_len = _SET_HEADER.unpack_from(data, offset)
            here = f"{ctx.where} set {number} (offset {offset})"
            if set_len < 4:
                stats.malformed += 1
                stats.issue(here, f"set length {set_len} below 4; rest of message skipped")
                return out
            if offset + set_len > end:
                stats.truncated += 1
                stats.issue(here, f"set of {set_len} bytes runs past the message end ({end})")
                return out
            body = view[offset + 4 : offset + set_len]
            offset += set_len
            if set_id in template_ids:
                out.extend(self._read_templates(body, set_id == template_ids[1], ctx, now, here))
            elif set_id >= 256:
                out.extend(self._read_data(bytes(body), set_id, ctx, now, here))
            else:
                stats.malformed += 1
                stats.issue(here, f"reserved set id {set_id}")
        if offset != end and any(data[offset:end]):
            stats.malformed += 1
            stats.issue(ctx.where, f"{end - offset} stray bytes after the last set")
        return out

    def _read_templates(
        self, body: memoryview, options: bool, ctx: Context, now: float, where: str
    ) -> list[FlowRecord]:
        stats = self.stats
        ipfix = ctx.version == 10
        out: list[FlowRecord] = []
        offset = 0
        end = len(body)
        while offset + 4 <= end:
            template_id, field_count = struct.unpack_from(">HH", body, offset)
            offset += 4
            scope_count = 0
            if options:
                if offset + 2 > end:
                    break
                (scope_count,) = struct.unpack_from(">H", body, offset)
                offset += 2
                if not ipfix:
                    # v9 options templates give scope and option lengths in bytes.
                    scope_bytes, option_bytes = field_count, scope_count
                    if scope_bytes % 4 or option_bytes % 4:
                        stats.malformed += 1
                        stats.issue(where, f"v9 options template {template_id}: bad lengths")
                        return out
                    field_count = (scope_bytes + option_bytes) // 4
            if ipfix and field_count == 0 and template_id >= 256:
                self._withdraw(ctx, template_id, where)
                continue
            if ipfix and field_count == 0 and template_id in (2, 3):
                self._withdraw_all(ctx)
                continue
            if template_id < 256 or field_count == 0:
                stats.malformed += 1
                stats.issue(where, f"template {template_id} with {field_count} fields")
                return out
            if field_count > MAX_FIELDS:
                stats.hostile_lengths += 1
                stats.issue(where, f"template {template_id} claims {field_count} fields")
                return out
            parsed = parse_template_fields(body, offset, field_count, ipfix)
            if parsed is None:
                stats.truncated += 1
                stats.issue(where, f"template {template_id} runs past its set")
                return out
            fields, offset = parsed
            if self._refresh(ctx, template_id, fields, now):
                continue
            plan = compile_plan(fields)
            if plan.min_length == 0 or plan.min_length > 0xFFFF:
                stats.hostile_lengths += 1
                stats.issue(where, f"template {template_id}: record length {plan.min_length}")
                continue
            if plan.hostile:
                stats.hostile_lengths += len(plan.hostile)
                stats.issue(where, f"template {template_id}: ignored " + "; ".join(plan.hostile))
            out.extend(self._learn(ctx, template_id, plan, options, now, where))
        return out

    def _refresh(
        self, ctx: Context, template_id: int, fields: tuple[FieldSpec, ...], now: float
    ) -> bool:
        """Whether this template is already known as it is (exporters resend them often)."""
        key = (ctx.exporter, ctx.version, ctx.domain)
        return self._templates.refresh(key, template_id, fields, now)

    def _learn(
        self, ctx: Context, template_id: int, plan: Plan, options: bool, now: float, where: str
    ) -> list[FlowRecord]:
        key = (ctx.exporter, ctx.version, ctx.domain)
        if not self._templates.learn(key, template_id, Template(plan, now, now, options)):
            self.stats.issue(
                where,
                f"template {template_id} refused: the template cache is full"
                f" ({self.limits.max_templates}) of exporters whose data was decoded",
            )
            return []
        return self._replay_pending((*key, template_id), now)

    def _withdraw(self, ctx: Context, template_id: int, where: str) -> None:
        key = (ctx.exporter, ctx.version, ctx.domain)
        if not self._templates.drop(key, template_id):
            self.stats.issue(where, f"withdrawal of unknown template {template_id}")

    def _withdraw_all(self, ctx: Context) -> None:
        self._templates.drop_all((ctx.exporter, ctx.version, ctx.domain))

    def _replay_pending(self, key: tuple[str, int, int, int], now: float) -> list[FlowRecord]:
        if not self._pending:
            return []
        waiting = [item for item in self._pending if item[0] == key]
        if not waiting:
            return []
        self._pending = deque(item for item in self._pending if item[0] != key)
        out: list[FlowRecord] = []
        for _, body, ctx in waiting:
            self.stats.pending_decoded_sets += 1
            out.extend(self._read_data(body, key[3], ctx, now, ctx.where))
        return out

    def _read_data(
        self, body: bytes, set_id: int, ctx: Context, now: float, where: str
    ) -> list[FlowRecord]:
        stats = self.stats
        exporter = (ctx.exporter, ctx.version, ctx.domain)
        key = (*exporter, set_id)
        template = self._templates.get(exporter, set_id)
        if template is not None and now - template.refreshed > self.limits.template_timeout:
            self._templates.drop(exporter, set_id, expired=True)
            stats.issue(
                where,
                f"template {set_id} expired (not refreshed for {now - template.refreshed:.0f} s)",
            )
            template = None
        if template is None:
            stats.unknown_template_sets += 1
            stats.issue(where, f"data set for unknown template {set_id}; kept until it arrives")
            if len(self._pending) >= self.limits.max_pending_sets:
                self._pending.popleft()
                stats.pending_dropped_sets += 1
            self._pending.append((key, body, ctx))
            return []
        plan = template.plan
        rows = self._rows(plan, body, where)
        if rows:
            self._templates.proven(exporter)
        if template.options:
            self._read_options(plan, rows, ctx)
            return []
        if not plan.has_flows:
            stats.non_flow_records += len(rows)
            return []
        records, far = build_records(plan, rows, ctx, self._system_init, self._window)
        if far:
            stats.far(ctx.exporter, far, where, ctx.export_time)
        stats.records += len(records)
        rate = self._sampling.get((ctx.exporter, ctx.domain), 1.0)
        if rate > 1.0:
            _scale(records, rate)
            stats.sampled_records += len(records)
        return records

    def _rows(self, plan: Plan, body: bytes, where: str) -> list[tuple[Any, ...]]:
        stats = self.stats
        if plan.struct is not None:
            size = plan.struct.size
            usable = len(body) - len(body) % size
            if usable != len(body) and any(body[usable:]) and len(body) - usable >= 4:
                # Padding is under one record and zero; anything else is a cut record.
                stats.truncated += 1
                stats.issue(where, f"{len(body) - usable} bytes of a partial record")
            rows = list(plan.struct.iter_unpack(body[:usable]))
            if plan.odd_ints:
                rows = [fix_odd(row, plan.odd_ints) for row in rows]
            return rows
        out: list[tuple[Any, ...]] = []
        offset = 0
        end = len(body)
        while offset + plan.min_length <= end:
            walked = walk_variable(plan, body, offset)
            if walked is None:
                stats.hostile_lengths += 1
                stats.issue(where, f"variable-length field runs past the set at offset {offset}")
                break
            row, offset = walked
            out.append(row)
        return out

    def _read_options(self, plan: Plan, rows: list[tuple[Any, ...]], ctx: Context) -> None:
        """What options records say about the exporter: its start time and its sampling."""
        key = (ctx.exporter, ctx.domain)
        at_init = plan.index.get(Role.SYSTEM_INIT)
        at_interval = plan.index.get(Role.SAMPLING_INTERVAL)
        at_taken = plan.index.get(Role.PACKET_INTERVAL)
        at_skipped = plan.index.get(Role.PACKET_SPACE)
        for row in rows:
            if at_init is not None and isinstance(row[at_init], int) and row[at_init] > 0:
                _remember(self._system_init, key, row[at_init] / 1000.0, self.limits.max_streams)
            rate = 0.0
            if at_interval is not None and isinstance(row[at_interval], int):
                rate = float(row[at_interval])
            elif at_taken is not None and at_skipped is not None:
                taken, skipped = row[at_taken], row[at_skipped]
                if isinstance(taken, int) and isinstance(skipped, int) and taken > 0:
                    rate = (taken + skipped) / taken
            if rate >= 1.0:
                _remember(self._sampling, key, rate, self.limits.max_streams)


def _remember(
    table: OrderedDict[tuple[str, int], float], key: tuple[str, int], value: float, cap: int
) -> None:
    if key not in table and len(table) >= cap:
        table.popitem(last=False)
    table[key] = value


def _scale(records: list[FlowRecord], rate: float) -> None:
    """Counters of sampled traffic back to estimates of the real traffic."""
    for f in records:
        f.packets = round(f.packets * rate)
        f.bytes = round(f.bytes * rate)
        f.rpackets = round(f.rpackets * rate)
        f.rbytes = round(f.rbytes * rate)
