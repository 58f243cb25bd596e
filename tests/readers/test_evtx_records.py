"""The typed EVTX record decoder gives exactly the general flattening's fields.

``decode_record`` takes the usual record shape through a msgspec schema and leaves everything
else to ``flatten_evtx_json``; both must agree on every record, whichever path it takes. Checked
on every record of the shared corpora (fields, values, types and field order) and on generated
variations of real record shapes (odd System children, digit-string ids, attribute surprises,
clashing EventData names, 64-bit edges). On generated records the field order may differ: the
typed path writes System fields in the order Windows writes System children, and a generated
record may move a child elsewhere; the fields and values must still be the same.

Every test here runs twice: with the C accelerator (when it is built; ``.ci/run`` requires it)
and with the Python paths alone. tests/readers/test_evtx_native.py checks the accelerator on
hostile text.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import evtx
import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelle.readers import evtx_records
from sentinelle.readers.evtx_records import DECODE_ERRORS, decode_record
from sentinelle.readers.winevent import flatten_evtx_json

pytestmark = pytest.mark.usefixtures("both_decoders")


def _general(text: bytes, ordered: bool = True) -> Any:
    try:
        fields, ts, flags = flatten_evtx_json(orjson.loads(text))
    except DECODE_ERRORS as exc:
        return type(exc)
    return ([(k, type(v), v) for k, v in fields.items()] if ordered else fields), ts, flags


def _typed(text: bytes, ordered: bool = True) -> Any:
    try:
        fields, ts, flags = decode_record(text)
    except DECODE_ERRORS as exc:
        return type(exc)
    return ([(k, type(v), v) for k, v in fields.items()] if ordered else fields), ts, flags


def _takes_typed_path(text: bytes) -> bool:
    try:
        data = evtx_records._DECODER.decode(text).Event.EventData
    except msgspec.DecodeError:
        return False
    return not (isinstance(data, dict) and ("Data" in data or "#attributes" in data))


SECURITY_4624: dict[str, Any] = {
    "Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {
                "#attributes": {
                    "Name": "Microsoft-Windows-Security-Auditing",
                    "Guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
                }
            },
            "EventID": 4624,
            "Version": 2,
            "Level": 0,
            "Task": 12544,
            "Opcode": 0,
            "Keywords": "0x8020000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-01-15T01:20:03.123456Z"}},
            "EventRecordID": 912,
            "Correlation": {"#attributes": {"ActivityID": "{0a1b}"}},
            "Execution": {"#attributes": {"ProcessID": 712, "ThreadID": 2904}},
            "Channel": "Security",
            "Computer": "DC01.chu.local",
            "Security": None,
        },
        "EventData": {
            "TargetUserName": "admin",
            "LogonType": 3,
            "IpAddress": "10.4.2.7",
            "ElevatedToken": "%%1842",
        },
    }
}

# Digit-string ids, an id with Qualifiers, a user SID: as some providers write them.
DEFENDER_1116: dict[str, Any] = {
    "Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Windows Defender"}},
            "EventID": {"#attributes": {"Qualifiers": "0"}, "#text": "1116"},
            "Version": "0",
            "Level": "3",
            "Task": "0",
            "Opcode": "0",
            "Keywords": "0x8000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2020-12-11T12:28:01.2990045Z"}},
            "EventRecordID": "171",
            "Correlation": None,
            "Execution": {"#attributes": {"ProcessID": "4172", "ThreadID": "4384"}},
            "Channel": "Microsoft-Windows-Windows Defender/Operational",
            "Computer": "WIN10-client01.offsec.lan",
            "Security": {"#attributes": {"UserID": "S-1-5-18"}},
        },
        "EventData": {"Threat Name": "HackTool:Win64/Mikatz!dha", "Severity ID": "4"},
    }
}


def test_usual_records_take_the_typed_path_and_match_the_general_one() -> None:
    for doc in (SECURITY_4624, DEFENDER_1116):
        text = orjson.dumps(doc)
        assert _takes_typed_path(text)
        assert _typed(text) == _general(text)
    fields, ts, flags = decode_record(orjson.dumps(DEFENDER_1116))
    assert (fields["EventID"], fields["Qualifiers"], fields["ProcessID"]) == (1116, 0, 4172)
    assert list(fields)[-4:] == ["Qualifiers", "EventID", "Threat Name", "Severity ID"]
    assert ts == pytest.approx(1607689681.2990045) and flags == ()


def test_unusual_shapes_fall_back_to_the_general_path() -> None:
    clash = copy.deepcopy(SECURITY_4624)
    clash["Event"]["EventData"]["Channel"] = "spoofed"  # kept as EventData.Channel, not over System
    unnamed = copy.deepcopy(SECURITY_4624)
    unnamed["Event"]["EventData"] = {"Data": ["a", "b"]}
    user_data = copy.deepcopy(SECURITY_4624)
    del user_data["Event"]["EventData"]
    user_data["Event"]["UserData"] = {"LogFileCleared": {"SubjectUserName": "x"}}
    extra = copy.deepcopy(SECURITY_4624)
    extra["Event"]["System"]["Extra"] = {"#attributes": {"A": "1"}}
    for doc in (clash, unnamed, user_data, extra):
        text = orjson.dumps(doc)
        assert not (_takes_typed_path(text) and doc is not clash)
        assert _typed(text) == _general(text)
    assert decode_record(orjson.dumps(clash))[0]["EventData.Channel"] == "spoofed"
    for junk in (b"", b"[]", b'{"Event": 3}', b"\xff\xfe", b'{"Event": {"System": {}}'):
        assert _typed(junk) == _general(junk)


_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["12", "-3", " 7", "0x10", "4624"]),
    st.just({"#text": "5"}),
    st.just({"#attributes": {"Qualifiers": "7"}, "#text": "4624"}),
    st.just({"#attributes": {"ProcessID": "7", "xmlns": "u"}}),
    st.just({"#attributes": {"a": 1}, "#text": "t"}),
    st.just({"#attributes": {}}),
    st.just({"#attributes": {"UserID": None}}),
    st.just([1, 2]),
    st.just({}),
)
_SYSTEM_KEYS = st.sampled_from(
    [
        "Provider",
        "EventID",
        "Version",
        "Level",
        "Task",
        "Opcode",
        "Keywords",
        "TimeCreated",
        "EventRecordID",
        "Correlation",
        "Execution",
        "Channel",
        "Computer",
        "Security",
        "Extra",
    ]
)
_ATTRIBUTE_NAMES = st.sampled_from(
    [
        "Name",
        "Guid",
        "EventSourceName",
        "SystemTime",
        "ProcessID",
        "ThreadID",
        "UserID",
        "ActivityID",
        "RelatedActivityID",
        "Other",
        "xmlns",
    ]
)
_EVENT_DATA_KEYS = st.sampled_from(
    ["TargetUserName", "LogonType", "Data", "#attributes", "EventID", "Channel", "New"]
)
_EDIT = st.one_of(
    st.tuples(st.just("system"), _SYSTEM_KEYS, _ODD_VALUES),
    st.tuples(st.just("drop"), _SYSTEM_KEYS, st.none()),
    st.tuples(st.just("attribute"), _SYSTEM_KEYS, st.tuples(_ATTRIBUTE_NAMES, _ODD_VALUES)),
    st.tuples(st.just("data"), _EVENT_DATA_KEYS, _ODD_VALUES),
    st.tuples(st.just("section"), st.sampled_from(["UserData", "EventData", "Other"]), _ODD_VALUES),
)


def _apply(doc: dict[str, Any], edit: tuple[str, str, Any]) -> None:
    kind, key, value = edit
    event = doc["Event"]
    system = event["System"]
    if kind == "system":
        system[key] = copy.deepcopy(value)
    elif kind == "drop":
        system.pop(key, None)
    elif kind == "attribute":
        child = system.get(key)
        if isinstance(child, dict) and isinstance(child.get("#attributes"), dict):
            child["#attributes"][value[0]] = copy.deepcopy(value[1])
    elif kind == "data":
        if isinstance(event.get("EventData"), dict):
            event["EventData"][key] = copy.deepcopy(value)
    else:
        event[key] = copy.deepcopy(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([SECURITY_4624, DEFENDER_1116]), st.lists(_EDIT, min_size=1, max_size=4))
def test_generated_variations_agree_with_the_general_path(
    base: dict[str, Any], edits: list[tuple[str, str, Any]]
) -> None:
    doc = copy.deepcopy(base)
    for edit in edits:
        _apply(doc, edit)
    try:
        text = orjson.dumps(doc)
    except TypeError:  # past 64 bits: orjson cannot write it; the parser would not either
        return
    typed, general = _typed(text, ordered=False), _general(text, ordered=False)
    assert typed == general
    if isinstance(typed, tuple):  # same value types too (1 == 1.0 == True for ==)
        assert [type(v) for v in typed[0].values()] == [type(general[0][k]) for k in typed[0]]


@pytest.mark.corpus
def test_every_corpus_record_agrees_with_the_general_path(shared_data: Path) -> None:
    files = sorted((shared_data / "evtx" / "mitre").rglob("*.evtx"))
    files += sorted((shared_data / "sigma" / "regression_data").rglob("*.evtx"))
    records = typed = 0
    for path in files:
        for record in evtx.PyEvtxParser(str(path), indent=False).records_json():
            text = record["data"].encode()  # type: ignore[index]  # records are never None
            assert _typed(text) == _general(text), f"{path} record {record['event_record_id']}"  # type: ignore[index]
            records += 1
            typed += _takes_typed_path(text)
    assert records > 10_000
    # The point of the typed path is that it is the common one.
    assert typed / records > 0.9
