"""``sentinelle impact`` and ``sentinelle model``: what an attack or a containment action costs.

``impact`` prints, per service and site, whether it is down, degraded, at risk or operational,
with the dependency path that explains it; ``--format json`` gives the same as one JSON document.
``model check`` validates a hospital model and lists every problem with its ``file:line``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sentinelle.errors import ConfigError
from sentinelle.hospital import (
    ContainmentAction,
    HospitalModel,
    ImpactEntry,
    ImpactReport,
    ServiceState,
    Step,
    assess,
    check_names,
    example_model_path,
    load_model,
    parse_action,
)
from sentinelle.hospital.checks import model_notes
from sentinelle.terminal import printable

_STYLE = {
    ServiceState.OPERATIONAL: ("ok", "green"),
    ServiceState.AT_RISK: ("risk", "yellow"),
    ServiceState.DEGRADED: ("degr", "dark_orange"),
    ServiceState.DOWN: ("DOWN", "bold red"),
}

ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Hospital model (YAML). Default: the worked example, a fictional CHU.",
        dir_okay=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command("impact")(impact_command)
    model_app = typer.Typer(help="Check and explore a hospital model.", no_args_is_help=True)
    model_app.command("check")(model_check_command)
    model_app.command("locate")(model_locate_command)
    model_app.command("runbook")(model_runbook_command)
    app.add_typer(model_app, name="model")


def _load(path: Path | None) -> HospitalModel:
    return load_model(path if path is not None else example_model_path())


def collect_actions(
    cut: Sequence[str],
    isolate_site: Sequence[str],
    shut: Sequence[str],
    disable: Sequence[str],
    action: Sequence[str],
) -> list[ContainmentAction]:
    """The containment actions the options name, in a fixed order (cut, isolate, shut...)."""
    out: list[ContainmentAction] = []
    for verb, targets in (
        ("cut", cut),
        ("isolate", isolate_site),
        ("shut", shut),
        ("disable", disable),
    ):
        out.extend(parse_action(f"{verb}:{t}") for t in targets)
    out.extend(parse_action(a) for a in action)
    return out


def impact_command(
    model: ModelOption = None,
    cut: Annotated[
        list[str] | None,
        typer.Option("--cut", help="Cut a service or infrastructure (id or role): internet..."),
    ] = None,
    isolate_site: Annotated[
        list[str] | None, typer.Option("--isolate-site", help="Cut a site's WAN link.")
    ] = None,
    shut: Annotated[
        list[str] | None, typer.Option("--shut", help="Shut a component: remote-access...")
    ] = None,
    disable: Annotated[
        list[str] | None, typer.Option("--disable", help="Disable a component: directory...")
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option("--action", help="VERB:TARGET or VERB:TARGET@SITE, e.g. cut:telephony@snz."),
    ] = None,
    compromised: Annotated[
        list[str] | None,
        typer.Option(
            "--compromised", help="Host, IP, asset or component an attacker (may) control."
        ),
    ] = None,
    unavailable: Annotated[
        list[str] | None,
        typer.Option(
            "--unavailable", help="Host, IP, asset, component or component@site that is down."
        ),
    ] = None,
    degraded: Annotated[
        list[str] | None,
        typer.Option("--degraded", help="Same kinds of names, for what works badly (a flood)."),
    ] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Show only these sites.")] = None,
    infrastructure: Annotated[
        bool, typer.Option("--infrastructure", help="Also show the infrastructure's states.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Per site and service: down, degraded, at risk or operational, and why.

    Every host, asset or component named must exist in the model: a typo is an error (exit 2)
    with the close names the model has, never a report where nothing happened.
    """
    if fmt not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    hospital = _load(model)
    sites = list(dict.fromkeys(site or []))
    for name in sites:
        if name not in hospital.sites:
            raise ConfigError(f"--site {name!r}: no such site (sites: {', '.join(hospital.sites)})")
    actions = collect_actions(
        cut or [], isolate_site or [], shut or [], disable or [], action or []
    )
    check_names(
        hospital,
        compromised=compromised or [],
        unavailable=unavailable or [],
        degraded=degraded or [],
    )
    report = assess(
        hospital,
        compromised=compromised or [],
        unavailable=unavailable or [],
        degraded=degraded or [],
        actions=actions,
    )
    if fmt == "json":
        data = report.to_dict(sites or None)
        sys.stdout.write(
            orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        )
        sys.stdout.write("\n")
        return
    shown = sites or list(hospital.sites)
    # Wide enough for the matrix even when the output is a pipe (rich assumes 80 columns then).
    longest = max((len(s) for s in hospital.services), default=10)
    console = Console(soft_wrap=True)
    console.width = max(console.width, longest + 16 + 7 * len(shown))
    print_report(hospital, report, console, shown, infrastructure=infrastructure)


