"""FortiGate log lines (key=value payload) over RFC 5424 syslog.

FortiOS sends ``type=traffic`` session logs, ``type=anomaly`` DoS-policy logs, and
``type=event`` logs for VPN logins and configuration changes. The payload keeps FortiOS field
names; its ``date``/``time`` are the firewall's local time with ``tz``, while the syslog header
carries the UTC instant (FortiOS ``set format rfc5424``), which is what readers key time on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

# Syslog severities FortiOS maps its levels to (facility local7).
_SEVERITY = {"alert": 1, "critical": 2, "warning": 4, "notice": 5, "information": 6}
_FACILITY_LOCAL7 = 23
_ADDRESS = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


@dataclass(frozen=True, slots=True)
class Firewall:
    name: str
    serial: str
    mgmt_ip: str
    utc_offset: timedelta  # the firewall's configured time zone


def _quote(value: str | int) -> str:
    # FortiOS quotes text values, not numbers or addresses.
    if isinstance(value, int) or _ADDRESS.fullmatch(value):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(fw: Firewall, ts: float, level: str, fields: list[tuple[str, str | int]]) -> str:
    """One syslog line: RFC 5424 header in UTC, then the FortiOS key=value payload."""
    when = datetime.fromtimestamp(ts, tz=UTC)
    local = when.astimezone(timezone(fw.utc_offset))
    offset_min = int(fw.utc_offset.total_seconds() // 60)
    tz = f"{'+' if offset_min >= 0 else '-'}{abs(offset_min) // 60:02d}{abs(offset_min) % 60:02d}"
    head: list[tuple[str, str | int]] = [
        ("date", local.strftime("%Y-%m-%d")),
        ("time", local.strftime("%H:%M:%S")),
        ("devname", fw.name),
        ("devid", fw.serial),
        ("eventtime", round(ts * 1_000_000) * 1000),
        ("tz", tz),
    ]
    payload = " ".join(
        f"{k}={v}" if k in ("date", "time") else f"{k}={_quote(v)}" for k, v in head + fields
    )
    pri = _FACILITY_LOCAL7 * 8 + _SEVERITY[level]
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return f"<{pri}>1 {stamp} {fw.name} - - - - {payload}"


def traffic(
    fw: Firewall,
    ts: float,
    *,
    session: int,
    src_ip: str,
    src_port: int,
    src_intf: str,
    dst_ip: str,
    dst_port: int,
    dst_intf: str,
    proto: int,
    action: str,
    policy_id: int,
    service: str,
    duration: int = 0,
    sent_bytes: int = 0,
    rcvd_bytes: int = 0,
    sent_pkts: int = 0,
    rcvd_pkts: int = 0,
    local: bool = False,
) -> str:
    """A session log: ``action`` is accept/close/timeout for allowed sessions, deny otherwise."""
    fields: list[tuple[str, str | int]] = [
        ("logid", "0001000014" if local else "0000000013"),
        ("type", "traffic"),
        ("subtype", "local" if local else "forward"),
        ("level", "notice"),
        ("vd", "root"),
        ("srcip", src_ip),
        ("srcport", src_port),
        ("srcintf", src_intf),
        ("dstip", dst_ip),
        ("dstport", dst_port),
        ("dstintf", dst_intf),
        ("sessionid", session),
        ("proto", proto),
        ("action", action),
        ("policyid", policy_id),
        ("service", service),
        ("duration", duration),
        ("sentbyte", sent_bytes),
        ("rcvdbyte", rcvd_bytes),
        ("sentpkt", sent_pkts),
        ("rcvdpkt", rcvd_pkts),
    ]
    return line(fw, ts, "notice", fields)


def anomaly(
    fw: Firewall,
    ts: float,
    *,
    attack: str,
    src_ip: str,
    src_port: int,
    dst_ip: str,
    dst_port: int,
    proto: int,
    count: int,
    threshold: int,
    rate: int,
) -> str:
    """A DoS-policy anomaly log: FortiOS logs one per source at intervals, with a repeat count."""
    fields: list[tuple[str, str | int]] = [
        ("logid", "0720018432"),
        ("type", "anomaly"),
        ("subtype", "anomaly"),
        ("level", "alert"),
        ("vd", "root"),
        ("severity", "critical"),
        ("srcip", src_ip),
        ("srcport", src_port),
        ("srcintf", "wan1"),
        ("dstip", dst_ip),
        ("dstport", dst_port),
        ("sessionid", 0),
        ("action", "clear_session"),
        ("proto", proto),
        ("count", count),
        ("attack", attack),
        ("policyid", 1),
        ("policytype", "DoS-policy"),
        ("msg", f"anomaly: {attack}, {rate} > threshold {threshold}, repeats {count} times"),
    ]
    return line(fw, ts, "alert", fields)


def vpn_login_failed(fw: Firewall, ts: float, *, user: str, remote_ip: str, reason: str) -> str:
    fields: list[tuple[str, str | int]] = [
        ("logid", "0101039426"),
        ("type", "event"),
        ("subtype", "vpn"),
        ("level", "alert"),
        ("vd", "root"),
        ("logdesc", "SSL VPN login fail"),
        ("action", "ssl-login-fail"),
        ("tunneltype", "ssl-web"),
        ("tunnelid", 0),
        ("remip", remote_ip),
        ("user", user),
        ("group", "N/A"),
        ("reason", reason),
        ("msg", "SSL user failed to logged in"),
    ]
    return line(fw, ts, "alert", fields)


def vpn_tunnel(
    fw: Firewall,
    ts: float,
    *,
    up: bool,
    user: str,
    remote_ip: str,
    tunnel_ip: str,
    tunnel_id: int,
) -> str:
    """An SSL-VPN tunnel established (``up``) or shut down."""
    fields: list[tuple[str, str | int]] = [
        ("logid", "0101039947" if up else "0101039948"),
        ("type", "event"),
        ("subtype", "vpn"),
        ("level", "information"),
        ("vd", "root"),
        ("logdesc", "SSL VPN tunnel up" if up else "SSL VPN tunnel down"),
        ("action", "tunnel-up" if up else "tunnel-down"),
        ("tunneltype", "ssl-tunnel"),
        ("tunnelid", tunnel_id),
        ("remip", remote_ip),
        ("tunnelip", tunnel_ip),
        ("user", user),
        ("group", "VPN-Utilisateurs"),
        ("reason", "tunnel established" if up else "user logout"),
        ("msg", "SSL tunnel established" if up else "SSL tunnel shutdown"),
    ]
    return line(fw, ts, "information", fields)


def config_change(
    fw: Firewall,
    ts: float,
    *,
    user: str,
    admin_ip: str,
    action: str,
    path: str,
    obj: str,
    attr: str,
) -> str:
    """A configuration change (``action`` Add/Edit/Delete on ``cfgpath``)."""
    logid, desc = {
        "Add": ("0100044545", "Object configured"),
        "Edit": ("0100044547", "Object attribute configured"),
        "Delete": ("0100044546", "Object deleted"),
    }[action]
    fields: list[tuple[str, str | int]] = [
        ("logid", logid),
        ("type", "event"),
        ("subtype", "system"),
        ("level", "information"),
        ("vd", "root"),
        ("logdesc", desc),
        ("user", user),
        ("ui", f"GUI({admin_ip})"),
        ("action", action),
        ("cfgpath", path),
        ("cfgobj", obj),
        ("cfgattr", attr),
        ("msg", f"{action} {path} {obj}"),
    ]
    return line(fw, ts, "information", fields)


def admin_login(fw: Firewall, ts: float, *, user: str, admin_ip: str) -> str:
    fields: list[tuple[str, str | int]] = [
        ("logid", "0100032001"),
        ("type", "event"),
        ("subtype", "system"),
        ("level", "information"),
        ("vd", "root"),
        ("logdesc", "Admin login successful"),
        ("sn", "0"),
        ("user", user),
        ("ui", f"https({admin_ip})"),
        ("method", "https"),
        ("srcip", admin_ip),
        ("dstip", fw.mgmt_ip),
        ("action", "login"),
        ("status", "success"),
        ("reason", "none"),
        ("profile", "super_admin"),
        ("msg", f"Administrator {user} logged in successfully from https({admin_ip})"),
    ]
    return line(fw, ts, "information", fields)
