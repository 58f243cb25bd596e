"""Which ATT&CK release a set of technique ids belongs to, from the ids that releases changed.

An ATT&CK Navigator layer names the ATT&CK version of its technique ids, and the Navigator
drops every id that version does not have. Rules are tagged with the ids of the release they
were written against: SigmaHQ's current rules use ATT&CK v19, where Defense Evasion was split
into Stealth and Defense Impairment and the Impair Defenses and Indicator Removal techniques
that went to Defense Impairment were given new ids (clearing the Windows event logs, T1070.001
before, is T1685.005). A layer that says v17 for such tags loses one of the techniques a hunt
meets most.

The table here is the part of ATT&CK that tells releases apart for this purpose: the technique
ids that v19 introduced, and those it revoked with the technique that replaced each (the
``revoked-by`` relationships of MITRE's STIX data for Enterprise ATT&CK v19). An id absent from
both is the same in v17, v18 and v19. ``derive_release`` picks the version from the ids a hunt
detected; an id revoked in v19 is translated to its successor when the layer is v19, so the
technique still shows.

ATT&CK® is a registered trademark of The MITRE Corporation; the ids are from ATT&CK,
© The MITRE Corporation, used under its terms of use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# The newest release this table describes, and the one before it.
LATEST = "19"
PREVIOUS = "18"
SOURCE = (
    "MITRE ATT&CK Enterprise v19: technique ids introduced by v19, and the revoked-by "
    "relationships of the ids it retired"
)

# Introduced by v19: the techniques of the Defense Impairment tactic (TA0112).
NEW_IN_LATEST = frozenset(
    {
        "T1685",
        "T1685.001",
        "T1685.002",
        "T1685.003",
        "T1685.004",
        "T1685.005",
        "T1685.006",
        "T1686",
        "T1686.001",
        "T1686.002",
        "T1686.003",
        "T1688",
        "T1689",
        "T1690",
    }
)

# Revoked by v19, and the v19 technique that replaced each.
REVOKED_BY_LATEST: dict[str, str] = {
    "T1562": "T1685",
    "T1562.001": "T1685",
    "T1562.002": "T1685.001",
    "T1562.003": "T1690",
    "T1562.004": "T1686",
    "T1562.006": "T1685",
    "T1562.007": "T1686.001",
    "T1562.008": "T1685.002",
    "T1562.009": "T1688",
    "T1562.010": "T1689",
    "T1562.011": "T1685.003",
    "T1562.012": "T1685.004",
    "T1562.013": "T1686.002",
    "T1070.001": "T1685.005",
    "T1070.002": "T1685.006",
}


@dataclass(frozen=True, slots=True)
class Release:
    """The ATT&CK version a layer should name, and how the detected ids map into it."""

    version: str
    translated: dict[str, str] = field(default_factory=dict)  # old id -> id shown
    reason: str = ""

    def shown(self, technique: str) -> str:
        return self.translated.get(technique, technique)


def derive_release(techniques: Iterable[str]) -> Release:
    """The version of ATT&CK that ``techniques`` (ids such as ``T1059.001``) come from.

    * an id that only v19 has: v19, and ids v19 revoked are shown as their successors;
    * otherwise an id that v19 revoked: v18, the last release that has it, unchanged;
    * otherwise (ids every release here has): v19.
    """
    ids = set(techniques)
    newer = sorted(ids & NEW_IN_LATEST)
    older = sorted(ids & REVOKED_BY_LATEST.keys())
    if older and not newer:
        return Release(
            PREVIOUS,
            reason=f"ids retired in ATT&CK v{LATEST} ({', '.join(older)}) and none of its new ones",
        )
    translated = {old: REVOKED_BY_LATEST[old] for old in older}
    if newer:
        reason = f"ids that ATT&CK v{LATEST} introduced ({', '.join(newer[:5])}"
        reason += ", ...)" if len(newer) > 5 else ")"
    else:
        reason = f"ids unchanged up to ATT&CK v{LATEST}"
    if translated:
        reason += "; retired ids shown as their successors: " + ", ".join(
            f"{old} → {new}" for old, new in translated.items()
        )
    return Release(LATEST, translated, reason)
