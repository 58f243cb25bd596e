"""Helpers of the reader tests: the record ids of each chunk of an EVTX file, by the bare parser;
whether the C accelerator of the record decoder is there."""

from __future__ import annotations

import struct
from pathlib import Path

import evtx
import orjson
import pytest

from sentinelle.readers import evtx_records


def require_accelerator() -> None:
    """Skip when the C accelerator was not built (a failure in CI: tests/conftest.py)."""
    if evtx_records._native_decode is None:
        pytest.skip(
            "the C accelerator (readers/_evtxjson.c) was not built: no C compiler, or"
            " SENTINELLE_PURE_PYTHON set at install"
        )


CHUNK = 65536
HEADER = 4096


def chunk_record_ids(path: Path) -> dict[int, set[int]]:
    """Record ids (System EventRecordID) of each chunk, from a whole-file parse by the bare parser.

    The chunk of a record comes from the chunk headers' first/last record id, so the expectation
    does not depend on the reader under test.
    """
    data = path.read_bytes()
    ranges = []
    for index in range((len(data) - HEADER) // CHUNK):
        chunk = data[HEADER + index * CHUNK : HEADER + (index + 1) * CHUNK]
        if chunk.startswith(b"ElfChnk\x00"):
            first, last = struct.unpack_from("<QQ", chunk, 24)
            ranges.append((index, first, last))
    out: dict[int, set[int]] = {index: set() for index, _, _ in ranges}
    for record in evtx.PyEvtxParser(str(path)).records_json():
        header_id = int(record["event_record_id"])  # type: ignore[index]
        system = orjson.loads(record["data"])["Event"]["System"]  # type: ignore[index]
        shown = system.get("EventRecordID")
        record_id = int(shown) if str(shown).isdigit() else header_id
        for index, first, last in ranges:
            if first <= header_id <= last:
                out[index].add(record_id)
    return out
