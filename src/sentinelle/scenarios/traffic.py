"""Network background: the edge firewall, the core firewall, the two Zeek sensors, monitoring.

The edge sensor sits outside the edge firewall (on the operator side), so it sees the hospital's
public addresses; the core sensor and core firewall see traffic between internal zones. Each
session is written once to the firewall that handled it and once to the sensor that saw it, with
the same addresses, ports and times, so flows and firewall logs tell one story.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

from sentinelle.scenarios import fortigate
from sentinelle.scenarios.topology import Host
from sentinelle.scenarios.world import World, external_ip
from sentinelle.scenarios.zeek import Conn

_PROTO = {"tcp": 6, "udp": 17, "icmp": 1}
# Ports the internet probes all day on any public address.
_PROBED = (
    22,
    23,
    25,
    80,
    110,
    135,
    139,
    443,
    445,
    1433,
    1723,
    3306,
    3389,
    5060,
    5900,
    6379,
    8080,
    8443,
    9200,
    10000,
)
BOOKING_PLATFORM = "198.51.100.140"  # the external appointment-booking SaaS (TEST-NET-2)
GP_MESSAGING = "198.51.100.150"  # the secure health messaging provider
_SERVICE_NAME = {
    443: "HTTPS",
    80: "HTTP",
    25: "SMTP",
    53: "DNS",
    445: "SMB",
    3389: "RDP",
    8443: "tcp/8443",
    123: "NTP",
    389: "LDAP",
    88: "KERBEROS",
}


def session(
    w: World,
    rng: random.Random,
    ts: float,
    *,
    firewall: fortigate.Firewall | None,
    edge: bool,
    src: str,
    dst: str,
    dport: int,
    proto: str = "tcp",
    allowed: bool = True,
    src_intf: str = "port1",
    dst_intf: str = "port2",
    sent: int = 0,
    received: int = 0,
    duration: float = 0.0,
    log_src: str | None = None,
) -> None:
    """One connection: its firewall log line (if a firewall is on its path) and its flow record.

    ``log_src`` is the source as the firewall logs it when the sensor sees it translated (NAT).
    """
    sport = rng.randrange(1024, 65535)
    if allowed:
        pkts_out = max(1, sent // 900 + 3)
        pkts_in = max(1, received // 1200 + 2)
        state, history = ("SF", "ShADadFf") if proto == "tcp" else ("SF", "Dd")
    else:
        pkts_out, pkts_in = (1 if proto == "udp" else rng.choice((1, 2, 3))), 0
        state, history = ("S0", "S") if proto == "tcp" else ("S0", "D")
        sent, received, duration = (0 if proto == "tcp" else sent), 0, 0.0
    if firewall is not None:
        w.fw(
            firewall,
            ts + duration,
            fortigate.traffic(
                firewall,
                ts + duration,
                session=w.next_session(),
                src_ip=log_src or src,
                src_port=sport,
                src_intf=src_intf,
                dst_ip=dst,
                dst_port=dport,
                dst_intf=dst_intf,
                proto=_PROTO[proto],
                action=("close" if proto == "tcp" else "accept") if allowed else "deny",
                policy_id=rng.choice((12, 14, 27)) if allowed else 0,
                service=_SERVICE_NAME.get(dport, f"{proto}/{dport}"),
                duration=round(duration),
                sent_bytes=sent,
                rcvd_bytes=received,
                sent_pkts=pkts_out if allowed else 0,
                rcvd_pkts=pkts_in if allowed else 0,
            ),
        )
    conn = Conn(
        ts=ts,
        orig_h=src,
        orig_p=sport,
        resp_h=dst,
        resp_p=dport,
        proto=proto,
        conn_state=state,
        history=history,
        duration=duration if allowed else None,
        orig_bytes=sent,
        resp_bytes=received,
        orig_pkts=pkts_out,
        resp_pkts=pkts_in if allowed else 0,
        service={443: "ssl", 25: "smtp", 53: "dns", 445: "smb"}.get(dport, "-") if allowed else "-",
        local_orig=not edge or _is_ours(w, src),
        local_resp=not edge or _is_ours(w, dst),
    )
    if edge:
        w.edge_conn(conn)
    else:
        w.core_conn(conn)


def _is_ours(w: World, ip: str) -> bool:
    return ip in w.topo.public_ip.values() or ip.startswith("203.0.113.")


def generate(w: World) -> None:
    internet_noise(w)
    internet_services(w)
    outbound(w)
    internal(w)


def internet_noise(w: World) -> None:
    """Scanners and bots knocking on the public addresses; twice a night, a full port scan."""
    rng = w.rng("internet-noise")
    probe = partial(
        session,
        w,
        rng,
        firewall=w.topo.edge,
        edge=True,
        allowed=False,
        src_intf="wan1",
        dst_intf="dmz",
    )
    targets = list(w.topo.public_ip.values())
    for ts in w.times(rng, 8.0):
        if not w.conditions.internet_up(ts):
            continue
        probe(ts, src=external_ip(rng), dst=rng.choice(targets), dport=rng.choice(_PROBED))
    for _ in range(2):
        start = rng.uniform(w.start, w.end - 600)
        if not w.conditions.internet_up(start):
            continue
        scanner = external_ip(rng)
        target = rng.choice(targets)
        ports = rng.sample(range(1, 10000), 45)
        for i, port in enumerate(ports):
            probe(start + i * rng.uniform(0.5, 1.5), src=scanner, dst=target, dport=port)


def internet_services(w: World) -> None:
    """Patients reading the website, mail arriving, staff opening VPN sessions."""
    rng = w.rng("internet-services")
    web, mail, vpn = (w.topo.public_ip[k] for k in ("web", "mail", "vpn"))
    # Mean gap, whether the service answers, address, port, then the ranges of bytes sent, bytes
    # received and seconds. Each service is drawn in turn, in this order, from the same generator.
    services = [
        (20.0, w.conditions.website_up, web, 443, (800, 4000), (20_000, 900_000), (0.2, 8)),
        (90.0, w.conditions.internet_up, mail, 25, (3000, 400_000), (600, 2000), (0.5, 6)),
        (
            600.0,
            w.conditions.vpn_up,
            vpn,
            443,
            (50_000, 5_000_000),
            (100_000, 20_000_000),
            (60, 3000),
        ),
    ]
    for gap, is_up, dst, dport, sent, received, duration in services:
        for ts in w.times(rng, gap):
            if is_up(ts):
                session(
                    w,
                    rng,
                    ts,
                    firewall=w.topo.edge,
                    edge=True,
                    src=external_ip(rng),
                    dst=dst,
                    dport=dport,
                    sent=rng.randrange(*sent),
                    received=rng.randrange(*received),
                    duration=rng.uniform(*duration),
                    src_intf="wan1",
                    dst_intf="dmz",
                )


def outbound(w: World) -> None:
    """Name resolution, updates, mail to the outside, the booking platform's API."""
    rng = w.rng("outbound")
    nat = w.topo.public_ip["nat"]
    dcs = w.topo.with_tag("dc")
    ehr = w.topo.with_tag("ehr") or w.topo.servers
    relay = w.topo.dmz["mail"]
    flows: list[tuple[float, Callable[[], tuple[Host | None, str, str, int, str]]]] = [
        (30.0, lambda: (rng.choice(dcs), "udp", external_ip(rng), 53, "dns")),
        (25.0, lambda: (rng.choice(w.topo.windows_hosts), "tcp", external_ip(rng), 443, "update")),
        (60.0, lambda: (ehr[0], "tcp", BOOKING_PLATFORM, 443, "booking")),
        (120.0, lambda: (None, "tcp", GP_MESSAGING, 25, "smtp")),
    ]
    for gap, pick in flows:
        for ts in w.times(rng, gap):
            host, proto, dst, port, kind = pick()
            src_inside = relay.inside_ip if host is None else host.ip
            public_src = relay.ip if host is None else nat
            up = w.conditions.internet_up(ts)
            if not up:
                # The link is down: the firewall drops what still tries to leave, nothing is seen
                # outside. Applications keep retrying, which the logs show.
                w.fw(
                    w.topo.edge,
                    ts,
                    fortigate.traffic(
                        w.topo.edge,
                        ts,
                        session=w.next_session(),
                        src_ip=src_inside,
                        src_port=rng.randrange(1024, 65535),
                        src_intf="internal",
                        dst_ip=dst,
                        dst_port=port,
                        dst_intf="wan1",
                        proto=_PROTO[proto],
                        action="deny",
                        policy_id=0,
                        service=_SERVICE_NAME.get(port, f"{proto}/{port}"),
                    ),
                )
                continue
            sent = rng.randrange(60, 120) if kind == "dns" else rng.randrange(2000, 80_000)
            received = rng.randrange(100, 400) if kind == "dns" else rng.randrange(4000, 2_000_000)
            session(
                w,
                rng,
                ts,
                firewall=w.topo.edge,
                edge=True,
                src=public_src,
                dst=dst,
                dport=port,
                proto=proto,
                sent=sent,
                received=received,
                duration=rng.uniform(0.01, 0.1) if kind == "dns" else rng.uniform(0.3, 20),
                src_intf="internal",
                dst_intf="wan1",
                log_src=src_inside,
            )


