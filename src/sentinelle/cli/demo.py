"""``sentinelle demo``: the Nantes night and a ransomware chain, live in the crisis room
(``make demo``: the service and its web app fed the two nights, accelerated) or, with
``--report``, hunted as a batch and told as a story with its HTML report."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from sentinelle.demo import DEMO_SCALE, DEMO_SEED, DemoResult, ScenarioResult, run_demo
from sentinelle.detections import level_rank
from sentinelle.hospital import ImpactEntry, ServiceState
from sentinelle.terminal import printable

_LOCAL = timedelta(hours=1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def demo_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for the logs, the service's data and the report"
            " (default: a temporary one for --report, out/demo live).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Scenario seed.")] = DEMO_SEED,
    scale: Annotated[float, typer.Option("--scale", help="Background volume.")] = DEMO_SCALE,
    jobs: Annotated[int, typer.Option("--jobs", help="Hunt workers (0: all cores).")] = 0,
    report: Annotated[
        bool,
        typer.Option("--report", help="The batch story and its HTML report, no service."),
    ] = False,
    http: Annotated[
        str, typer.Option("--http", help="Where the crisis room listens.", metavar="HOST:PORT")
    ] = "127.0.0.1:8080",
    syslog_tcp: Annotated[
        str,
        typer.Option("--syslog-tcp", help="The service's syslog listener.", metavar="HOST:PORT"),
    ] = "127.0.0.1:5514",
    speed: Annotated[
        float, typer.Option("--speed", help="How many times faster than the nights happened.")
    ] = 240.0,
) -> None:
    """Live: start the service and the crisis room, replay both nights into them (Ctrl-C
    stops). With --report: hunt both nights, group, assess the impact, tell the story."""
    if not report:
        from sentinelle.demo_live import LiveDemo

        live = LiveDemo(
            out or Path("out") / "demo",
            http=http,
            syslog_tcp=syslog_tcp,
            speed=speed,
            seed=seed,
            scale=scale,
        )
        status = live.run(lambda text: typer.echo(printable(text)))
        raise typer.Exit(status)
    console = Console(highlight=False, emoji=False)
    began = time.perf_counter()
    result = run_demo(out, seed=seed, scale=scale, jobs=jobs or None)
    elapsed = time.perf_counter() - began
    for sc in result.scenarios:
        _story(console, sc)
    _closing(console, result, elapsed)


def _t(ts: float | None) -> str:
    if ts is None:
        return "--:--:--"
    return (datetime.fromtimestamp(ts, tz=UTC) + _LOCAL).strftime("%H:%M:%S")


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "not detected"
    return f"{seconds:.0f} s" if abs(seconds) < 120 else f"{seconds / 60:.1f} min"


def _line(console: Console, text: str, style: str = "") -> None:
    console.print(Text(printable(text), style=style))


def _story(console: Console, sc: ScenarioResult) -> None:
    console.rule(Text(f"{sc.name}  (times are the hospital's, UTC+1)"))
    for problem in sc.problems:
        _line(console, problem, "bold red")
    for note in sc.manifest.notes[:1]:
        _line(console, note, "italic")
    for o in sc.outcomes:
        _line(console, f"attack start      {_t(o.attack.start)}  {o.attack.name}", "bold")
        if o.first is not None:
            _line(
                console,
                f"first detection   {_t(o.first.timestamp)}  {o.first.rule_title} "
                f"[{o.first.level}], {_delay(o.delay)} after the start",
                "bold green" if (o.delay or 0) <= 120 else "bold red",
            )
        else:
            _line(console, "first detection   none", "bold red")
        for step, (_, det) in zip(o.attack.steps, o.steps_seen, strict=True):
            seen = (
                f"-> {det.rule_title} [{det.level}] +{_delay((det.timestamp or 0) - step.time)}"
                if det is not None
                else "-> not seen"
            )
            _line(console, f"  {_t(step.time)}  {step.host:<13} {step.name}  {seen}")
    serious = [i for i in sc.incidents if level_rank(i.severity) >= level_rank("high")]
    _line(console, f"incidents: {len(sc.incidents)} ({len(serious)} high or critical)", "bold")
    for inc in sc.incidents:
        if level_rank(inc.severity) < level_rank("medium"):
            continue
        chain = " > ".join(t.short for t in inc.tactics)
        _line(
            console,
            f"  {inc.id} {inc.severity:<8} {_t(inc.first_seen)}-{_t(inc.last_seen)} "
            f"{inc.detections:>4} det.  sites {','.join(inc.sites) or '-'}  {chain}",
        )
        _line(console, f"      {inc.title}", "dim")
    _impact(console, "what the detected attack did", sc.detected_impact.affected())
    for phase in sc.phases:
        _line(
            console,
            f"containment at {_t(phase.phase.time)}: {', '.join(phase.phase.actions)} "
            f"({phase.phase.by})",
            "bold",
        )
        _impact(console, "what it cost", phase.cost)
        for comp, counts in sorted(phase.observed.items()):
            worst = phase.report.worst(comp).label if phase.report.states(comp) else "-"
            seen = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            _line(console, f"    checks {comp:<20} predicted {worst:<12} seen {seen}", "dim")
    fp = sc.false_positives
    _line(
        console,
        "false positives on the benign night alone: "
        + (
            ", ".join(f"{fp[lv]} {lv}" for lv in ("critical", "high", "medium", "low") if fp[lv])
            or "none"
        ),
    )
    console.print()


def _impact(console: Console, title: str, rows: Sequence[ImpactEntry]) -> None:
    if not rows:
        _line(console, f"  {title}: no service affected")
        return
    _line(console, f"  {title}:")
    by_service: dict[str, list[ImpactEntry]] = {}
    for e in rows:
        by_service.setdefault(e.component, []).append(e)
    order = {ServiceState.DOWN: 0, ServiceState.DEGRADED: 1, ServiceState.AT_RISK: 2}
    for _comp, es in sorted(
        by_service.items(), key=lambda kv: (order.get(kv[1][0].state, 3), kv[0])
    ):
        states = Counter(e.state.label for e in es)
        where = ", ".join(sorted(e.site for e in es))
        path = " > ".join(es[0].path)
        _line(
            console,
            f"    {es[0].name[:46]:<46} {'/'.join(states)} at {where}"
            + (f"  ({path})" if path else ""),
            "red" if es[0].state is ServiceState.DOWN else "",
        )


def _closing(console: Console, result: DemoResult, elapsed: float) -> None:
    delays = [f"{sc.name} {_delay(o.delay)}" for sc in result.scenarios for o in sc.outcomes]
    _line(console, f"detection delays: {'; '.join(delays)}", "bold")
    _line(console, f"logs and report in {result.out_dir}")
    if result.json is not None:
        _line(console, f"figures (JSON): {result.json}")
    if result.html is not None:
        _line(console, f"HTML report: {result.html}", "bold")
    _line(console, f"demo time: {elapsed:.1f} s")
