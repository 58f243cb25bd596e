"""``sentinelle tokens``: API tokens for machines (log shippers, dashboards), from the command line.

``tokens create --role ingest`` prints the new token alone on standard output, so a script
captures it (``TOKEN=$(sentinelle tokens create --role ingest --name dc1)``); it is stored as its
SHA-256 only and never shown again. ``tokens list`` shows each token's name, role, prefix (to
recognise it), creation, last use and revocation; ``tokens revoke`` revokes by name or prefix.
Every change is written to the audit trail as ``cli:tokens``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from sentinelle.cli.users import DatabaseOption, DataDirOption, open_store
from sentinelle.errors import ConfigError
from sentinelle.terminal import printable


def register(app: typer.Typer) -> None:
    tokens_app = typer.Typer(help="API tokens for log shippers and tools.", no_args_is_help=True)
    tokens_app.command("create")(create_command)
    tokens_app.command("list")(list_command)
    tokens_app.command("revoke")(revoke_command)
    app.add_typer(tokens_app, name="tokens")


def create_command(
    role: Annotated[
        str, typer.Option("--role", help="ingest (sends events), api (reads) or admin (operates).")
    ],
    name: Annotated[
        str, typer.Option("--name", help="What the token is for (shown in lists and as sender).")
    ] = "",
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a token and print it (alone, on standard output)."""
    from sentinelle.web.access import TokenRole

    if role not in {r.value for r in TokenRole}:
        raise typer.BadParameter(
            f"{role!r}: use one of {', '.join(r.value for r in TokenRole)}", param_hint="--role"
        )
    name = name.strip() or role
    if len(name) > 100 or any(not c.isprintable() for c in name):
        raise ConfigError("a token name is at most 100 printable characters")
    open_store(data_dir, database_url)
    from django.db import transaction

    from sentinelle.web.accounts.audit import record
    from sentinelle.web.accounts.models import ApiToken

    with transaction.atomic():
        row, secret = ApiToken.objects.create_token(name, role)
        record("cli:tokens create", "token.create", row, after={"name": name, "role": role})
    print(secret)


def list_command(data_dir: DataDirOption = None, database_url: DatabaseOption = None) -> None:
    """List the tokens: name, role, prefix, created, last used, revoked."""
    open_store(data_dir, database_url)
    from sentinelle.web.accounts.models import ApiToken

    def when(value: datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value is not None else "-"

    for token in ApiToken.objects.order_by("created", "pk"):
        print(
            "\t".join(
                [
                    printable(token.name),
                    token.role,
                    f"{token.prefix}…",
                    when(token.created),
                    when(token.last_used),
                    "revoked " + when(token.revoked) if token.revoked else "active",
                ]
            )
        )


def revoke_command(
    which: Annotated[str, typer.Argument(help="The token's name, or the prefix `list` shows.")],
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Revoke the active tokens of that name or prefix (at once: the next request is refused)."""
    open_store(data_dir, database_url)
    from django.db import transaction
    from django.db.models import Q
    from django.utils import timezone

    from sentinelle.web.accounts.audit import record
    from sentinelle.web.accounts.models import ApiToken

    prefix = which.rstrip("…")
    query = Q(name=which) | (Q(prefix=prefix) if len(prefix) >= 8 else Q(pk__in=[]))
    with transaction.atomic():
        found = list(ApiToken.objects.filter(query, revoked__isnull=True))
        if not found:
            raise ConfigError(f"no active token named or prefixed {printable(which)!r}")
        now = timezone.now()
        for token in found:
            ApiToken.objects.filter(pk=token.pk).update(revoked=now)
            record("cli:tokens revoke", "token.revoke", token, after={"revoked": now.isoformat()})
    print(f"revoked {len(found)} token{'s' if len(found) > 1 else ''}")