def _say(console: Console, *parts: str | tuple[str, str]) -> None:
    """One line of plain text and (text, style) pieces. Model text (names, runbooks, on-call
    notes) comes from a file anyone may have written: it is never read as markup, and its
    control characters are shown, not obeyed."""
    line = Text()
    for part in parts:
        text, style = (part, "") if isinstance(part, str) else part
        line.append(printable(text), style=style)
    console.print(line, highlight=False)


def print_report(
    hospital: HospitalModel,
    report: ImpactReport,
    console: Console,
    sites: Sequence[str],
    *,
    infrastructure: bool = False,
) -> None:
    """The state matrix (services by sites) with a legend of the names, the counts at the sites
    shown, then the explanations and the procedures."""
    title = hospital.name
    if report.actions:
        title += " — " + ", ".join(report.actions)
    rows = [(s.id, s.criticality.value) for s in hospital.services.values()]
    console.print(_matrix(printable(title), "service", rows, report, sites))
    if infrastructure:
        rows = [(c.id, c.category) for c in hospital.infrastructure.values()]
        console.print(_matrix("Infrastructure", "component", rows, report, sites))
    _legend(console, hospital, sites, infrastructure=infrastructure)
    counts = report.counts(sites)
    where = "every site" if len(sites) == len(hospital.sites) else _plural(len(sites), "site")
    shown_counts = "  ".join(f"{ServiceState(k).label}: {v}" for k, v in counts.items())
    _say(console, f"At {where}: {shown_counts}")
    affected = [e for e in report.affected() if e.site in sites]
    if not affected:
        _say(console, "Every service is operational at the sites shown.")
        return
    console.print()
    _say(console, ("Why", "bold"))
    for group in group_explanations(affected):
        style = _STYLE[group.state][1]
        place = "every site shown" if len(group.sites) == len(sites) else ", ".join(group.sites)
        _say(
            console,
            (group.state.label, style),
            f" at {place}: ",
            (", ".join(group.components), "bold"),
        )
        via: list[str | tuple[str, str]] = ["    "]
        if group.via:
            via += [("via " + " → ".join(group.via), "cyan"), " "]
        via.append(f"({group.cause})")
        if group.note:
            via.append((f"; {group.note}", "dim"))
        _say(console, *via)
    procedures = {e.component: e for e in affected if e.state is not ServiceState.AT_RISK}
    if procedures:
        console.print()
        _say(console, ("Degraded-mode procedures", "bold"))
        for entry in procedures.values():
            rto = _hours(entry.rto_seconds)
            book = entry.runbook or "no runbook"
            _say(console, f"{entry.component}: {book} (RTO {rto}; on call: {entry.on_call or '-'})")


def _plural(count: int, word: str) -> str:
    return f"the {count} {word}s shown" if count != 1 else f"the {word} shown"


def _legend(
    console: Console, hospital: HospitalModel, sites: Sequence[str], *, infrastructure: bool
) -> None:
    """What the ids of the matrix stand for: its columns (sites) and its rows."""
    names = []
    for sid in sites:
        place = hospital.sites[sid]
        names.append(f"{sid} {place.name}" + (f" ({place.town})" if place.town else ""))
    _say(console, ("Sites: ", "bold"), " · ".join(names))
    rows = [f"{s.id} {s.name}" for s in hospital.services.values()]
    _say(console, ("Services: ", "bold"), " · ".join(rows))
    if infrastructure:
        rows = [f"{c.id} {c.name}" for c in hospital.infrastructure.values()]
        _say(console, ("Infrastructure: ", "bold"), " · ".join(rows))


@dataclass(frozen=True, slots=True)
class Explanation:
    """Components in one state at the same sites for the same reason."""

    state: ServiceState
    via: tuple[str, ...]  # the steps after the component itself, in words
    cause: str
    note: str
    sites: tuple[str, ...]
    components: tuple[str, ...]


# Stands for the entry's own site in a grouping key, so that sites with the same story merge.
_OWN = "\x00"
# At most this many steps are spelled out; a longer path shows its first and its last ones.
_STEPS_SHOWN = 4


def _matrix(
    title: str,
    what: str,
    rows: Sequence[tuple[str, str]],
    report: ImpactReport,
    sites: Sequence[str],
) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column(what, no_wrap=True)
    table.add_column("crit." if what == "service" else "category")
    for site in sites:
        table.add_column(site, justify="center")
    for component, detail in rows:
        cells: list[Text | str] = [Text(component), Text(detail)]
        for site in sites:
            entry = report.entry(component, site)
            if entry is None:
                cells.append(Text("·", style="dim"))  # not used at that site
            else:
                label, style = _STYLE[entry.state]
                cells.append(Text(label, style=style))
        table.add_row(*cells)
    return table


def _step_words(label: str, site: str) -> str:
    """A step of a path in words: ``wan:cht`` is "the WAN link of cht"; the entry's own site's
    link stands as a mark (rendered by :func:`_spell`) so that sites with the same story merge."""
    kind, colon, rest = label.partition(":")
    if colon and kind == "wan":
        return f"the WAN link of {_OWN if rest == site else rest}"
    if colon and kind in ("asset", "host"):
        return f"{kind} {rest}"
    component, at, where = label.partition("@")
    return f"{component} at {where}" if at else label


