"""``sentinelle users``: people of the crisis room, from the command line.

``users create NAME --role admin`` makes the first administrator (the web app makes the others).
The password is read from ``$SENTINELLE_PASSWORD``, else from standard input when it is not a
terminal (one line), else asked twice without echo; it must pass the same policy as in the web
app. Every change is written to the audit trail as ``cli:users``.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sentinelle.errors import ConfigError
from sentinelle.terminal import printable

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data folder of the service (default: $SENTINELLE_DATA_DIR or the user data folder).",
        file_okay=False,
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL instead of the SQLite file in the data folder"
        " (default: $SENTINELLE_DATABASE_URL).",
    ),
]


def register(app: typer.Typer) -> None:
    users_app = typer.Typer(help="People who use the web app.", no_args_is_help=True)
    users_app.command("create")(create_command)
    users_app.command("list")(list_command)
    app.add_typer(users_app, name="users")


def open_store(data_dir: Path | None, database_url: str | None) -> None:
    """Django on the service's store (schema brought up to date)."""
    from sentinelle.paths import data_dir as default_data_dir
    from sentinelle.web import configure

    configure(data_dir or default_data_dir(), database_url, migrate=True)


def read_password() -> str:
    env = os.environ.get("SENTINELLE_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise ConfigError("the two passwords differ")
    return first


def create_command(
    name: Annotated[str, typer.Argument(help="User name (sign-in name).")],
    role: Annotated[str, typer.Option("--role", help="admin, analyst, crisis or viewer.")],
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a user (the first administrator, typically)."""
    from sentinelle.web.access import Role

    if role not in {r.value for r in Role}:
        raise typer.BadParameter(
            f"{role!r}: use one of {', '.join(r.value for r in Role)}", param_hint="--role"
        )
    open_store(data_dir, database_url)
    from django.contrib.auth import password_validation
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from sentinelle.web.accounts.audit import record
    from sentinelle.web.accounts.models import User
    from sentinelle.web.accounts.views import user_state

    try:
        User.username_validator(name)
    except ValidationError as exc:
        raise ConfigError(f"user name {printable(name)!r}: {' '.join(exc.messages)}") from exc
    if User.objects.filter(username__iexact=name).exists():
        raise ConfigError(f"a user named {printable(name)!r} exists already")
    password = read_password()
    try:
        password_validation.validate_password(password, User(username=name))
    except ValidationError as exc:
        raise ConfigError("password refused: " + " ".join(exc.messages)) from exc
    with transaction.atomic():
        user = User.objects.create_user(name, password=password, role=role)
        record("cli:users create", "user.create", user, after=user_state(user))
    print(f"created {printable(name)} ({role})")


def list_command(data_dir: DataDirOption = None, database_url: DatabaseOption = None) -> None:
    """List the users, their role and whether they are active."""
    open_store(data_dir, database_url)
    from sentinelle.web.accounts.models import User

    for user in User.objects.order_by("username"):
        state = "active" if user.is_active else "disabled"
        print(f"{printable(user.username)}\t{user.role}\t{state}")
