"""The running service, as the parts that live inside Django (ingest views, health) see it.

``sentinelle serve`` builds one :class:`Runtime` and installs it before the web app takes
requests; a view asks :func:`current` for the journal to submit to and whether the service
is ready. Outside a service (tests of the web app alone, the commands) there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sentinelle.service.records import RecordSink


@dataclass(slots=True)
class Runtime:
    sink: RecordSink
    ready: bool = False  # set once every listener is bound and the journal is open
    extras: dict[str, Any] = field(default_factory=dict)  # parts added by later stages


_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    global _current  # noqa: PLW0603 - one service per process, installed once at start
    _current = runtime


def current() -> Runtime | None:
    return _current
