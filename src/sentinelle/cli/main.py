"""Entry point of the ``sentinelle`` command.

Each command family lives in its own module with a ``register(app)`` function; this file only
assembles them, so that adding a command never means editing another command's code. The one
broad exception handler of the program is here: an unexpected error becomes a one-line message
and exit status 70, never a traceback (set SENTINELLE_DEBUG=1 to see it).
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from sentinelle import __version__
from sentinelle.errors import SentinelleError

# Command modules, in the order their commands appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "impact",
    "scenario",
    "network",
    "rules",
    "hunt",
    "events",
    "demo",
)

app = typer.Typer(
    name="sentinelle",
    help="Security monitoring and cyber-crisis platform for hospitals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"sentinelle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """Security monitoring and cyber-crisis platform for hospitals."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"sentinelle.cli.{_name}").register(app)


def main() -> None:
    try:
        app()
    except SentinelleError as exc:
        print(f"sentinelle: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("sentinelle: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # process boundary: report, never a traceback
        if os.environ.get("SENTINELLE_DEBUG"):
            raise
        print(f"sentinelle: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(70)


if __name__ == "__main__":
    main()
