"""Containment actions a crisis team takes, written as short strings.

``cut:internet``, ``isolate:nord``, ``shut:remote-access``, ``disable:directory``,
``cut:telephony@snz``. ``cut``, ``shut`` and ``disable`` mean the same thing to the engine (the
target stops); the verb is kept so that reports read as the team said it. The target of those is
a service or infrastructure id, a role (``internet``, ``remote-access``, ``directory``), or an
asset id; ``@SITE`` limits it to the instance at one site. ``isolate`` takes a site id and cuts
that site's WAN link.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinelle.errors import ConfigError, Location
from sentinelle.hospital.model import Asset, Component, HospitalModel

STOP_VERBS = ("cut", "shut", "disable")
VERBS = (*STOP_VERBS, "isolate")
_ALIASES = {"isolate-site": "isolate", "stop": "cut"}


@dataclass(frozen=True, slots=True)
class ContainmentAction:
    verb: str  # one of VERBS
    target: str
    site: str | None = None

    def __str__(self) -> str:
        text = f"{self.verb}:{self.target}"
        return f"{text}@{self.site}" if self.site else text

    @property
    def isolates_site(self) -> bool:
        return self.verb == "isolate"


def parse_action(text: str) -> ContainmentAction:
    """Parse ``VERB:TARGET[@SITE]``; raises ConfigError on anything else."""
    raw = text.strip()
    verb, sep, rest = raw.partition(":")
    verb = _ALIASES.get(verb.strip().lower(), verb.strip().lower())
    if not sep or verb not in VERBS or not rest.strip():
        raise ConfigError(
            f"containment action {text!r}: write VERB:TARGET with VERB one of {', '.join(VERBS)}"
            " (for example cut:internet, isolate:SITE, shut:remote-access, disable:directory)",
            Location("<action>"),
        )
    target, at, site = rest.strip().partition("@")
    if verb == "isolate" and at:
        raise ConfigError(f"containment action {text!r}: isolate takes a site id, without @")
    if at and not site.strip():
        raise ConfigError(f"containment action {text!r}: nothing after '@'")
    return ContainmentAction(verb, target.strip(), site.strip() or None)


@dataclass(frozen=True, slots=True)
class ResolvedAction:
    """An action with its target looked up in a model: one of site, component or asset."""

    action: ContainmentAction
    site: str | None = None  # the site isolated, or the instance site of a component cut
    component: Component | None = None
    asset: Asset | None = None


def resolve_action(model: HospitalModel, action: ContainmentAction) -> ResolvedAction:
    """Look the target up; ConfigError naming what exists when it is unknown."""
    if action.isolates_site:
        if action.target not in model.sites:
            known = ", ".join(model.sites)
            raise ConfigError(f"{action}: unknown site {action.target!r} (sites: {known})")
        return ResolvedAction(action, site=action.target)
    if action.site is not None and action.site not in model.sites:
        raise ConfigError(f"{action}: unknown site {action.site!r}")
    comp = model.resolve_component(action.target)
    if comp is not None:
        if action.site is not None and not comp.runs_at(action.site):
            where = ", ".join(comp.sites)
            raise ConfigError(
                f"{action}: {comp.id} has no instance at {action.site} (it runs at {where});"
                f" cut it everywhere, or isolate the site"
            )
        return ResolvedAction(action, site=action.site, component=comp)
    asset = model.assets.get(action.target)
    if asset is not None:
        if action.site is not None:
            raise ConfigError(f"{action}: an asset is at one site already; drop '@'")
        return ResolvedAction(action, asset=asset)
    roles = sorted(c.role for c in model.components.values() if c.role)
    raise ConfigError(
        f"{action}: {action.target!r} is no service, infrastructure, role or asset of the model"
        f" (roles: {', '.join(roles) or 'none'})"
    )
