"""Service checks of the hospital's monitoring (Centreon-like), as syslog key=value lines.

Each check names the model component it watches, so the demo can set what the checks saw beside
what the impact engine predicts. Its state follows the scenario's conditions: a check that needs
the internet fails while the link is cut, and times out now and then during a flood.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sentinelle.scenarios.topology import Host
from sentinelle.scenarios.world import World

MONITOR_NAME = "centreon01"
# local4 (20) * 8 + severity: informational 6, warning 4, error 3.
_PRI = {"OK": 166, "WARNING": 164, "CRITICAL": 163}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    component: str
    host: Host
    needs: str  # "internal", "internet", "vpn", "website"
    ok_text: str
    fail_text: str


def _line(ts: float, check: Check, state: str, attempt: int, output: str) -> str:
    stamp = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    payload = (
        f'type="SERVICE CHECK" host="{check.host.name.lower()}" service="{check.name}" '
        f'component="{check.component}" state="{state}" attempt={attempt} output="{output}"'
    )
    return f"<{_PRI[state]}>1 {stamp} {MONITOR_NAME} centreon-engine - - - {payload}"


def checks(w: World) -> list[Check]:
    """The checks the monitoring runs, on machines the model says carry each component."""

    def carrier(component: str) -> Host | None:
        for host in w.topo.servers + w.topo.devices:
            asset = w.topo.model.assets.get(host.asset)
            if asset is not None and component in asset.carries:
                return host
        return None

    # (check, component it reports on, component of the machine it runs against, ...)
    wanted = (
        (
            "HTTPS-DPI",
            "patient-record",
            "patient-record",
            "internal",
            "HTTP OK: HTTP/1.1 200 OK",
            "",
        ),
        ("DICOM-ECHO-PACS", "imaging", "imaging", "internal", "DICOM C-ECHO OK", ""),
        ("HTTPS-SIL", "laboratory", "laboratory", "internal", "HTTP OK: HTTP/1.1 200 OK", ""),
        (
            "SMTP-SORTANT",
            "external-email",
            "mail-relay",
            "internet",
            "SMTP OK: 250 queued",
            "CRITICAL: connection to mx.messagerie-sante.example timed out",
        ),
        (
            "HTTPS-RDV-EXTERNE",
            "appointment-booking",
            "patient-record",  # checked from the server that calls the platform's API
            "internet",
            "HTTP OK: HTTP/1.1 200 OK",
            "CRITICAL: connect to api.rdv-plateforme.example:443 timed out",
        ),
        (
            "HTTPS-SITE-PUBLIC",
            "public-website",
            "public-website",
            "website",
            "HTTP OK: HTTP/1.1 200 OK",
            "CRITICAL: no response from www within 10 s",
        ),
        (
            "VPN-PORTAIL",
            "remote-access",
            "remote-access",
            "vpn",
            "HTTP OK: SSL-VPN portal answered",
            "CRITICAL: SSL-VPN portal unreachable",
        ),
    )
    out: list[Check] = []
    for name, component, runs_on, needs, ok, fail in wanted:
        host = carrier(runs_on)
        if host is not None and w.topo.model.component(component) is not None:
            out.append(Check(name, component, host, needs, ok, fail))
    return out


def generate(w: World) -> None:
    rng = w.rng("monitoring")
    conditions = w.conditions
    verdict: dict[str, Callable[[float], bool]] = {
        "internal": lambda ts: True,
        "internet": conditions.internet_up,
        "vpn": conditions.vpn_up,
        "website": conditions.website_up,
    }
    for check in checks(w):
        ts = w.start + rng.uniform(0, 300)
        failures = 0
        while ts < w.end:
            ok = verdict[check.needs](ts)
            if ok and check.needs != "internal" and conditions.flooded(ts):
                ok = rng.random() < 0.3  # timeouts while the link is saturated
            failures = 0 if ok else failures + 1
            if ok:
                state, text = "OK", check.ok_text
            else:
                state = "WARNING" if failures < 3 else "CRITICAL"
                text = check.fail_text
            w.monitoring(ts, _line(ts, check, state, min(failures, 3) or 1, text))
            ts += 300.0 if ok else 60.0  # monitoring re-checks faster while something fails