class _Tails:
    """Length and last two labels of each chain of steps, each step visited once over all the
    entries (they share their tails): spelling out N entries of a chain of N stays linear."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[int, tuple[str, ...]]] = {}

    def of(self, step: Step) -> tuple[int, tuple[str, ...]]:
        pending: list[Step] = []
        node: Step | None = step
        while node is not None and id(node) not in self._known:
            pending.append(node)
            node = node.next
        length, last = self._known[id(node)] if node is not None else (0, ())
        for item in reversed(pending):
            if length < 2:  # the chain from here ends within two steps: this one is in it
                last = (item.label, *last)
            length += 1
            self._known[id(item)] = (length, last)
        return self._known[id(step)]


def _shown_steps(via: Step | None, site: str, tails: _Tails) -> tuple[str, ...]:
    """The steps after the component, in words: all of them up to four, else the first one
    and the last two around how many were left out."""
    if via is None:
        return ()
    length, last = tails.of(via)
    if length <= _STEPS_SHOWN:
        return tuple(_step_words(label, site) for label in via.labels())
    words = [_step_words(label, site) for label in (via.label, *last)]
    return (words[0], f"… {length - 3} more …", *words[1:])


def _spell(text: str, sites: Sequence[str]) -> str:
    """Text with the own-site mark replaced by the group's sites, named."""
    if _OWN not in text:
        return text
    return text.replace(_OWN, sites[0] if len(sites) == 1 else "each site")


def group_explanations(entries: Sequence[ImpactEntry]) -> list[Explanation]:
    """Explanations that read the same merged: first across sites, then across components.

    Each path is spelled out in words with the names it goes through (its first steps and its
    last ones past four), so a line stays short whatever the depth of the dependencies.
    """
    per_component: dict[tuple[str, ServiceState, tuple[str, ...], str, str], list[str]] = {}
    tails = _Tails()
    for entry in entries:
        via = _shown_steps(entry.via, entry.site, tails)
        cause = entry.cause.replace(f"isolate:{entry.site}", f"isolate:{_OWN}")
        key = (entry.component, entry.state, via, cause, entry.note)
        per_component.setdefault(key, []).append(entry.site)
    Group = tuple[ServiceState, tuple[str, ...], str, tuple[str, ...]]
    merged: dict[Group, list[str]] = {}
    notes: dict[Group, str] = {}
    for (component, state, via, cause, note), sites in per_component.items():
        group = (state, via, cause, tuple(sites))
        merged.setdefault(group, []).append(component)
        notes.setdefault(group, "degraded, not down: a soft dependency" if note else "")
    out = []
    for group, names in merged.items():
        state, via, cause, at = group
        actions = ", ".join(f"isolate:{s}" for s in at)
        out.append(
            Explanation(
                state,
                tuple(_spell(step, at) for step in via),
                _spell(cause.replace(f"isolate:{_OWN}", actions), at),
                notes[group],
                at,
                tuple(names),
            )
        )
    out.sort(key=lambda e: -e.state.rank)  # stable: model order within a state
    return out


def _hours(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}min"


def model_check_command(
    path: Annotated[Path, typer.Argument(help="Hospital model (YAML).", dir_okay=False)],
) -> None:
    """Validate a hospital model; every problem is listed with its file:line."""
    hospital = load_model(path)
    hosts = sum(len(a.hosts) for a in hospital.assets.values())
    print(
        printable(
            f"{path}: OK: {hospital.name}: {len(hospital.sites)} sites, {len(hospital.zones)}"
            f" zones, {len(hospital.services)} services, {len(hospital.infrastructure)}"
            f" infrastructure components, {len(hospital.assets)} assets ({hosts} hosts named)"
        )
    )
    for note in model_notes(hospital):
        print(printable(f"note: {note}"))


def model_locate_command(
    names: Annotated[list[str], typer.Argument(help="Host names or IP addresses.")],
    model: ModelOption = None,
) -> None:
    """Which asset, site, zone and services a host name or IP address belongs to."""
    hospital = _load(model)
    missing = 0
    for name in names:
        asset = hospital.locate_host(name)
        if asset is None:
            print(f"{name}: not in the model")
            missing += 1
            continue
        carried = ", ".join(asset.carries) or "nothing"
        print(f"{name}: asset {asset.id} at {asset.site}, zone {asset.zone}, carries {carried}")
    if missing:
        raise typer.Exit(1)


def model_runbook_command(
    component: Annotated[str, typer.Argument(help="Service or infrastructure id.")],
    model: ModelOption = None,
) -> None:
    """Print the degraded-mode procedure of a service."""
    hospital = _load(model)
    if hospital.component(component) is None:
        raise ConfigError(f"no service or infrastructure {component!r} in the model")
    text = hospital.runbook_text(component)
    if text is None:
        raise ConfigError(f"{component} has no runbook in the model")
    sys.stdout.write(text)
