"""Which files under a path are rule files, and reading one within its size cap.

Kept apart from the loader (no pySigma import): a hunt whose compiled set comes from the cache
lists and reads the rule files for the cache key without loading pySigma.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from sentinelle.errors import Location, RuleError

RULE_SUFFIXES = (".yml", ".yaml")
# A Sigma rule is a few kB; the largest SigmaHQ file (a list of vulnerable driver hashes) is
# 295 kB. 1 MiB leaves room for such lists and bounds what one hostile file costs to parse.
MAX_RULE_FILE_BYTES = 1024 * 1024


def rule_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[RuleError]]:
    """Expand files and directories into the sorted list of rule files they hold."""
    names, errors = rule_file_names(paths)
    return [Path(name) for name in names], errors


def rule_file_names(paths: Sequence[str | Path]) -> tuple[list[str], list[RuleError]]:
    """``rule_files`` as the text of each Path: what the cache key of every hunt lists, where a
    Path object per file cost about as much as the walk."""
    files: list[str] = []
    errors: list[RuleError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found: list[tuple[tuple[str, ...], str]] = []
            _walk(os.fspath(path), (), found)
            found.sort()  # by parts, as Paths sort
            files.extend(name for _, name in found)
        elif path.is_file():
            files.append(str(path))
        else:
            errors.append(RuleError("no such file or directory", Location(str(path))))
    return files, errors


def _walk(folder: str, parts: tuple[str, ...], found: list[tuple[tuple[str, ...], str]]) -> None:
    """The rule files under ``folder`` into ``found`` as (parts below the top, name): what
    ``Path.rglob("*")`` filtered by suffix and ``is_file`` gave, without a Path object and a
    ``stat`` per entry (SigmaHQ's 2,400 files took 21 ms that way, 9 ms this way, in every
    hunt: the cache key lists them). Links to folders are not walked, unreadable folders
    are skipped, as rglob does."""
    try:
        with os.scandir(folder) as entries:
            listed = list(entries)
    except PermissionError:
        return
    for entry in listed:
        name = entry.name
        dot = name.rfind(".")
        if dot > 0 and name[dot:] in RULE_SUFFIXES:  # Path.suffix
            try:
                if entry.is_file():
                    found.append(((*parts, name), entry.path))
                    continue
            except OSError:
                continue
        try:
            walk_into = entry.is_dir() and not entry.is_symlink()
        except OSError:
            walk_into = False
        if walk_into:
            _walk(entry.path, (*parts, name), found)


def read_rule_file(path: str | Path, max_bytes: int = MAX_RULE_FILE_BYTES) -> bytes:
    """The bytes of one rule file; ``RuleError`` when it is larger than ``max_bytes``.

    The size is checked before reading (a 2 GiB file costs a ``stat``, not 2 GiB of memory),
    and the read itself stops one byte past the cap, for a file that grows meanwhile or a
    special file whose size ``stat`` does not tell.
    """
    where = Location(str(path))
    try:
        # Non-blocking: opening a FIFO put in place of a rule file must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise RuleError("not a regular file", where)
            if info.st_size > max_bytes:
                raise RuleError(_too_big(info.st_size, max_bytes), where)
            content = fh.read(max_bytes + 1)
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror or exc}", where) from None
    if len(content) > max_bytes:
        raise RuleError(_too_big(None, max_bytes), where)
    return content


def _too_big(size: int | None, cap: int) -> str:
    told = f"{size} bytes" if size is not None else "larger than that"
    return f"rule file is {told}; a rule file may hold at most {cap} bytes (a rule is a few kB)"
