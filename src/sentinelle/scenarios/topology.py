"""The machines a scenario writes logs for, taken from the hospital model.

Host names and addresses come from the model's assets (their listed hosts and ``#`` patterns,
their IP ranges), and every address chosen is checked with ``HospitalModel.locate_ip``, so a
detection on a generated machine maps back to the asset, the services and the site the model
gives it. Roles (domain controller, file server, backup server...) are read from the components
an asset carries, found by role or by id, never by position in the file.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from datetime import timedelta

from sentinelle.hospital import Asset, HospitalModel
from sentinelle.scenarios.fortigate import Firewall
from sentinelle.scenarios.manifest import ScenarioError

# FortiGate's default SSL-VPN tunnel pool, used when the model names none.
DEFAULT_VPN_POOL = ipaddress.IPv4Network("10.212.134.0/24")

WORKSTATION_ZONES = ("office", "clinical")
SERVER_ZONES = ("servers", "management")

# Words in a component id or name that give a server its role in the scenarios.
_ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "file": ("file", "fichier", "partage", "share", "nas"),
    "backup": ("backup", "sauvegarde"),
    "deploy": ("deploy", "sccm", "endpoint-management", "wsus", "pdq"),
    "monitoring": ("monitor", "supervision", "centreon", "nagios", "zabbix"),
    "mail": ("mail", "messagerie", "smtp"),
    "web": ("website", "web", "site-public", "public-site"),
    "ehr": ("patient", "dpi", "ehr", "dossier"),
    "hl7": ("interface-engine", "eai", "hl7"),
    "vpn": ("remote-access", "vpn"),
    "edge": ("internet",),
    "bastion": ("bastion", "jump"),
}
# Infrastructure categories that run on appliances or hypervisors, not on Windows.
_APPLIANCE_CATEGORIES = ("compute", "storage", "telephony", "network")
_APPLIANCE_SERVICES = ("telephony",)


@dataclass(frozen=True, slots=True)
class Host:
    """One machine a scenario writes logs for or sends traffic from."""

    name: str  # NetBIOS-style, upper case, as Windows writes Computer's first label
    fqdn: str
    domain: str  # NetBIOS domain name
    ip: str
    site: str
    zone: str
    asset: str
    role: str  # workstation, server (Windows); dmz, device (appear in network logs only)
    tags: frozenset[str] = frozenset()  # dc, file, backup, deploy, monitoring, ehr...
    inside_ip: str = ""  # DMZ machines: the private address behind the public one
    sysmon: bool = True
    lsass_pid: int = 672
    winlogon_pid: int = 580
    sysmon_pid: int = 2412
    services_pid: int = 660


@dataclass(slots=True)
class Topology:
    model: HospitalModel
    dns_domain: str
    netbios: str
    domain_sid: str
    edge: Firewall
    core: Firewall  # internal segmentation firewall between zones (not in the model)
    vpn: Firewall  # the SSL-VPN gateway
    vpn_pool: ipaddress.IPv4Network
    public_ip: dict[str, str]  # role (web, mail, vpn, nat) -> the hospital's public address
    dmz: dict[str, Host]  # role (web, mail) -> the DMZ machine behind the public address
    workstations: list[Host] = field(default_factory=list)
    servers: list[Host] = field(default_factory=list)
    devices: list[Host] = field(default_factory=list)  # biomedical and other non-Windows

    def with_tag(self, tag: str) -> list[Host]:
        return [h for h in self.servers if tag in h.tags]

    def first_with_tag(self, tag: str) -> Host:
        found = self.with_tag(tag)
        return found[0] if found else self.servers[0]

    @property
    def windows_hosts(self) -> list[Host]:
        return self.servers + self.workstations

    @property
    def main_site(self) -> str:
        return self.first_with_tag("dc").site


def _asset_tags(model: HospitalModel, asset: Asset) -> frozenset[str]:
    tags: set[str] = set()
    for cid in asset.carries:
        comp = model.component(cid)
        if comp is None:
            continue
        if comp.role == "directory":
            tags.add("dc")
        text = f"{comp.id} {comp.name}".lower()
        for role, words in _ROLE_WORDS.items():
            if any(w in text for w in words):
                tags.add(role)
    text = f"{asset.id} {asset.name}".lower()
    for role, words in _ROLE_WORDS.items():
        if any(w in text for w in words):
            tags.add(role)
    return frozenset(tags)


_RFC1918 = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def is_rfc1918(net: ipaddress.IPv4Network) -> bool:
    """Inside the private ranges of RFC 1918 (``is_private`` also counts documentation ranges)."""
    return any(net.subnet_of(p) for p in _RFC1918)


def _is_appliance(model: HospitalModel, asset: Asset, tags: frozenset[str]) -> bool:
    if "backup" in tags:
        return False  # backup servers are Windows machines in most hospitals
    for cid in asset.carries:
        if cid in _APPLIANCE_SERVICES:
            return True
        infra = model.infrastructure.get(cid)
        if infra is not None and infra.category in _APPLIANCE_CATEGORIES:
            return True
    return False


def _addresses(
    model: HospitalModel, asset: Asset, count: int, start: int, *, private: bool | None = None
) -> list[str]:
    """Addresses in the asset's first IPv4 range (of the kind asked) that map back to it."""
    out: list[str] = []
    for net in asset.ip_ranges:
        if not isinstance(net, ipaddress.IPv4Network):
            continue
        if private is not None and is_rfc1918(net) != private:
            continue
        hosts = net.num_addresses - 2 if net.prefixlen < 31 else net.num_addresses
        offset = start if hosts > start + count else 1
        index = offset
        while len(out) < count and index <= hosts:
            ip = str(net.network_address + index)
            if model.locate_ip(ip) is asset:
                out.append(ip)
            index += 1
        if out:
            break
    return out


