from __future__ import annotations

import subprocess
import sys

import typer

from sentinelle import __version__
from sentinelle.cli.main import COMMAND_MODULES, COMMAND_OWNERS, build_app, modules_for


def test_version_prints_package_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"sentinelle {__version__}"
    assert __version__ != "0.0.0+unknown"


def _commands(app: typer.Typer) -> dict[str, set[str]]:
    """Top-level commands, each with its subcommands (empty for a plain command)."""
    group = typer.main.get_group(app)
    return {name: set(getattr(command, "commands", {})) for name, command in group.commands.items()}


def test_each_command_is_served_by_the_modules_a_run_imports() -> None:
    # A run imports only the command modules its command needs (COMMAND_OWNERS); every command
    # of the full command line must be there whole, `rules update` included.
    full = _commands(build_app())
    assert set(full) == set(COMMAND_OWNERS)
    assert "update" in full["rules"]
    for command, modules in COMMAND_OWNERS.items():
        assert modules_for(["--quiet", command, "x"]) == modules
        assert _commands(build_app(modules))[command] == full[command]
    assert modules_for(["--help"]) == modules_for([]) == COMMAND_MODULES


def test_a_hunt_imports_no_other_command_family() -> None:
    code = (
        "import sys; from sentinelle.cli.main import build_app, modules_for; "
        "build_app(modules_for(['hunt', 'x'])); "
        "print(sorted(m for m in sys.modules if m.startswith(('sentinelle.demo', "
        "'sentinelle.network', 'sentinelle.hospital', 'sentinelle.scenarios', 'sigma'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
