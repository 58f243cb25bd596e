"""Checks every command that reads logs or writes files makes before any work.

A hunt over a large collection takes minutes: a typo in an output path, or an input that does
not exist, must be refused at once with its name, not after the work (or as an internal error).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import typer

from sentinelle.terminal import printable


def input_files(paths: Sequence[Path]) -> tuple[list[Path], int]:
    """Every log file under ``paths`` (``-`` is standard input), each once, and how many
    were named more than once (the same file through two arguments, a folder and a file in it,
    a link) and are read once."""
    from sentinelle.readers import STDIN_PATH, expand_paths

    missing = [p for p in paths if str(p) != STDIN_PATH and not p.exists()]
    if missing:
        raise typer.BadParameter(
            f"no such file or directory: {printable(str(missing[0]))}", param_hint="PATH"
        )
    files = expand_paths(paths)
    if not files:
        raise typer.BadParameter("no log file found", param_hint="PATH")
    seen: set[object] = set()
    unique: list[Path] = []
    for path in files:
        key = _identity(path)
        if key in seen:
            continue
        seen.add(key)
        unique.append(path)
    return unique, len(files) - len(unique)


def _identity(path: Path) -> object:
    if str(path) == "-":
        return "-"
    try:
        st = path.stat()
    except OSError:
        return str(path.absolute())  # reading it will report the problem
    return (st.st_dev, st.st_ino)


def check_output(path: Path, option: str) -> None:
    """Refuse, before any work, an output path that cannot be written as a file."""
    shown = printable(str(path))
    if path.is_dir():
        raise typer.BadParameter(f"{shown} is a folder; give a file name", param_hint=option)
    folder = path.parent
    if not folder.exists():
        raise typer.BadParameter(
            f"the folder {printable(str(folder))} does not exist", param_hint=option
        )
    if not folder.is_dir():
        raise typer.BadParameter(f"{printable(str(folder))} is not a folder", param_hint=option)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise typer.BadParameter(
            f"cannot write in the folder {printable(str(folder))}", param_hint=option
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise typer.BadParameter(f"{shown} is not writable", param_hint=option)
