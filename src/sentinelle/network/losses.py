"""Every loss of the network path, named once: what was set aside, refused or forgotten.

Each cap and each guard of the decoder and the detectors counts what it costs; this module
gives those counters the names a person reads (``network detect`` prints the ones that are not
zero, ``--stats`` writes them all, a service shows them in its health), so that no limit bites
in silence. Per-sender and per-exporter details stay in the summaries they come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (section of the summaries, counter) -> name, in the order a person reads them.
_NAMES: tuple[tuple[str, str, str], ...] = (
    ("capture", "skipped_link", "packets on a link type not supported"),
    ("capture", "skipped_not_udp", "packets not UDP"),
    ("capture", "skipped_port", "datagrams to other ports"),
    ("capture", "skipped_fragment", "fragmented datagrams"),
    ("capture", "truncated", "packets or messages cut short"),
    ("decoder", "unsupported_version", "messages not NetFlow/IPFIX"),
    ("decoder", "malformed", "malformed messages or sets"),
    ("decoder", "truncated", "truncated messages or sets"),
    ("decoder", "hostile_lengths", "fields or records of impossible lengths"),
    ("decoder", "unknown_template_sets", "data sets for unknown templates"),
    ("decoder", "pending_dropped_sets", "data sets dropped while waiting for their template"),
    ("decoder", "far_from_header", "records far from their message's export time"),
    ("decoder", "streams_evicted", "sequence streams forgotten (cap)"),
    ("templates", "evicted", "templates evicted over their exporter's share"),
    ("templates", "taken", "templates of exporters with no data evicted for room"),
    ("templates", "refused", "templates refused (cache full)"),
    ("templates", "expired", "templates expired"),
    ("events", "skipped", "log events that are no usable flow"),
    ("clock", "suspect_future_flows", "flows far ahead of the clock, never agreed with"),
    ("clock", "suspect_past_flows", "flows far behind the clock, never agreed with"),
    ("clock", "out_of_range_flows", "flows at times no output can write"),
    ("clock", "held_lost", "held flows lost (over max_held_flows)"),
    ("clock", "discarded_flows", "flows of a wrong clock era discarded at a restart"),
    ("detector", "late_flows", "late flows (their window had closed)"),
    ("detector", "clipped_flows", "long flows cut at the oldest open window"),
    ("detector", "destination_overflow_flows", "flows to destinations over the per-step cap"),
    ("detector", "source_overflow_packets", "packets from sources over the per-step cap"),
    ("detector", "probe_overflow", "probing sources over the scan cap"),
    ("detector", "outbound_host_overflow", "outbound hosts over the per-step cap"),
    ("flood", "subjects_evicted", "flood destinations forgotten (cap)"),
    ("flood", "attacks_refused", "floods not opened (max_attacks)"),
    ("scan", "sources_evicted", "scanning sources forgotten (cap)"),
    ("scan", "targets_dropped", "scan targets over the per-source cap"),
    ("exfil", "hosts_evicted", "outbound hosts forgotten (cap)"),
)


def named_losses(summary: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Every loss counter of ``summary`` by its name, zeros included.

    ``summary`` holds the sections of ``NetworkDetector.summary()`` and, when they took part,
    ``decoder`` (``DecodeStats.as_dict()``), ``capture`` and ``events``; the decoder's
    ``templates`` counters are read from inside it.
    """
    sections = dict(summary)
    decoder = summary.get("decoder")
    if decoder is not None and "templates" in decoder:
        sections["templates"] = decoder["templates"]
    out: dict[str, int] = {}
    for section, counter, name in _NAMES:
        value = sections.get(section, {}).get(counter)
        if isinstance(value, int):
            out[name] = out.get(name, 0) + value
    return out
