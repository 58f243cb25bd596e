"""An incident's indicators as a STIX 2.1 bundle and as a MISP event (JSON), for the CERT, the
regional health cyber-response centre and partner hospitals.

Ids are derived from the incident and the indicator (UUIDv5), so exporting twice gives the same
objects and a receiver updates instead of duplicating. STIX patterns quote values as the spec
says (backslash and single quote escaped).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sentinelle.web.incidents.models import Incident, Indicator, IndicatorKind

# A namespace of our own for the UUIDv5 ids of exported objects.
NAMESPACE = uuid.UUID("6f0c5d2e-3b7a-5b8e-9a51-5e6e74696e65")

_STIX_PATHS = {
    IndicatorKind.IPV4: "ipv4-addr:value",
    IndicatorKind.IPV6: "ipv6-addr:value",
    IndicatorKind.DOMAIN: "domain-name:value",
    IndicatorKind.URL: "url:value",
    IndicatorKind.EMAIL: "email-addr:value",
    IndicatorKind.SHA256: "file:hashes.'SHA-256'",
    IndicatorKind.SHA1: "file:hashes.'SHA-1'",
    IndicatorKind.MD5: "file:hashes.MD5",
    IndicatorKind.FILE_NAME: "file:name",
    IndicatorKind.ACCOUNT: "user-account:account_login",
    IndicatorKind.PROCESS: "process:command_line",
}
# MISP attribute type and category per kind.
_MISP = {
    IndicatorKind.IPV4: ("ip-dst", "Network activity"),
    IndicatorKind.IPV6: ("ip-dst", "Network activity"),
    IndicatorKind.DOMAIN: ("domain", "Network activity"),
    IndicatorKind.URL: ("url", "Network activity"),
    IndicatorKind.EMAIL: ("email-src", "Payload delivery"),
    IndicatorKind.SHA256: ("sha256", "Payload delivery"),
    IndicatorKind.SHA1: ("sha1", "Payload delivery"),
    IndicatorKind.MD5: ("md5", "Payload delivery"),
    IndicatorKind.FILE_NAME: ("filename", "Payload delivery"),
    IndicatorKind.ACCOUNT: ("target-user", "Targeting data"),
    IndicatorKind.PROCESS: ("text", "Artifacts dropped"),
}
# MISP threat levels: 1 high, 2 medium, 3 low, 4 undefined.
_THREAT_LEVEL = {"critical": "1", "high": "1", "medium": "2", "low": "3"}


def _stamp(moment: datetime) -> str:
    """STIX timestamps: UTC, ``Z``, milliseconds."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(str(p) for p in parts)))


def stix_pattern(kind: str, value: str) -> str:
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{_STIX_PATHS[IndicatorKind(kind)]} = '{quoted}']"


def stix_bundle(incident: Incident, indicators: Sequence[Indicator]) -> dict[str, Any]:
    """A STIX 2.1 bundle: one indicator per value, grouped under the incident."""
    objects: list[dict[str, Any]] = []
    for item in indicators:
        stamp = _stamp(item.created)
        indicator: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{_uid('indicator', incident.pk, item.kind, item.value)}",
            "created": stamp,
            "modified": stamp,
            "name": f"{item.kind}: {item.value}"[:256],
            "indicator_types": ["malicious-activity"],
            "pattern": stix_pattern(item.kind, item.value),
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": stamp,
        }
        if item.comment:
            indicator["description"] = item.comment
        objects.append(indicator)
    opened = _stamp(incident.opened)
    grouping = {
        "type": "grouping",
        "spec_version": "2.1",
        "id": f"grouping--{_uid('incident', incident.pk, incident.opened.isoformat())}",
        "created": opened,
        "modified": _stamp(incident.updated),
        "name": incident.title,
        "context": "suspicious-activity",
        "object_refs": [o["id"] for o in objects],
    }
    if not objects:  # a grouping must reference at least one object
        return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": []}
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [grouping, *objects]}


def misp_event(incident: Incident, indicators: Sequence[Indicator]) -> dict[str, Any]:
    """A MISP event (the JSON MISP imports): one attribute per indicator."""
    attributes = []
    for item in indicators:
        kind, category = _MISP[IndicatorKind(item.kind)]
        attributes.append(
            {
                "uuid": _uid("attribute", incident.pk, item.kind, item.value),
                "type": kind,
                "category": category,
                "value": item.value,
                "to_ids": kind != "text",
                "comment": item.comment,
                "timestamp": str(int(item.created.timestamp())),
            }
        )
    return {
        "Event": {
            "uuid": _uid("incident", incident.pk, incident.opened.isoformat()),
            "info": incident.title,
            "date": incident.opened.date().isoformat(),
            "threat_level_id": _THREAT_LEVEL.get(incident.severity, "4"),
            "analysis": "2" if incident.status == "closed" else "1",
            "distribution": "0",
            "timestamp": str(int(incident.updated.timestamp())),
            "Attribute": attributes,
        }
    }
