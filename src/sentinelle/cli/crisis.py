"""``sentinelle crisis-log verify`` and ``sentinelle crisis-kit``: the crisis room's paper side.

``crisis-log verify`` walks the crisis log's hash chain in the store and proves nothing was
changed or removed, or names the first entry where the chain breaks (exit status 1 then).
``crisis-kit --out FILE`` writes the crisis kit (contacts, the status of the services,
degraded-mode procedures) as HTML, or as PDF when FILE ends in ``.pdf``: printed ahead of the
night it is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentinelle.cli.users import DatabaseOption, DataDirOption, open_store
from sentinelle.errors import ConfigError
from sentinelle.terminal import printable


def register(app: typer.Typer) -> None:
    log_app = typer.Typer(help="The crisis log (main courante).", no_args_is_help=True)
    log_app.command("verify")(verify_command)
    app.add_typer(log_app, name="crisis-log")
    app.command("crisis-kit")(kit_command)


def verify_command(
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="A head hash from a printed or exported copy: it must still be in the log.",
        ),
    ] = None,
) -> None:
    """Prove the crisis log was neither changed nor cut, or name where its chain breaks."""
    open_store(data_dir, database_url)
    from sentinelle.web.crisis.chain import verify

    verdict = verify(head)
    if verdict.intact:
        print(
            f"crisis log: {verdict.entries} entries, chain intact;"
            f" head #{verdict.head_seq} sha256 {verdict.head_hash}"
        )
        return
    first = verdict.first
    assert first is not None
    when = f" (written {first.at} by {printable(first.author)})" if first.at else ""
    print(f"crisis log: chain broken at entry #{first.seq}{when}: {first.problem}")
    for other in verdict.breaks[1:20]:
        print(f"  also #{other.seq}: {other.problem}")
    if len(verdict.breaks) > 20:
        print(f"  ... {len(verdict.breaks) - 20} more")
    print(f"crisis log: {verdict.entries} entries read, {len(verdict.breaks)} problems")
    raise typer.Exit(1)


def kit_command(
    out: Annotated[
        Path,
        typer.Option("--out", help="File to write: .pdf for a PDF, else HTML.", dir_okay=False),
    ],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Hospital model (default: the service's, or the example).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    language: Annotated[str, typer.Option("--language", help="fr or en.")] = "fr",
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Write the crisis kit (contacts, status of the services, procedures) to print it."""
    if language not in ("fr", "en"):
        raise typer.BadParameter("fr or en", param_hint="--language")
    open_store(data_dir, database_url)
    from django.utils import translation

    from sentinelle.hospital import load_model
    from sentinelle.web.crisis import documents, kit
    from sentinelle.web.sources import hospital_model

    hospital = load_model(model) if model is not None else hospital_model()
    with translation.override(language):
        html = kit.booklet(hospital, standalone=True)
    data = documents.pdf(html) if out.suffix.lower() == ".pdf" else html.encode("utf-8")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"{printable(str(out))}: cannot write the kit: {exc.strerror}") from exc
    print(f"crisis kit written to {printable(str(out))} ({len(data)} bytes)")
