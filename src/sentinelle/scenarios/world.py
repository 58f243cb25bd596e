"""The generation context shared by background and attacks: machines, accounts, clocks, outputs.

A ``World`` hands out named random streams (``world.rng("backups")``): each behaviour draws from
its own stream, seeded from the scenario seed and the behaviour's name, so adding an attack never
changes the background it is laid over, and a background-only run writes the same background.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sentinelle.scenarios import fortigate, windows, zeek
from sentinelle.scenarios.sink import LogSink
from sentinelle.scenarios.topology import Host, Topology
from sentinelle.scenarios.windows import Process

EDGE_CONN = "zeek/edge/conn.log"
CORE_CONN = "zeek/core/conn.log"
MONITORING_LOG = "monitoring/centreon.log"

_FIRST = [
    "marie",
    "nathalie",
    "isabelle",
    "sylvie",
    "catherine",
    "sandrine",
    "valerie",
    "christine",
    "celine",
    "stephanie",
    "sophie",
    "julie",
    "aurelie",
    "camille",
    "laura",
    "emilie",
    "pauline",
    "lea",
    "manon",
    "chloe",
    "jean",
    "pierre",
    "michel",
    "philippe",
    "alain",
    "nicolas",
    "christophe",
    "laurent",
    "frederic",
    "eric",
    "david",
    "olivier",
    "thomas",
    "julien",
    "antoine",
    "maxime",
    "hugo",
    "lucas",
    "paul",
    "yann",
    "gwenael",
    "erwan",
    "loic",
    "soizic",
    "maelle",
]
_LAST = [
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "simon",
    "laurent",
    "lefebvre",
    "michel",
    "garcia",
    "david",
    "bertrand",
    "roux",
    "vincent",
    "fournier",
    "morel",
    "girard",
    "andre",
    "mercier",
    "dupont",
    "lambert",
    "bonnet",
    "francois",
    "martinez",
    "legrand",
    "garnier",
    "faure",
    "rousseau",
    "blanc",
    "guerin",
    "muller",
    "henry",
    "roussel",
    "nicolas",
    "perrin",
    "morin",
    "mathieu",
    "clement",
    "gauthier",
    "dumont",
    "lopez",
    "fontaine",
    "le-gall",
    "le-goff",
    "guillou",
    "tanguy",
    "kerbrat",
    "le-roux",
    "jaouen",
]


@dataclass(frozen=True, slots=True)
class Account:
    sam: str  # logon name, e.g. "m.durand"
    sid: str
    kind: str  # user, admin, service

    def qualified(self, domain: str) -> str:
        return f"{domain}\\{self.sam}"


@dataclass(slots=True)
class Conditions:
    """What the scenario changes in the hospital's behaviour over time (the link being cut...)."""

    internet_down: list[tuple[float, float]] = field(default_factory=list)
    flood: list[tuple[float, float]] = field(default_factory=list)
    vpn_down: list[tuple[float, float]] = field(default_factory=list)
    website_down: list[tuple[float, float]] = field(default_factory=list)

    @staticmethod
    def _inside(spans: list[tuple[float, float]], ts: float) -> bool:
        return any(a <= ts < b for a, b in spans)

    def internet_up(self, ts: float) -> bool:
        return not self._inside(self.internet_down, ts)

    def flooded(self, ts: float) -> bool:
        return self._inside(self.flood, ts) and self.internet_up(ts)

    def vpn_up(self, ts: float) -> bool:
        return self.internet_up(ts) and not self._inside(self.vpn_down, ts)

    def website_up(self, ts: float) -> bool:
        return self.internet_up(ts) and not self._inside(self.website_down, ts)


