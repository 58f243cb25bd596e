"""From detections to the assets, services and sites of the hospital model."""

from __future__ import annotations

from typing import Any

from sentinelle.detections import Detection
from sentinelle.hospital.model import Asset, HospitalModel


def assets_for_detection(model: HospitalModel, *names: str | None) -> list[Asset]:
    """Assets named by host names or IP addresses (None and unknown names skipped), in order,
    without duplicates. Callers pass the victim side (see :func:`locate_detection`)."""
    out: list[Asset] = []
    for name in names:
        if not name:
            continue
        asset = model.locate_host(name)
        if asset is not None and asset not in out:
            out.append(asset)
    return out


# Fields that name the machine a detection is about (the victim side), in the order tried after
# the detection's ``Computer``: network detectors group by destination, Windows events carry
# the computer, Sysmon network events the destination.
VICTIM_FIELDS = ("dst_ip", "DestinationIp", "DestinationHostname", "Computer", "Hostname", "host")
# Network rules whose source is the machine they are about: a host sending unusual volumes out
# is the compromised one (its destinations are the attacker's side). Any other detection's
# source address is never used.
SOURCE_IS_SUBJECT = frozenset({"net-exfil-volume"})


def victim_names(detection: Detection) -> list[str | None]:
    """The names a detection gives for the machine it is about, in the order tried: its
    computer, the source of a rule in :data:`SOURCE_IS_SUBJECT`, then the victim fields of its
    group and events (``VICTIM_FIELDS``)."""
    names: list[str | None] = [detection.computer]
    if detection.rule_id in SOURCE_IS_SUBJECT:
        source = detection.group.get("src_ip")
        names.append(source if isinstance(source, str) else None)
    sources: list[dict[str, Any]] = [detection.group]
    events = [detection.event] if detection.event is not None else list(detection.events[:20])
    sources.extend(ev.fields for ev in events)
    for fields in sources:
        for key in VICTIM_FIELDS:
            value = fields.get(key)
            if isinstance(value, str):
                names.append(value)
    return names


def locate_detection(model: HospitalModel, detection: Detection) -> list[Asset]:
    """The assets a detection is about (:func:`victim_names`). Source addresses are never
    used: they are the attacker's side."""
    return assets_for_detection(model, *victim_names(detection))
