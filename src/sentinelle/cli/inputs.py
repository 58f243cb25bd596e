"""Checks every command that reads logs or writes files makes before any work.

A hunt over a large collection takes minutes: a typo in an output path, or an input that does
not exist, must be refused at once with its name, not after the work (or as an internal error).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sentinelle.events import Event
from sentinelle.terminal import printable

if TYPE_CHECKING:
    from sentinelle.readers import ReadLimits

# The reader options every command that reads logs takes (events, hunt...).
FOLLOW_SYMLINKS_HELP = (
    "Follow symbolic links found in folders, also those leaving the folder or to folders"
    " (default: reported, not followed)."
)
READ_LIMIT_HELP = (
    "Change a reader limit (repeatable): max_fields, max_event_bytes, max_depth,"
    " max_batch_bytes, max_ratio, ratio_floor, max_spool_bytes; sizes take K, M, G."
)


def reader_limits(overrides: Sequence[str]) -> ReadLimits:
    """The readers' limits with ``--read-limit NAME=VALUE`` overrides applied (usage error
    naming the option when one is wrong)."""
    from sentinelle.errors import ConfigError
    from sentinelle.readers.limits import DEFAULT_LIMITS, with_overrides

    try:
        return with_overrides(DEFAULT_LIMITS, list(overrides))
    except ConfigError as exc:
        raise typer.BadParameter(exc.message, param_hint="--read-limit") from exc


def input_files(
    paths: Sequence[Path], *, follow_symlinks: bool = False, sizes: dict[Path, int] | None = None
) -> tuple[list[Path], int]:
    """Every log file under ``paths`` (``-`` is standard input), each once, and how many
    were named more than once (the same file through two arguments, a folder and a file in it,
    a link) and are read once. ``sizes``, when given, gets each file's size in bytes (from the
    ``stat`` that tells it apart: none of a file that cannot be read)."""
    from sentinelle.readers import STDIN_PATH, expand_paths

    missing = [p for p in paths if str(p) != STDIN_PATH and not p.exists()]
    if missing:
        raise typer.BadParameter(
            f"no such file or directory: {printable(str(missing[0]))}", param_hint="PATH"
        )
    files = expand_paths(paths, follow_symlinks=follow_symlinks)
    if not files:
        raise typer.BadParameter("no log file found", param_hint="PATH")
    seen: set[object] = set()
    unique: list[Path] = []
    for path in files:
        key = _identity(path, sizes)
        if key in seen:
            continue
        seen.add(key)
        unique.append(path)
    return unique, len(files) - len(unique)


def _identity(path: Path, sizes: dict[Path, int] | None = None) -> object:
    if str(path) == "-":
        return "-"
    try:
        st = path.stat()
    except OSError:
        return str(path.absolute())  # reading it will report the problem
    if sizes is not None:
        sizes[path] = st.st_size
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


_EPOCH = re.compile(r"^\d+(\.\d+)?$")


def parse_time(value: str, option: str) -> float:
    """``--since``/``--until``: ISO 8601 date or date-time (UTC unless it says otherwise), or
    epoch seconds."""
    text = value.strip()
    if _EPOCH.match(text):
        return float(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date, an ISO 8601 date-time or epoch seconds",
            param_hint=option,
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


# Issue kinds that mean part of the input was not read (a whole file, an EVTX chunk, the rest
# of a damaged stream): the command then exits 1, as ``sentinelle events`` does.
LOST_KINDS = frozenset(("file", "chunk"))


class EventSource:
    """The events of the logs under some paths, each file once, in a time window; read
    problems go to stderr as they come and are counted (see ``finish``)."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> None:
        self.files, self.repeated = input_files(paths)
        self.since = since
        self.until = until
        self.issues = 0
        self.unreadable = 0
        self.read = 0  # events read, in the window or not

    def __iter__(self) -> Iterator[Event]:
        from sentinelle.readers import read_paths

        window = self.since is not None or self.until is not None
        batches = read_paths(self.files, batch_size=2048)
        try:
            for batch in batches:
                for issue in batch.issues:
                    self.issues += 1
                    self.unreadable += issue.kind in LOST_KINDS
                    print(
                        f"warning: {printable(issue.location)}: {printable(issue.reason)} "
                        f"[{issue.kind}]",
                        file=sys.stderr,
                    )
                self.read += len(batch.events)
                if not window:
                    yield from batch.events
                    continue
                for event in batch.events:
                    ts = event.timestamp
                    if ts is None:
                        continue
                    if self.since is not None and ts < self.since:
                        continue
                    if self.until is not None and ts > self.until:
                        continue
                    yield event
        finally:
            # Stops the EVTX worker at once when the consumer stops early (--limit).
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def finish(self) -> None:
        """Say how many read problems there were; exit 1 if part of the input was not read."""
        if self.repeated:
            print(
                f"note: {self.repeated} file(s) named more than once were read once",
                file=sys.stderr,
            )
        if self.issues:
            print(f"sentinelle: {self.issues} read problem(s) reported above", file=sys.stderr)
        if self.unreadable:
            raise typer.Exit(1)


# The arguments every command over logs takes, declared once.
LogPaths = Annotated[
    list[Path],
    typer.Argument(
        help="Log files or folders (archives are opened); - reads standard input. A file named "
        "twice is read once.",
        metavar="PATH...",
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only events at or after this time: ISO 8601 (UTC unless it says otherwise), or "
        "epoch seconds.",
        metavar="TIME",
    ),
]
Until = Annotated[
    str | None,
    typer.Option("--until", help="Only events at or before this time.", metavar="TIME"),
]
Top = Annotated[int, typer.Option("--top", min=1, help="Rows per table shown (files have all).")]


def event_source(paths: Sequence[Path], since: str | None, until: str | None) -> EventSource:
    """The ``EventSource`` of a command's ``PATH...``, ``--since`` and ``--until``."""
    return EventSource(
        paths,
        since=parse_time(since, "--since") if since else None,
        until=parse_time(until, "--until") if until else None,
    )