class World:
    def __init__(
        self,
        topology: Topology,
        seed: int,
        start: float,
        end: float,
        scale: float,
        utc_offset: timedelta,
    ) -> None:
        self.topo = topology
        self.utc_offset = utc_offset
        self.seed = seed
        self.start = start
        self.end = end
        self.scale = scale
        self.sink = LogSink()
        self.conditions = Conditions()
        accounts = self.rng("accounts")
        self.users = _make_users(accounts, topology.domain_sid, max(40, round(150 * scale)))
        self.admins = [
            Account(
                f"adm-{u.sam.replace('.', '')[:12]}", f"{topology.domain_sid}-{1100 + i}", "admin"
            )
            for i, u in enumerate(accounts.sample(self.users, 4))
        ]
        self.service_accounts = {
            name: Account(name, f"{topology.domain_sid}-{1200 + i}", "service")
            for i, name in enumerate(("svc-backup", "svc-deploy", "svc-scan", "svc-monitoring"))
        }
        self._session = self.rng("sessions").randrange(10**6, 10**7)
        self._edge_conn = zeek.ConnLog(self.sink, EDGE_CONN, self.rng("zeek-edge"))
        self._core_conn = zeek.ConnLog(self.sink, CORE_CONN, self.rng("zeek-core"))
        self._system_procs: dict[str, dict[str, Process]] = {}
        first = self.rng("record-ids")
        for host in topology.windows_hosts:
            for channel in (windows.SECURITY, windows.SYSTEM, windows.SYSMON):
                self.sink.set_first_record(
                    self.win_path(host, channel), first.randrange(10**4, 10**7)
                )

    # -- randomness and time ----------------------------------------------------------------

    def rng(self, stream: str) -> random.Random:
        """A generator of its own for one behaviour."""
        return self.static_rng(self.seed, stream)

    @staticmethod
    def static_rng(seed: int, stream: str) -> random.Random:
        # String seeds are hashed with SHA-512, so the stream is the same in every process.
        return random.Random(f"{seed}:{stream}")

    def local(self, ts: float) -> datetime:
        """The hospital's wall-clock time of an instant."""
        return datetime.fromtimestamp(ts, tz=UTC) + self.utc_offset

    def times(
        self,
        rng: random.Random,
        mean_gap: float,
        start: float | None = None,
        end: float | None = None,
    ) -> Iterator[float]:
        """Instants of a Poisson process with the given mean gap (seconds)."""
        t = self.start if start is None else start
        stop = self.end if end is None else end
        gap = mean_gap / max(self.scale, 0.05)
        while True:
            t += rng.expovariate(1.0 / gap)
            if t >= stop:
                return
            yield t

    # -- Windows ------------------------------------------------------------------------------

    @staticmethod
    def win_path(host: Host, channel: str) -> str:
        short = {windows.SECURITY: "Security", windows.SYSTEM: "System", windows.SYSMON: "Sysmon"}
        return f"windows/{host.name}/{short[channel]}.jsonl"

    def win(self, host: Host, channel: str, ts: float, document: dict[str, object]) -> None:
        self.sink.add_windows(self.win_path(host, channel), ts, document)

    def logon(
        self,
        ts: float,
        host: Host,
        account: Account,
        rng: random.Random,
        *,
        logon_type: int,
        ip: str,
        workstation: str,
        package: str = "Negotiate",
    ) -> str:
        """4624 on ``host`` (and 4672 for an administrator); returns the new logon id."""
        lid = windows.logon_id(rng)
        qualified = account.qualified(self.topo.netbios)
        local = ip in ("127.0.0.1", "-")
        self.win(
            host,
            windows.SECURITY,
            ts,
            windows.logon(
                ts,
                host,
                user=qualified,
                user_sid=account.sid,
                logon_type=logon_type,
                ip=ip,
                port="0" if local else str(rng.randrange(49152, 65535)),
                workstation=workstation,
                target_logon_id=lid,
                package=package,
                elevated=account.kind == "admin",
            ),
        )
        if account.kind == "admin":
            self.win(
                host,
                windows.SECURITY,
                ts,
                windows.special_privileges(
                    ts, host, user=qualified, user_sid=account.sid, target_logon_id=lid
                ),
            )
        return lid

    def system_process(self, host: Host, image: str) -> Process:
        """A long-running system process of a host (services.exe, lsass.exe...), made once."""
        procs = self._system_procs.setdefault(host.name, {})
        proc = procs.get(image)
        if proc is None:
            rng = self.rng(f"sysproc:{host.name}:{image}")
            pid = {"lsass.exe": host.lsass_pid, "services.exe": host.services_pid}.get(
                image.rsplit("\\", 1)[-1], rng.randrange(400, 9000, 4)
            )
            proc = Process(image, image, pid, windows.guid(rng), "NT AUTHORITY\\SYSTEM", "0x3e7")
            procs[image] = proc
        return proc

    def spawn(
        self,
        ts: float,
        host: Host,
        parent: Process,
        image: str,
        command_line: str,
        *,
        user: str,
        user_sid: str,
        logon_id: str,
        rng: random.Random,
        integrity: str = "Medium",
    ) -> Process:
        """Start a process: Sysmon 1 where Sysmon runs, else 4688 (command-line auditing on)."""
        proc = windows.new_process(rng, image, command_line, user, logon_id)
        if host.sysmon:
            self.win(
                host,
                windows.SYSMON,
                ts,
                windows.sysmon_process(ts, host, proc, parent, integrity=integrity),
            )
        else:
            self.win(
                host,
                windows.SECURITY,
                ts,
                windows.process_creation_4688(ts, host, proc, parent, user_sid),
            )
        return proc

    # -- network ------------------------------------------------------------------------------

    def next_session(self) -> int:
        self._session += 1
        return self._session

    def edge_conn(self, c: zeek.Conn) -> None:
        self._edge_conn.add(c)

    def core_conn(self, c: zeek.Conn) -> None:
        self._core_conn.add(c)

    def fw(self, firewall: fortigate.Firewall, ts: float, line: str) -> None:
        """A line of a firewall's syslog file (one file per device)."""
        self.sink.add_line(f"firewall/{firewall.name.lower()}.log", ts, line)

    def vpn_ip(self, index: int) -> str:
        return str(self.topo.vpn_pool.network_address + 200 + index % 50)

    def monitoring(self, ts: float, line: str) -> None:
        self.sink.add_line(MONITORING_LOG, ts, line)


def _make_users(rng: random.Random, domain_sid: str, count: int) -> list[Account]:
    seen: set[str] = set()
    users: list[Account] = []
    while len(users) < count:
        sam = f"{rng.choice(_FIRST)[0]}.{rng.choice(_LAST)}"
        if sam in seen:
            continue
        seen.add(sam)
        users.append(Account(sam, f"{domain_sid}-{2000 + len(users)}", "user"))
    return users


# Random internet hosts come from the RFC 2544 benchmarking range (never routed); TEST-NET-2
# (198.51.100.0/24) is kept for the few named outside parties (attacker, providers, homes).
_INTERNET = ipaddress.IPv4Network("198.18.0.0/15")


def external_ip(rng: random.Random) -> str:
    """A random internet address for generated traffic, from a range that is never routed."""
    return str(_INTERNET.network_address + rng.randrange(1, _INTERNET.num_addresses - 1))
