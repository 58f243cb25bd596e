"""Network detection: NetFlow v5/v9/IPFIX decoding and collection; floods, scans, exfiltration.

Flows come from a UDP collector, from captured files (pcap, pcapng, RFC 5655 IPFIX files), or
from firewall and Zeek events read by ``sentinelle.readers``; all become ``FlowRecord``s, and
``NetworkDetector`` turns them into ``Detection``s with ``rule_type="network"``.
"""

from sentinelle.network.capture import CaptureStats, Message, read_capture, sniff_capture
from sentinelle.network.collector import FlowCollector, parse_listen
from sentinelle.network.config import NetworkConfig, dump_config, load_config, parse_config
from sentinelle.network.detect import NetworkDetector
from sentinelle.network.flow import (
    ConversionStats,
    FlowRecord,
    flow_from_event,
    flows_from_batches,
    flows_from_events,
)
from sentinelle.network.losses import named_losses
from sentinelle.network.netflow import DecoderLimits, DecodeStats, FlowDecoder
from sentinelle.network.places import ModelPlaces

__all__ = [
    "CaptureStats",
    "ConversionStats",
    "DecodeStats",
    "DecoderLimits",
    "FlowCollector",
    "FlowDecoder",
    "FlowRecord",
    "Message",
    "ModelPlaces",
    "NetworkConfig",
    "NetworkDetector",
    "dump_config",
    "flow_from_event",
    "flows_from_batches",
    "flows_from_events",
    "load_config",
    "named_losses",
    "parse_config",
    "parse_listen",
    "read_capture",
    "sniff_capture",
]
