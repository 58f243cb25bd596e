"""What detected incidents did to the hospital, in the impact engine's terms.

The impact engine (``sentinelle.hospital.assess``) takes machines that are compromised,
unavailable or degraded. A detection says which: machines being encrypted are unavailable,
machines (and links) under a flood degraded, and every other machine a serious detection is
about compromised, except machines that were only scanned or sprayed, and DMZ appliances: a VPN
gateway or a web server on the edge is attacked through, not taken over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sentinelle.detections import Detection
from sentinelle.hospital import VICTIM_FIELDS, HospitalModel, locate_detection

# ATT&CK techniques whose victims stop working (encrypted) or work badly (flooded), and those
# whose "victims" were only looked at or knocked on (scanned, sprayed), not taken over.
STOPS = ("attack.t1486",)
SLOWS = ("attack.t1498", "attack.t1499")
TOUCHES = ("attack.t1046", "attack.t1018", "attack.t1595", "attack.t1110")

UNAVAILABLE, DEGRADED, COMPROMISED = "unavailable", "degraded", "compromised"


def tagged(det: Detection, prefixes: Sequence[str]) -> bool:
    return any(t.lower().startswith(p) for t in det.tags for p in prefixes)


def harms_of(det: Detection) -> list[str]:
    """What a serious detection's victims suffered (none: only scanned or sprayed)."""
    out = []
    if tagged(det, STOPS):
        out.append(UNAVAILABLE)
    if tagged(det, SLOWS):
        out.append(DEGRADED)
    if not out and not tagged(det, TOUCHES):
        out.append(COMPROMISED)
    return out


def victims_of(model: HospitalModel, det: Detection) -> list[str]:
    """Machines the detection is about (the victim side), named as the logs name them, one
    name per asset of the model it locates."""
    names = [det.computer, *(v for v in det.group.values() if isinstance(v, str))]
    events = [det.event] if det.event is not None else list(det.events[:20])
    names += [
        ev.fields[k] for ev in events for k in VICTIM_FIELDS if isinstance(ev.fields.get(k), str)
    ]
    out: list[str] = []
    for asset in locate_detection(model, det):
        for name in names:
            if name and model.locate_host(name) is asset and name.lower() not in out:
                out.append(name.lower())
                break
    return out


def impact_inputs(
    model: HospitalModel, victims: Mapping[str, Iterable[str]]
) -> dict[str, list[str]]:
    """``assess`` arguments from victim names by harm (``harms_of``)."""
    unavailable = sorted(set(victims.get(UNAVAILABLE, ())))
    degraded = sorted(set(victims.get(DEGRADED, ())) - set(unavailable))
    compromised = sorted(
        h
        for h in set(victims.get(COMPROMISED, ()))
        if h not in unavailable and h not in degraded and not _is_edge_only(h, model)
    )
    return {"compromised": compromised, "unavailable": unavailable, "degraded": degraded}


def victims_by_harm(model: HospitalModel, serious: Sequence[Detection]) -> dict[str, list[str]]:
    """Victim names of ``serious`` detections by harm, each name once, in detection order."""
    out: dict[str, list[str]] = {}
    for det in serious:
        harms = harms_of(det)
        if not harms:
            continue
        found = victims_of(model, det)
        for harm in harms:
            names = out.setdefault(harm, [])
            names.extend(name for name in found if name not in names)
    return out


def _is_edge_only(host: str, model: HospitalModel) -> bool:
    """A flood's target is saturated, not compromised: the DMZ machines it hit stay clean."""
    asset = model.locate_host(host)
    zone = model.zones.get(asset.zone) if asset is not None else None
    return zone is not None and zone.kind == "dmz"
