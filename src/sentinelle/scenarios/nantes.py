"""``nantes-2024``: a volumetric flood on the internet edge, and the night the link was cut.

Timeline (hospital local time, UTC+1): an ordinary night from 22:00; at 01:20 a reflection flood
(DNS, NTP, CLDAP) and a SYN flood hit the public website and the VPN portal; external checks
start timing out; the network on-call logs on to the edge firewall, tries a DoS threshold, then
at about 02:00 shuts the internet interfaces. External email, appointment booking, remote access
and the website go down while the patient record, imaging and laboratory checks keep passing.
At 08:30 the link comes back with the website and the VPN still closed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sentinelle.scenarios import fortigate
from sentinelle.scenarios.manifest import Attack, Containment, Step
from sentinelle.scenarios.world import World, external_ip
from sentinelle.scenarios.zeek import Conn

NAME = "nantes-2024"
# 2024-03-11 22:00 local (21:00 UTC) to 2024-03-12 10:00 local.
WINDOW_START = datetime(2024, 3, 11, 21, 0, tzinfo=UTC).timestamp()
WINDOW_HOURS = 12.0
FLOOD_START = WINDOW_START + 3 * 3600 + 20 * 60  # 01:20 local
FLOOD_END = WINDOW_START + 6 * 3600 + 10 * 60  # 04:10 local: the attackers give up
CUT = WINDOW_START + 4 * 3600 + 1 * 60  # 02:01 local
RESTORE = WINDOW_START + 10 * 3600 + 30 * 60  # 08:30 local

_REFLECTION = (
    (53, "udp_flood", "udp", 17),
    (123, "udp_flood", "udp", 17),
    (389, "udp_flood", "udp", 17),
    (0, "tcp_syn_flood", "tcp", 6),
)


def conditions(w: World, with_attack: bool) -> None:
    """The link is cut and restored only when the flood happened (the team reacted to it)."""
    if not with_attack:
        return
    w.conditions.flood.append((FLOOD_START, FLOOD_END))
    w.conditions.internet_down.append((CUT, RESTORE))
    w.conditions.vpn_down.append((RESTORE, w.end))
    w.conditions.website_down.append((RESTORE, w.end))


def attack(w: World) -> tuple[list[Attack], list[Containment]]:
    rng = w.rng("nantes-flood")
    topo = w.topo
    targets = [topo.public_ip["web"], topo.public_ip["vpn"]]
    edge_host = topo.dmz["edge"]
    reflectors = [external_ip(rng) for _ in range(1200)]
    start = FLOOD_START + rng.uniform(0, 20)
    flood = Attack("nantes-ddos", "Volumetric flood on the internet edge", start)
    flood.steps.append(
        Step(
            "Reflection and SYN flood on the public website and the VPN portal",
            "impact",
            "T1498",
            start,
            topo.dmz["web"].name.lower(),
            targets[0],
            topo.dmz["web"].site,
            "DNS, NTP and CLDAP reflection with a SYN flood;"
            " about 50,000 packets and 0.35 Gbit per second per target",
        )
    )
    stop = min(FLOOD_END, CUT)
    t = start
    second = 0
    while t < stop:
        ramp = min(1.0, (t - start) / 120.0 + 0.25)  # full strength after two minutes
        for target in targets:
            for _ in range(max(1, round(2 * ramp))):
                sport, _attack, proto, _n = rng.choice(_REFLECTION)
                src = rng.choice(reflectors)
                pkts = rng.randrange(18_000, 30_000)
                size = 60 if proto == "tcp" else rng.randrange(900, 1400)
                w.edge_conn(
                    Conn(
                        ts=t + rng.uniform(0, 1),
                        orig_h=src,
                        orig_p=sport or rng.randrange(1024, 65535),
                        resp_h=target,
                        resp_p=443 if proto == "tcp" else rng.randrange(1024, 65535),
                        proto=proto,
                        conn_state="S0",
                        history="S" if proto == "tcp" else "D",
                        duration=5.0,
                        orig_bytes=0 if proto == "tcp" else pkts * size,
                        resp_bytes=0,
                        orig_pkts=pkts,
                        resp_pkts=0,
                        local_orig=False,
                        local_resp=True,
                    )
                )
            for _ in range(round(2 * ramp) or 1):  # the firewall logs a sample of its drops
                sport, _attack, proto, number = rng.choice(_REFLECTION)
                ts = t + rng.uniform(0, 1)
                w.fw(
                    topo.edge,
                    ts,
                    fortigate.traffic(
                        topo.edge,
                        ts,
                        session=w.next_session(),
                        src_ip=rng.choice(reflectors),
                        src_port=sport or rng.randrange(1024, 65535),
                        src_intf="wan1",
                        dst_ip=target,
                        dst_port=443 if proto == "tcp" else rng.randrange(1024, 65535),
                        dst_intf="dmz",
                        proto=number,
                        action="deny",
                        policy_id=0,
                        service="HTTPS" if proto == "tcp" else f"udp/{sport}",
                    ),
                )
            if second % 60 == 5:  # DoS-policy summary once a minute (FortiOS rate-limits them)
                sport, kind, proto, number = rng.choice(_REFLECTION)
                rate = rng.randrange(25_000, 80_000)
                w.fw(
                    topo.edge,
                    t,
                    fortigate.anomaly(
                        topo.edge,
                        t,
                        attack=kind,
                        src_ip=rng.choice(reflectors),
                        src_port=sport or rng.randrange(1024, 65535),
                        dst_ip=target,
                        dst_port=443 if proto == "tcp" else rng.randrange(1024, 65535),
                        proto=number,
                        count=rate * 60,
                        threshold=2000,
                        rate=rate,
                    ),
                )
        t += 1.0
        second += 1
    # The network on-call reacts: logs on from the bastion, tries a DoS threshold, cuts.
    bastions = topo.with_tag("bastion") or topo.servers
    admin_ip = bastions[0].ip
    t_login = CUT - 9 * 60
    w.fw(
        topo.edge,
        t_login,
        fortigate.admin_login(topo.edge, t_login, user="astreinte-reseau", admin_ip=admin_ip),
    )
    w.fw(
        topo.edge,
        CUT - 6 * 60,
        fortigate.config_change(
            topo.edge,
            CUT - 6 * 60,
            user="astreinte-reseau",
            admin_ip=admin_ip,
            action="Edit",
            path="firewall.DoS-policy",
            obj="1",
            attr="anomaly[udp_flood].threshold[2000->500]",
        ),
    )
    for i, intf in enumerate(("wan1", "wan2")):
        ts = CUT + i * 20
        w.fw(
            topo.edge,
            ts,
            fortigate.config_change(
                topo.edge,
                ts,
                user="astreinte-reseau",
                admin_ip=admin_ip,
                action="Edit",
                path="system.interface",
                obj=intf,
                attr="status[up->down]",
            ),
        )
    # 08:30: the link comes back, the website publication and the SSL-VPN stay closed.
    w.fw(
        topo.edge,
        RESTORE - 120,
        fortigate.admin_login(topo.edge, RESTORE - 120, user="resp-reseau", admin_ip=admin_ip),
    )
    for i, (path, obj, attr) in enumerate(
        (
            ("firewall.policy", "31", "status[enable->disable]"),
            ("vpn.ssl.settings", "", "status[enable->disable]"),
            ("system.interface", "wan1", "status[down->up]"),
        )
    ):
        ts = RESTORE + i * 30
        w.fw(
            topo.edge,
            ts,
            fortigate.config_change(
                topo.edge,
                ts,
                user="resp-reseau",
                admin_ip=admin_ip,
                action="Edit",
                path=path,
                obj=obj,
                attr=attr,
            ),
        )
    containment = [
        Containment(
            ("cut:internet",),
            CUT,
            "network on-call",
            f"{edge_host.name}: wan1 and wan2 administratively down",
        ),
        Containment(
            ("shut:public-website", "shut:remote-access"),
            RESTORE,
            "network team",
            "wan1 back up; website publication policy and SSL-VPN left disabled",
        ),
    ]
    return [flood], containment
