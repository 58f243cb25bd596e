"""Events from an EVTX file for engine tests, read by the project's readers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sentinelle.events import Event
from sentinelle.readers import read_file


def evtx_events(path: Path) -> Iterator[Event]:
    for batch in read_file(path):
        assert not batch.issues, [str(i) for i in batch.issues]
        yield from batch.events
