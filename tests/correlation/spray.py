"""A FortiGate SSL-VPN password spray with a flood of one-off failures in its middle.

The attacker tries ``before`` accounts from one address, then ``flood`` failed logins come from
as many distinct addresses (one each: enough to fill the correlation state of the shipped
spraying rule past its cap), then the attacker tries ``after`` more accounts. With a state
that evicts its least recently active group, the spray's group is the oldest when the flood
fills the state, so it is evicted and the spray never reaches its threshold.

Run as a script to write the syslog file: ``python -m tests.correlation.spray OUT [FLOOD]``.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from sentinelle.scenarios.fortigate import Firewall, vpn_login_failed

FIREWALL = Firewall("FGT-CHU-01", "FGVM02TM24000001", "10.0.0.1", timedelta(hours=1))
ATTACKER = "203.0.113.66"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FLOOD_SECONDS = 120.0  # the flood fits well inside the spraying rule's ten minutes


def flood_address(n: int) -> str:
    """The n-th flooding address: distinct for n below 2**24, never the attacker's."""
    return str(ipaddress.IPv4Address(0x0A000000 + n))  # 10.0.0.0/8


def spray_lines(flood: int, before: int = 4, after: int = 6) -> Iterator[str]:
    """The syslog lines, in time order: ``before`` sprayed accounts, the flood, ``after`` more."""
    ts = START
    for i in range(before):
        ts += 10.0
        yield vpn_login_failed(
            FIREWALL,
            ts,
            user=f"agent{i:02d}",
            remote_ip=ATTACKER,
            reason="sslvpn_login_unknown_user",
        )
    step = FLOOD_SECONDS / max(flood, 1)
    for n in range(flood):
        ts += step
        yield vpn_login_failed(
            FIREWALL,
            ts,
            user="admin",
            remote_ip=flood_address(n),
            reason="sslvpn_login_permission_denied",
        )
    for i in range(before, before + after):
        ts += 10.0
        yield vpn_login_failed(
            FIREWALL,
            ts,
            user=f"agent{i:02d}",
            remote_ip=ATTACKER,
            reason="sslvpn_login_unknown_user",
        )


def write(path: Path, flood: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for line in spray_lines(flood):
            out.write(line + "\n")
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1])
    write(target, int(sys.argv[2]) if len(sys.argv) > 2 else 101_000)
    print(f"{target}: {target.stat().st_size} bytes")
