"""``sentinelle rules update``: download the SigmaHQ rule package, verify it, install it.

A module of its own: its options' defaults come from the download code, which a hunt (that
shares ``print_rule_errors`` with it) does not import.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from sentinelle.cli.rules import print_rule_errors, rules_app
from sentinelle.hunt.update import DEFAULT_TIMEOUT, MAX_RULE_FILES
from sentinelle.sigma.files import MAX_RULE_FILE_BYTES
from sentinelle.terminal import printable


def rules_update(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Package URL (default: $SENTINELLE_SIGMA_URL, else SigmaHQ's)."),
    ] = None,
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="Expected SHA-256 of the package.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds the whole download may take.")
    ] = DEFAULT_TIMEOUT,
    max_rule_files: Annotated[
        int, typer.Option("--max-rule-files", help="Rule files a package may hold.")
    ] = MAX_RULE_FILES,
    max_rule_file_size: Annotated[
        int, typer.Option("--max-rule-file-size", help="Bytes one rule file may hold.")
    ] = MAX_RULE_FILE_BYTES,
) -> None:
    """Download the SigmaHQ rule package, verify it, and switch `--rules sigmahq` to it."""
    from sentinelle.hunt.update import Limits, resolve_url, update_rules

    out = Console(highlight=False, emoji=False)
    target = resolve_url(url)
    out.print(Text(f"Downloading {printable(target)}"))
    limits = Limits(rule_files=max_rule_files, rule_file_bytes=max_rule_file_size)
    report = update_rules(target, sha256=sha256, timeout=timeout, limits=limits)
    out.print(Text(f"sha256 {report.sha256}"))
    out.print(
        Text(
            f"{report.rules} rules, {report.correlations} correlations, {report.filters} filters "
            f"loaded; {len(report.errors)} could not be loaded"
        )
    )
    print_rule_errors(out, report.errors)
    if report.set_aside:
        aside = report.directory.parent / "rejected"
        out.print(Text(printable(f"{len(report.set_aside)} rule file(s) set aside in {aside}")))
    if report.previous is None:
        out.print(Text("First SigmaHQ set installed."))
    else:
        out.print(
            Text(
                f"Changes since the previous set: {len(report.added)} added, "
                f"{len(report.removed)} removed, {len(report.changed)} changed"
            )
        )
        for label, items in (
            ("added", report.added),
            ("removed", report.removed),
            ("changed", report.changed),
        ):
            for change in items[:20]:
                out.print(Text(printable(f"  {label}: {change.title} ({change.path})")))
            if len(items) > 20:
                out.print(Text(f"  ... and {len(items) - 20} more {label}"))
    out.print(Text(f"Installed in {report.directory}; use it with --rules sigmahq"))


def register(app: typer.Typer) -> None:
    rules_app.command("update")(rules_update)
