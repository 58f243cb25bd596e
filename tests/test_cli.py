from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
        "'sentinelle.network', 'sentinelle.hospital', 'sentinelle.scenarios', 'sigma', "
        "'sentinelle.hunt.update', 'sentinelle.service', 'rich.progress'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_error_quoting_an_input_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """The process boundary prints every error through the terminal's escaping: a path or a
    model's value holding an escape sequence is shown, not run, and a message of several
    lines keeps its lines."""
    hostile = tmp_path / "model \x1b]0;owned\x07.yml"
    missing = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "impact", "-m", str(hostile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "\x1b" not in missing.stderr and "\x07" not in missing.stderr
    assert "model \\x1b]0;owned\\x07.yml" in missing.stderr
    model = tmp_path / "model.yml"
    model.write_text('hospital: {name: "x\\e[2J"}\nsites: [{id: "s\\e[2J", name: S, town: t}]\n')
    problems = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "model", "check", str(model)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert problems.returncode == 2 and "\x1b" not in problems.stderr
    assert len(problems.stderr.splitlines()) > 2, problems.stderr  # one problem a line
