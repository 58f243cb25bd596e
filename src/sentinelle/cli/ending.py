"""The end of a ``sentinelle`` process: what commands leave to it, and an exit that does not
free it.

A hunt's compiled rule set is tens of thousands of objects; freeing them one by one when the
command returns cost the SigmaHQ Windows set 20 ms at the end of every hunt, for memory the
system takes back at once when the process ends. A command hands such structures to
``leave_at_exit``; ``sentinelle.cli.main`` then ends the process with ``exit_leaving``: the
exit handlers run (atexit: the EVTX parser pool, a caller's own), the standard streams are
flushed, and the interpreter's teardown is skipped.

Kept apart from ``main``, which also runs as ``__main__`` (``python -m``, runpy): both that
copy and the commands see this one module.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn

# None until ``begin``: commands driven in-process (the tests' CliRunner) leave nothing.
_left: list[object] | None = None


def begin() -> None:
    """This process is a ``sentinelle`` command that ends when it returns."""
    global _left  # noqa: PLW0603 - the process's one list
    _left = []


def leave_at_exit(*objects: object) -> None:
    """Keep ``objects`` until the process ends (nothing outside a ``begin`` process)."""
    if _left is not None:
        _left.extend(objects)


def anything_left() -> bool:
    return bool(_left)


def exit_leaving(code: object) -> NoReturn:
    """End the process with ``code`` (as ``SystemExit`` takes it) without its teardown."""
    status = code if isinstance(code, int) else 0
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)
