"""``sentinelle rules check``: load and compile rule files, report what loads and what does not.

Prints the loaded rules, filters and correlations, every rejected rule or correlation (refused
by the loader or by the correlator) with its ``file:line`` and reason, and the logsources that
map to no event source (their rules can never fire). Exits 1 when anything was rejected, so it
can guard a rule repository in CI. ``rules update`` is in :mod:`sentinelle.cli.rules_update`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from sentinelle.errors import RuleError
from sentinelle.terminal import printable

rules_app = typer.Typer(
    name="rules", help="Check and manage Sigma rule sets.", no_args_is_help=True
)


@rules_app.command("check")
def check(
    paths: Annotated[list[Path], typer.Argument(help="Rule files or directories.")],
    logsources: Annotated[
        list[Path] | None,
        typer.Option(
            "--logsources", help="Extra logsource mapping file (repeatable); wins over the default."
        ),
    ] = None,
    placeholders: Annotated[
        Path | None, typer.Option("--placeholders", help="Values of `expand` placeholders (YAML).")
    ] = None,
    show_unmapped: Annotated[
        bool, typer.Option("--unmapped", help="List every rule whose logsource maps to nothing.")
    ] = False,
) -> None:
    """Load rules; print loaded and rejected counts, every reason, unmapped logsources."""
    from sentinelle.engine import compile_rules
    from sentinelle.engine.placeholders import load_placeholders
    from sentinelle.sigma.loader import load_rules
    from sentinelle.sigma.logsources import describe, load_logsource_map

    ruleset = load_rules(paths)
    values, _ = load_placeholders(placeholders)
    compiled = compile_rules(
        ruleset, logsources=load_logsource_map(logsources or []), placeholders=values
    )
    rejected = compiled.rejections()
    refused = len(rejected) - len(compiled.errors)  # correlations the correlator refused
    # Rule files come from packages off the internet: their names, titles and the reasons
    # that quote them reach the terminal with their control characters shown, never run.
    for err in rejected:
        typer.echo(printable(f"rejected: {err}"))
    unmapped = [compiled.rules[i] for i in compiled.plan.unmapped]
    by_source = Counter(r.logsource for r in unmapped)
    if unmapped:
        typer.echo(
            f"{len(unmapped)} rule(s) have a logsource that maps to no event source (never fire):"
        )
        for (key, count), label in zip(
            by_source.most_common(), describe(k for k, _ in by_source.most_common()), strict=True
        ):
            typer.echo(printable(f"  {count:5d}  {label or key}"))
        if show_unmapped:
            for r in unmapped:
                typer.echo(printable(f"  unmapped: {r.path}:{r.line or 1}: {r.title}"))
    reasons = Counter(_reason(str(e.message)) for e in rejected)
    if reasons:
        typer.echo("rejections by reason:")
        for reason, count in reasons.most_common():
            typer.echo(printable(f"  {count:5d}  {reason}"))
    typer.echo(
        f"loaded {len(compiled.rules)} rules ({len(compiled.rules) - len(unmapped)} mapped), "
        f"{len(ruleset.filters)} filters, {len(ruleset.correlations) - refused} "
        "correlations; "
        f"rejected {len(rejected)}"
    )
    if rejected:
        raise typer.Exit(1)


def print_rule_errors(console: Console, errors: list[RuleError]) -> None:
    """The first ten rule errors on ``console`` (their text is the rules' own: made printable),
    then how many more."""
    for err in errors[:10]:
        console.print(Text(printable(f"rule error: {err}"), style="red"))
    if len(errors) > 10:
        console.print(Text(f"... and {len(errors) - 10} more rule errors"))


def _reason(message: str) -> str:
    """The kind of a rejection, without the rule-specific parts, for the summary."""
    text = message.split(" rejected: ", 1)[-1]
    for cut in (" '", ' "', ": ", " %"):
        if cut in text:
            text = text.split(cut, 1)[0]
    return text


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
