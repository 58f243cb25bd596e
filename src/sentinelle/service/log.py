"""Structured log lines: a stable event name and ``key=value`` fields, one line each.

Operators grep and alert on the event names (``journal.refusing``, ``detector.restarted``), so
they never change once shipped; the fields may grow. Values are quoted when they hold spaces or
quotes, and any text from outside passes through :func:`sentinelle.terminal.printable`.
"""

from __future__ import annotations

import logging
from typing import Any

from sentinelle.terminal import printable


def _value(value: Any) -> str:
    text = printable(str(value))
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_event(event: str, fields: dict[str, Any]) -> str:
    return " ".join([f"event={event}", *(f"{k}={_value(v)}" for k, v in fields.items())])


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured line: ``event=NAME key=value ...``."""
    if logger.isEnabledFor(level):
        logger.log(level, format_event(event, fields))
