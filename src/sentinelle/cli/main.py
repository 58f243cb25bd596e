"""Entry point of the ``sentinelle`` command.

Each command family lives in its own module with a ``register(app)`` function; this file only
assembles them, so that adding a command never means editing another command's code. The one
broad exception handler of the program is here: an unexpected error becomes a one-line message
and exit status 70, never a traceback (set SENTINELLE_DEBUG=1 to see it).
"""

from __future__ import annotations

import functools
import gc
import importlib
import os
import sys

import typer

from sentinelle.cli import ending
from sentinelle.errors import SentinelleError
from sentinelle.gcpause import collector_paused
from sentinelle.terminal import printable_lines

# Top-level commands and the modules each needs, in the order of --help. A run imports only
# its command's modules: importing every command family (the demo, the network collector, the
# hospital model...) costs a hunt about 0.1 s.
COMMAND_OWNERS: dict[str, tuple[str, ...]] = {
    "impact": ("impact",),
    "model": ("impact",),
    "scenario": ("scenario",),
    "network": ("network",),
    "rules": ("rules", "rules_update"),
    "hunt": ("hunt",),
    "events": ("events",),
    "search": ("search",),
    "metrics": ("metrics",),
    "logons": ("logons",),
    "demo": ("demo",),
    "serve": ("serve",),
    "users": ("users",),
    "tokens": ("tokens",),
    "probes": ("probes",),
    "coverage": ("coverage",),
    "sources": ("sources",),
    "crisis-log": ("crisis",),
    "crisis-kit": ("crisis",),
}
# Every command module, in the same order: what help and unknown commands load.
COMMAND_MODULES: tuple[str, ...] = tuple(
    dict.fromkeys(module for modules in COMMAND_OWNERS.values() for module in modules)
)


def _version_callback(value: bool) -> None:
    if value:
        from sentinelle import __version__

        typer.echo(f"sentinelle {__version__}")
        raise typer.Exit()


def build_app(modules: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    """The command line with the commands of ``modules`` (all of them by default)."""
    app = typer.Typer(
        name="sentinelle",
        help="Security monitoring and cyber-crisis platform for hospitals.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False,
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version.",
        ),
    ) -> None:
        """Security monitoring and cyber-crisis platform for hospitals."""

    for name in modules:
        importlib.import_module(f"sentinelle.cli.{name}").register(app)
    return app


def modules_for(argv: list[str]) -> tuple[str, ...]:
    """The command modules a run with these arguments needs (all of them for help, errors)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return COMMAND_OWNERS.get(command or "", COMMAND_MODULES)


@functools.cache
def _full_app() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> typer.Typer:
    # ``app``, with every command, built once for callers that drive the command line in-process.
    if name == "app":
        return _full_app()
    raise AttributeError(name)


def main() -> None:
    try:
        # Importing the command's modules makes only objects that live as long as the process:
        # the cyclic collector would walk them again and again as they are made (a tenth of a
        # hunt's start-up), so it waits, then leaves them out of its passes for good.
        with collector_paused():
            app = build_app(modules_for(sys.argv[1:]))
        gc.freeze()
        ending.begin()
        try:
            app()
        except SystemExit as done:
            if ending.anything_left():
                ending.exit_leaving(done.code)
            raise
    except SentinelleError as exc:
        # The message may quote an input (a path, a member's name, a model's value): shown, not
        # run, whatever raised it.
        print(printable_lines(f"sentinelle: error: {exc}"), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("sentinelle: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # process boundary: report, never a traceback
        if os.environ.get("SENTINELLE_DEBUG"):
            raise
        print(
            printable_lines(f"sentinelle: internal error: {type(exc).__name__}: {exc}"),
            file=sys.stderr,
        )
        sys.exit(70)


if __name__ == "__main__":
    main()