def build_topology(model: HospitalModel, rng: random.Random, scale: float) -> Topology:
    """Pick the machines of a scenario: every server, and a sample of workstations per asset."""
    dns_domain = model.domain or "chu.example"
    netbios = dns_domain.split(".")[0].upper()[:15]
    domain_sid = "S-1-5-21-" + "-".join(str(rng.randrange(10**8, 4 * 10**9)) for _ in range(3))
    servers: list[Host] = []
    workstations: list[Host] = []
    devices: list[Host] = []
    dmz: dict[str, Host] = {}
    per_ws_asset = max(1, round(3 * scale))
    for asset in model.assets.values():
        zone = model.zones.get(asset.zone)
        kind = zone.kind if zone is not None else "other"
        tags = _asset_tags(model, asset)
        if kind in WORKSTATION_ZONES:
            role, limit, first_ip = "workstation", per_ws_asset, 20
        elif kind in SERVER_ZONES and not _is_appliance(model, asset, tags):
            role, limit, first_ip = "server", min(asset.size, 4), 1
        elif kind == "dmz":
            role, limit, first_ip = "dmz", min(asset.size, 2), 1
        else:
            role, limit, first_ip = "device", min(asset.size, max(1, round(2 * scale))), 30
        names = asset.example_hosts(limit)
        if not names:
            names = [f"{asset.id}-{i:02d}" for i in range(1, limit + 1)]
        ips = _addresses(model, asset, len(names), first_ip)
        inside = _addresses(model, asset, len(names), first_ip, private=True)
        for i, name in enumerate(names):
            if i >= len(ips):
                break  # a host without an address the model knows would not map back
            host = Host(
                name=name.upper(),
                fqdn=f"{name.lower()}.{dns_domain}",
                domain=netbios,
                ip=ips[i],
                site=asset.site,
                zone=asset.zone,
                asset=asset.id,
                role=role,
                tags=tags,
                sysmon=role == "server" or rng.random() < 0.5,
                lsass_pid=rng.randrange(600, 900, 4),
                winlogon_pid=rng.randrange(500, 600, 4),
                sysmon_pid=rng.randrange(2000, 4000, 4),
                services_pid=rng.randrange(600, 900, 4),
                inside_ip=inside[i] if i < len(inside) else ips[i],
            )
            if role == "workstation":
                workstations.append(host)
            elif role == "server":
                servers.append(host)
            elif role == "dmz":
                for tag in tags & {"web", "mail", "vpn", "edge"}:
                    dmz.setdefault(tag, host)
                devices.append(host)
            else:
                devices.append(host)
    if not servers or not workstations:
        raise ScenarioError(
            "the hospital model needs at least one server asset and one workstation asset"
            " with IP ranges to generate a scenario"
        )
    if not any("dc" in h.tags for h in servers):
        raise ScenarioError("the hospital model has no asset carrying the directory")
    for needed in ("edge", "vpn", "web", "mail"):
        if needed not in dmz:
            raise ScenarioError(f"the hospital model has no DMZ asset for the {needed} role")
    offset = timedelta(hours=1)  # the scenarios happen in winter, Paris time
    edge_host, vpn_host = dmz["edge"], dmz["vpn"]
    edge = Firewall(edge_host.name, "FG200FTK22900417", edge_host.inside_ip, offset)
    vpn = Firewall(vpn_host.name, "FG100FTK23005562", vpn_host.inside_ip, offset)
    core = Firewall("FW-CORE01", "FG600ETK21001288", "10.255.255.1", offset)
    public = {role: dmz[role].ip for role in ("web", "mail", "vpn")}
    public["nat"] = str(ipaddress.IPv4Address(edge_host.ip) + 1)
    return Topology(
        model=model,
        dns_domain=dns_domain,
        netbios=netbios,
        domain_sid=domain_sid,
        edge=edge,
        core=core,
        vpn=vpn,
        vpn_pool=DEFAULT_VPN_POOL,
        public_ip=public,
        dmz=dmz,
        workstations=workstations,
        servers=servers,
        devices=devices,
    )
