"""MITRE ATT&CK tags of Sigma rules: tactics and technique ids, parsed once for every output.

Sigma tags write tactics as ``attack.<tactic>`` (older rules with underscores, current SigmaHQ
with hyphens) and techniques as ``attack.tNNNN`` or ``attack.tNNNN.NNN``. Group (``attack.gNNNN``)
and software (``attack.sNNNN``) tags are neither and are ignored here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")


@dataclass(frozen=True, slots=True)
class Tactic:
    """One ATT&CK tactic: its tag spelling, display name and Hayabusa's short column form."""

    key: str  # normalised tag suffix, underscores: "privilege_escalation"
    name: str
    short: str
    order: int  # kill-chain position, for stable display


# Kill-chain order. The short forms are the ones Hayabusa prints in its MitreTactics column, so a
# CSV timeline reads the same in tools built around it; "stealth" and "defense_impairment" are
# the tactics that replaced Defense Evasion in recent ATT&CK releases and have no Hayabusa form.
_TACTICS: tuple[tuple[str, str, str], ...] = (
    ("reconnaissance", "Reconnaissance", "Recon"),
    ("resource_development", "Resource Development", "ResDev"),
    ("initial_access", "Initial Access", "InitAccess"),
    ("execution", "Execution", "Exec"),
    ("persistence", "Persistence", "Persis"),
    ("privilege_escalation", "Privilege Escalation", "PrivEsc"),
    ("defense_evasion", "Defense Evasion", "Evas"),
    ("stealth", "Stealth", "Stealth"),
    ("defense_impairment", "Defense Impairment", "DefImpair"),
    ("credential_access", "Credential Access", "CredAccess"),
    ("discovery", "Discovery", "Disc"),
    ("lateral_movement", "Lateral Movement", "LatMov"),
    ("collection", "Collection", "Collect"),
    ("command_and_control", "Command and Control", "C2"),
    ("exfiltration", "Exfiltration", "Exfil"),
    ("impact", "Impact", "Impact"),
)

TACTICS: dict[str, Tactic] = {
    key: Tactic(key, name, short, order) for order, (key, name, short) in enumerate(_TACTICS)
}


def tactic_of(tag: str) -> Tactic | None:
    """The tactic a tag names, whatever its case or separator, or None."""
    lowered = tag.strip().lower()
    if not lowered.startswith("attack."):
        return None
    return TACTICS.get(lowered[len("attack.") :].replace("-", "_"))


def tactics_of(tags: Iterable[str]) -> list[Tactic]:
    """The distinct tactics among ``tags``, in kill-chain order."""
    if isinstance(tags, tuple):  # a rule's tags, met once per detection: parsed once
        return list(_tactics(tags))
    return list(_tactics(tuple(tags)))


def techniques_of(tags: Iterable[str]) -> list[str]:
    """Distinct technique ids (``T1059``, ``T1059.001``) among ``tags``, sorted."""
    return list(_techniques(tags if isinstance(tags, tuple) else tuple(tags)))


@functools.lru_cache(maxsize=8192)
def _tactics(tags: tuple[str, ...]) -> tuple[Tactic, ...]:
    found = {t.key: t for t in (tactic_of(tag) for tag in tags) if t is not None}
    return tuple(sorted(found.values(), key=lambda t: t.order))


@functools.lru_cache(maxsize=8192)
def _techniques(tags: tuple[str, ...]) -> tuple[str, ...]:
    found: set[str] = set()
    for tag in tags:
        m = _TECHNIQUE.match(tag.strip().lower())
        if m:
            found.add(m.group(1).upper())
    return tuple(sorted(found))
