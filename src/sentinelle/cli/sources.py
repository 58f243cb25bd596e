"""``sentinelle sources gaps``: known gaps (maintenance, a host retired) from the command line.

The same declarations as the Sources page of the web app (``web.watch.gaps``), audited as made
by ``cli:sources``: a source matching a gap raises no silence alert until the gap expires.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sentinelle.errors import SentinelleError
from sentinelle.terminal import printable

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The service's data folder (default: as serve)."),
]


def register(app: typer.Typer) -> None:
    sources_app = typer.Typer(help="Sources the service receives.", no_args_is_help=True)
    gaps_app = typer.Typer(help="Known gaps: sources expected to be quiet.", no_args_is_help=True)
    gaps_app.command("list")(gaps_list_command)
    gaps_app.command("add")(gaps_add_command)
    gaps_app.command("revoke")(gaps_revoke_command)
    sources_app.add_typer(gaps_app, name="gaps")
    app.add_typer(sources_app, name="sources")


def _store(data_dir: Path | None) -> None:
    from sentinelle.service.config import ServeConfig
    from sentinelle.web import configure

    folder = data_dir if data_dir is not None else ServeConfig().data_path()
    configure(folder, migrate=True)


def gaps_add_command(
    match: Annotated[str, typer.Argument(help="Host name (* wildcards), site:ID or source key.")],
    length: Annotated[str, typer.Option("--for", help="How long: 4h, 2d, 1d12h.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the source will be quiet.")],
    data_dir: DataDir = None,
) -> None:
    """Declare a known gap; prints its number."""
    from sentinelle.web.watch.gaps import check_gap, declare_gap

    check_gap(match, length, reason)  # before touching the store
    _store(data_dir)
    gap = declare_gap("cli:sources gaps add", match, length, reason)
    typer.echo(f"{gap.pk}\t{gap.match}\tuntil {gap.expires:%Y-%m-%d %H:%M} UTC")


def gaps_revoke_command(
    number: Annotated[int, typer.Argument(help="The gap's number (see list).")],
    data_dir: DataDir = None,
) -> None:
    """End a known gap now."""
    from sentinelle.web.watch.gaps import revoke_gap

    _store(data_dir)
    revoke_gap("cli:sources gaps revoke", number)


def gaps_list_command(data_dir: DataDir = None) -> None:
    """The known gaps in force."""
    from django.utils import timezone

    _store(data_dir)
    from sentinelle.web.watch.models import KnownGap

    rows = KnownGap.objects.filter(revoked__isnull=True, expires__gt=timezone.now())
    table = Table()
    for column in ("#", "matches", "until (UTC)", "reason", "author"):
        table.add_column(column)
    for gap in rows.order_by("expires"):
        table.add_row(
            str(gap.pk), printable(gap.match), f"{gap.expires:%Y-%m-%d %H:%M}",
            printable(gap.reason)[:200], printable(gap.author),
        )  # fmt: skip
    Console().print(table)
    if not rows.exists():
        raise SentinelleError("no known gap in force") from None