def internal(w: World) -> None:
    """Workstations reaching the clinical servers and shares through the core firewall."""
    rng = w.rng("internal")
    to_server = partial(session, w, rng, firewall=w.topo.core, edge=False, dst_intf="servers")
    ehr = w.topo.with_tag("ehr") or w.topo.servers
    files = w.topo.with_tag("file") or w.topo.servers
    for ts in w.times(rng, 15.0):
        ws = rng.choice(w.topo.workstations)
        if rng.random() < 0.7:
            dst, port = rng.choice(ehr), 8443
        else:
            dst, port = rng.choice(files), 445
        to_server(
            ts,
            src=ws.ip,
            dst=dst.ip,
            dport=port,
            sent=rng.randrange(2000, 200_000),
            received=rng.randrange(5000, 3_000_000),
            duration=rng.uniform(0.5, 120),
            src_intf=ws.zone,
        )
    # Now and then a workstation tries something the segmentation forbids.
    for ts in w.times(rng, 900.0):
        ws = rng.choice(w.topo.workstations)
        dst = rng.choice(w.topo.servers)
        to_server(
            ts,
            src=ws.ip,
            dst=dst.ip,
            dport=rng.choice((3389, 22, 5985, 1433)),
            allowed=False,
            src_intf=ws.zone,
        )
