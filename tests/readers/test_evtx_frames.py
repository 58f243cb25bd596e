"""The parent's side of the EVTX worker protocol: frames it cannot trust are reported, not raised.

The worker parses hostile files; whatever it sends is checked before use. These tests build
record frames by hand (the layout documented in ``readers/evtx_worker.py``) and feed them to the
decoders the reader runs on each frame, with the C accelerator (which decodes whole record
frames) and without it.
"""

from __future__ import annotations

import gc
import struct
from typing import Any

import orjson
import pytest

from sentinelle.events import FLAG_BAD_TIMESTAMP, Event
from sentinelle.readers import evtx as reader
from sentinelle.readers import evtx_records, evtx_worker
from sentinelle.readers.batches import BatchBuilder

pytestmark = pytest.mark.usefixtures("both_decoders")


RECORD: dict[str, Any] = {
    "Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770}"}},
            "EventID": 1,
            "Version": 5,
            "Level": 4,
            "Task": 1,
            "Opcode": 0,
            "Keywords": "0x8000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-01-15T01:20:00.1234567Z"}},
            "EventRecordID": 42,
            "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}},
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "dc1.chu.local",
        },
        "EventData": {"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c whoami"},
    }
}


def _texts_frame(texts: list[bytes], ids: list[int], sizes: list[int] | None = None) -> bytes:
    sizes = [len(text) for text in texts] if sizes is None else sizes
    head = struct.pack(f"<I{len(ids)}q{len(sizes)}I", len(ids), *ids, *sizes)
    return head + b"".join(texts)


def _decode(kind: str, payload: bytes) -> BatchBuilder:
    builder = BatchBuilder("x.evtx", "evtx", 100)
    (reader._decode_records if kind == "R" else reader._take_normalised)(payload, "x.evtx", builder)
    return builder


def test_a_record_frame_is_cut_by_its_sizes() -> None:
    text = orjson.dumps(RECORD)
    other = orjson.dumps({**RECORD, "Event": {**RECORD["Event"], "EventData": {"Ünïcode": "é"}}})
    builder = _decode("R", _texts_frame([text, other], [1, 2]))
    events = builder.take().events
    assert [e.raw for e in events] == [text, other]
    assert events[0].fields["CommandLine"] == "cmd /c whoami" and events[0].record == 42
    assert events[1].fields["Ünïcode"] == "é"


def _with(event_data: dict[str, Any] | None = None, **system: Any) -> bytes:
    record = {"Event": {**RECORD["Event"], "System": {**RECORD["Event"]["System"], **system}}}
    if event_data is not None:
        record["Event"]["EventData"] = event_data
    return orjson.dumps(record)


def test_records_of_every_kind_keep_their_order_in_a_frame() -> None:
    texts = [
        _with(),
        _with(EventRecordID="0x2a"),  # not an integer: the record header's id names it
        b'{"Event": 3}',  # undecodable: reported, the others kept
        _with(event_data={"Data": ["unnamed", "items"]}),  # the general path
        _with(TimeCreated={"#attributes": {"SystemTime": "yesterday"}}),  # an unreadable time
        _with(TimeCreated={"#attributes": {"SystemTime": "2024-01-15 01:20:00+01:00"}}),
        _with(event_data={"Image": "é\u00e9"}),
    ]
    batch = _decode("R", _texts_frame(texts, list(range(101, 108)))).take()
    assert [e.record for e in batch.events] == [42, 102, 42, 42, 42, 42]
    assert [e.raw for e in batch.events] == texts[:2] + texts[3:]
    # the undecodable record, then (when the batch is sealed) the event kept without a time
    assert [i.location for i in batch.issues] == ["x.evtx record 103", "x.evtx record 42"]
    assert batch.events[2].fields["Data"] == "unnamed\nitems"  # unnamed items joined
    assert batch.events[3].flags == (FLAG_BAD_TIMESTAMP,) and batch.events[3].timestamp is None
    assert batch.events[4].timestamp == 1705278000.0
    assert batch.events[0].flags == () and batch.events[0].timestamp == 1705281600.1234567
    for event in batch.events:
        assert event.fields == evtx_records.decode_typed(event.raw)[0]  # type: ignore[arg-type]


def test_frames_that_do_not_add_up_are_reported() -> None:
    text = orjson.dumps(RECORD)
    broken = {
        "sizes past the payload": _texts_frame([text], [1], [len(text) + 10]),
        "sizes short of the payload": _texts_frame([text], [1], [len(text) - 10]),
        "count past the payload": struct.pack("<I", 1000) + text,
        "largest count": struct.pack("<I", 2**32 - 1) + text,
        "sizes that wrap around": _texts_frame(
            [text, text], [1, 2], [2**32 - 1, 2 * len(text) + 1]
        ),
        "empty": b"",
    }
    for name, payload in broken.items():
        for kind in ("R", "N"):
            batch = _decode(kind, payload).take()
            assert not batch.events, name
            assert [i.kind for i in batch.issues] == ["chunk"], name
            assert "malformed record frame" in batch.issues[0].reason, name


def test_normalised_rows_that_are_not_rows_are_decoded_here() -> None:
    text = orjson.dumps(RECORD)
    rows = orjson.dumps([{"not": "a row"}, None])
    head = _texts_frame([text, text], [1, 2])
    count_and_ids = head[: 4 + 2 * 8 + 2 * 4]
    payload = count_and_ids + struct.pack("<I", len(rows)) + rows + text + text
    events = _decode("N", payload).take().events
    assert [e.fields["Image"] for e in events] == [RECORD["Event"]["EventData"]["Image"]] * 2


def test_events_stay_out_of_the_cyclic_collector() -> None:
    event = Event({"EventID": 1}, 1.0, "x.evtx", 1, b"{}")
    assert not gc.is_tracked(event)
    assert event != Event({"EventID": 1}, 1.0, "x.evtx", 1, b"{}")  # identity, as before
    assert len({event, event}) == 1


def test_the_worker_sizes_texts_in_utf8_bytes() -> None:
    texts = ['{"a":"plain"}', '{"a":"accentué"}', '{"a":"\ud800"}']  # a lone surrogate too
    for ascii_only in (False, all(t.isascii() for t in texts)):
        sizes = struct.unpack(f"<{len(texts)}I", evtx_worker._text_sizes(texts, ascii_only))
        assert list(sizes) == [len(t.encode("utf-8", "surrogatepass")) for t in texts]
    plain = texts[:1]
    assert evtx_worker._text_sizes(plain, True) == evtx_worker._text_sizes(plain, False)
