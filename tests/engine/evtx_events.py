"""Events from an EVTX file for engine tests: the project reader when present, else a bare parse.

The engine must not care where events come from; until the readers package lands, this flattens
records with the readers' own naming module (``sentinelle.readers.winevent``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson

from sentinelle.events import Event


def evtx_events(path: Path) -> Iterator[Event]:
    try:
        from sentinelle.readers import read_file  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        read_file = None
    if read_file is not None:
        for batch in read_file(path):
            yield from batch.events
        return
    import evtx

    from sentinelle.readers.winevent import flatten_evtx_json

    for record in evtx.PyEvtxParser(str(path)).records_json():
        data = cast("dict[str, Any]", record)
        fields, ts, flags = flatten_evtx_json(orjson.loads(data["data"]))
        yield Event(fields, ts, str(path), int(data["event_record_id"]), flags=flags)
