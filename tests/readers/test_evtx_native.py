"""The C accelerator of the EVTX record decoder on hostile text.

``decode_usual`` may decline any text (None: the Python paths decide), but what it accepts it
must decode exactly as the typed path does: the same fields, values, value types, field order,
timestamp and flags. The text comes from a worker that parses attacker-written files, so it is
also fed damaged, truncated, deeply nested and random input: it must never crash, raise or hang.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelle.readers import evtx_records
from sentinelle.readers.evtx_records import DECODE_ERRORS, decode_record, decode_typed
from sentinelle.readers.timestamps import parse_windows_time
from tests.readers.helpers import require_accelerator
from tests.readers.test_evtx_records import DEFENDER_1116, SECURITY_4624


@pytest.fixture(autouse=True)
def _accelerator() -> None:
    require_accelerator()


def _native(text: bytes | str) -> Any:
    decode = evtx_records._native_decode
    assert decode is not None
    return decode(text)


def _exact(result: Any) -> Any:
    """Fields with their types and order, timestamp and flags (1 == 1.0 == True for ==)."""
    fields, ts, flags = result
    return [(k, type(v), v) for k, v in fields.items()], ts, flags


def _agrees_or_declines(text: bytes) -> bool:
    """True when the accelerator decoded ``text``, as the typed path does; False if it declined."""
    native = _native(text)
    if native is None:
        return False
    try:
        typed = decode_typed(text)
    except DECODE_ERRORS as exc:  # pragma: no cover - reported by the assertion
        pytest.fail(f"accepted a text the typed path refuses ({exc!r}): {text[:200]!r}")
    assert _exact(decode_record(text)) == _exact(typed), text[:300]
    return True


def test_usual_records_are_decoded_here() -> None:
    for doc in (SECURITY_4624, DEFENDER_1116):
        text = orjson.dumps(doc)
        assert _agrees_or_declines(text)
        assert _native(text.decode()) == _native(text)  # str and bytes alike
    fields, ts = _native(orjson.dumps(DEFENDER_1116))
    assert list(fields)[-4:] == ["Qualifiers", "EventID", "Threat Name", "Severity ID"]
    assert ts == parse_windows_time("2020-12-11T12:28:01.2990045Z")


def _with(doc: dict[str, Any], path: list[str], value: Any) -> bytes:
    edited = copy.deepcopy(doc)
    node = edited
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return orjson.dumps(edited)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["Event", "System", "EventID"], 2**63 - 1),
        (["Event", "System", "EventID"], -(2**63)),
        (["Event", "System", "EventID"], "0004624"),
        (["Event", "System", "EventID"], "-12"),
        (["Event", "System", "EventID"], "0x10"),
        (["Event", "System", "Version"], None),
        (["Event", "System", "Keywords"], None),
        (["Event", "System", "Correlation"], {"#attributes": {}}),
        (["Event", "System", "Execution"], None),
        (["Event", "EventData"], None),
        (["Event", "EventData"], {}),
        (["Event", "EventData", "Quote"], 'a "b" \\ \u00e9\u20ac\U0001f600 \x00\n'),
        (["Event", "EventData", "Flag"], True),
        (["Event", "EventData", "Nothing"], None),
        (["Event", "EventData", "Nom\u00e9"], "x"),
        (["Event", "System", "Computer"], "h\u00f4te.chu.local"),
    ],
)
def test_edge_values_are_decoded_as_the_typed_path_does(path: list[str], value: Any) -> None:
    assert _agrees_or_declines(_with(SECURITY_4624, path, value))


@pytest.mark.parametrize(
    "text",
    [
        # past 64 bits, floats, a lone surrogate, duplicates, trailing data, unknown members
        _with(SECURITY_4624, ["Event", "System", "EventID"], 2**63),
        _with(SECURITY_4624, ["Event", "EventData", "Ratio"], 0.5),
        _with(SECURITY_4624, ["Event", "System", "EventID"], " 7"),
        _with(SECURITY_4624, ["Event", "System", "EventID"], "\u0663"),  # an Arabic-Indic digit
        orjson.dumps(SECURITY_4624).replace(b'"admin"', b'"\\ud800"'),
        orjson.dumps(SECURITY_4624).replace(b'"admin"', b'"\\udc00x"'),
        orjson.dumps(SECURITY_4624).replace(b'"Level":0', b'"Level":0,"Level":1'),
        orjson.dumps(SECURITY_4624).replace(b'"LogonType":3', b'"LogonType":3,"LogonType":4'),
        orjson.dumps(SECURITY_4624) + b"x",
        # names that are skipped must still be UTF-8 (found by fuzzing under AddressSanitizer)
        orjson.dumps(SECURITY_4624)[:-2] + b',"Ev\xa6":null}}',
        _with(SECURITY_4624, ["Event", "EventData"], {"Data": {"#text": "a", "Zz": 1}}).replace(
            b'"Zz"', b'"\xa6"'
        ),
        orjson.dumps(SECURITY_4624)[:-1] + b"\x00",  # the last brace replaced
        orjson.dumps(SECURITY_4624)[:-1] + b" ",
        orjson.dumps(SECURITY_4624).replace(b'"Computer"', b'"Computer2"'),
        orjson.dumps(SECURITY_4624).replace(b"admin", b"ad\x01min"),
        orjson.dumps(SECURITY_4624).replace(b"admin", b"ad\xffmin"),
        orjson.dumps(SECURITY_4624).replace(b"admin", b"ad\xed\xa0\x80min"),  # UTF-8 surrogate
        orjson.dumps(SECURITY_4624).replace(b'"LogonType":3', b'"LogonType":03'),
        orjson.dumps(SECURITY_4624).replace(b'"LogonType":3', b'"LogonType":3e0'),
        _with(SECURITY_4624, ["Event", "EventData", "Data"], {"#attributes": {"a": "b"}}),
        _with(SECURITY_4624, ["Event", "EventData", "Data"], [True]),
        _with(SECURITY_4624, ["Event", "EventData", "Data"], {"#text": [["nested"]]}),
        _with(SECURITY_4624, ["Event", "EventData"], {"Data": ["a"], "Data_1": "taken"}),
        _with(SECURITY_4624, ["Event", "EventData"], {"Data_1": "taken", "Data": ["a"]}),
        _with(SECURITY_4624, ["Event", "EventData", "#attributes"], {"Name": "x"}),
        _with(SECURITY_4624, ["Event", "UserData"], {"A": {"B": [1, 2]}}),
        _with(SECURITY_4624, ["Event", "UserData"], {"A": {"B": 1.5}}),
        _with(SECURITY_4624, ["Event", "UserData"], "text"),
        _with(SECURITY_4624, ["Event", "RenderingInfo"], {"Message": "m"}),
        orjson.dumps(SECURITY_4624).replace(b'"LogonType":3', b'"LogonType":3,"LogonType":4'),
        _with(SECURITY_4624, ["Event", "Security"], {"#attributes": {}}),
        _with(SECURITY_4624, ["Event", "System", "Security"], {"#attributes": {}}),
        b"",
        b"{}",
        b"null",
        b'{"Event":',
    ],
)
def test_unusual_text_is_declined(text: bytes) -> None:
    assert _native(text) is None


def _user_data(value: Any) -> bytes:
    doc = copy.deepcopy(SECURITY_4624)
    del doc["Event"]["EventData"]
    doc["Event"]["UserData"] = value
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    "text",
    [
        # names System has too go under EventData.name, as the general path puts them
        _with(SECURITY_4624, ["Event", "EventData", "Channel"], "spoofed"),
        _with(SECURITY_4624, ["Event", "EventData", "SystemTime"], "1999-01-01T00:00:00Z"),
        # unnamed items, alone or with named ones, wrapped in #text or not, nulls dropped
        _with(SECURITY_4624, ["Event", "EventData"], {"Data": ["a", None, 7, "b"]}),
        _with(SECURITY_4624, ["Event", "EventData"], {"Data": "only"}),
        _with(SECURITY_4624, ["Event", "EventData"], {"Data": None}),
        _with(SECURITY_4624, ["Event", "EventData"], {"Data": []}),
        _with(
            SECURITY_4624,
            ["Event", "EventData"],
            {"Data": {"#text": ["x", "y"], "#attributes": {"Name": ""}}, "Binary": "00FF"},
        ),
        _with(SECURITY_4624, ["Event", "EventData"], {"Binary": "00", "Data": {"#text": "one"}}),
        # UserData leaves: element names, a dotted path when a name is taken, #text, nulls
        _user_data(
            {
                "LogFileCleared": {
                    "#attributes": {"xmlns": "http://manifests.microsoft.com/win"},
                    "SubjectUserName": "admmig",
                    "Channel": "taken by System",
                    "Param2": None,
                    "Inner": {"SubjectUserName": "again", "#text": "inner text"},
                    "Count": 3,
                }
            }
        ),
        _user_data({"EventXML": {"Param1": "a"}, "Other": {"Param1": "b"}}),
        _user_data({"A": {"B": {}}, "C": {"#text": None}}),
        _user_data({"Dotted.Name": {"Leaf.Part": "v"}}),
        _user_data(None),
    ],
)
def test_general_shapes_are_decoded_as_the_general_path_does(text: bytes) -> None:
    assert _agrees_or_declines(text)
    assert _exact(decode_record(text)) == _exact(evtx_records.decode_general(text))


def test_deep_nesting_is_declined_without_recursing() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    text = orjson.dumps(SECURITY_4624).replace(b'{"xmlns"', b'{"deep":' + deep + b',"xmlns"')
    assert _native(text) is None
    assert _native(b'{"Event":{"#attributes":' + b"[" * 200_000) is None


def test_non_text_arguments_raise_type_error() -> None:
    decode = evtx_records._native_decode
    assert decode is not None
    with pytest.raises(TypeError):
        decode(12)  # type: ignore[arg-type]
    assert decode(memoryview(orjson.dumps(SECURITY_4624))) is not None  # type: ignore[arg-type]


_BASES = [orjson.dumps(SECURITY_4624), orjson.dumps(DEFENDER_1116)]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_BASES),
    st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=4)), min_size=1, max_size=6),
)
def test_damaged_text_is_decoded_exactly_or_declined(
    base: bytes, edits: list[tuple[int, bytes]]
) -> None:
    text = bytearray(base)
    for position, replacement in edits:
        at = position % (len(text) + 1)
        text[at : at + len(replacement)] = replacement
    _agrees_or_declines(bytes(text))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_BASES), st.integers(min_value=0))
def test_truncated_text_is_declined(base: bytes, cut: int) -> None:
    assert _native(base[: cut % len(base)]) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    _agrees_or_declines(b'{"Event":{"System":' + data)
    _agrees_or_declines(data)


def _stamp_is_python_s(stamp: str) -> None:
    text = _with(SECURITY_4624, ["Event", "System", "TimeCreated"], {"#attributes": {}})
    text = text.replace(b'{"#attributes":{}}', orjson.dumps({"#attributes": {"SystemTime": stamp}}))
    native = _native(text)
    assert native is not None
    fields, ts = native
    assert fields["SystemTime"] == stamp
    if ts is not None:  # computed here: it must be the very float Python computes
        assert ts == parse_windows_time(stamp)
    assert decode_record(text)[1] == parse_windows_time(stamp)


@settings(max_examples=400, deadline=None)
@given(
    st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,20})?Z", fullmatch=True
    )
)
def test_canonical_timestamps_are_the_floats_python_computes(stamp: str) -> None:
    _stamp_is_python_s(stamp)


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"[0-9]{1,5}[-/][0-9]{1,3}[-/][0-9]{1,3}[T ][0-9:.]{1,30}[Zz]?", fullmatch=True)
)
def test_other_timestamps_are_left_to_python(stamp: str) -> None:
    _stamp_is_python_s(stamp)


def test_an_accelerator_built_from_another_source_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module compiled before its source changed (an editable install not rebuilt after a
    pull) would refuse the arguments the Python side now passes, and every EVTX file would
    fail: it is left unused, with a warning, and the Python paths decode."""
    import types

    from sentinelle import readers
    from sentinelle.readers import _evtxjson

    assert _evtxjson.ABI == evtx_records.ACCELERATOR_ABI  # this build is the current one
    stale = types.ModuleType("sentinelle.readers._evtxjson")
    stale.decode_usual = _evtxjson.decode_usual  # type: ignore[attr-defined]
    stale.decode_frame = _evtxjson.decode_frame  # type: ignore[attr-defined]
    monkeypatch.setattr(readers, "_evtxjson", stale)
    with pytest.warns(RuntimeWarning, match="built from another version"):
        assert evtx_records._accelerator() == (None, None)
    stale.ABI = evtx_records.ACCELERATOR_ABI  # type: ignore[attr-defined]
    assert evtx_records._accelerator() == (stale.decode_usual, stale.decode_frame)


# Characters that end the string scanner's runs (quote, backslash, controls), non-ASCII ones,
# and plain ones, so that generated strings put them at every offset of the 16- and 8-byte
# steps, and give the string cache (up to 48 bytes, hashed on its first, middle and last
# words) spellings that share those words.
_STRING_PARTS = st.sampled_from(['"', "\\", "\x01", "\x1f", "\x7f", "é", "€", "a", "Z", "/", ":"])


@given(st.lists(st.text(_STRING_PARTS, max_size=70), min_size=1, max_size=4))
def test_strings_of_every_length_and_spelling_are_decoded_exactly(values: list[str]) -> None:
    """Each value as the typed path reads it, decoded twice (the second time from the string
    cache when it is short and ASCII), and after other values that may share its slot."""
    for value in [*values, *values]:
        text = _with(SECURITY_4624, ["Event", "EventData", "Value"], value)
        native = _native(text)
        assert native is not None, text  # nothing here is outside the usual shape
        assert native[0]["Value"] == value
        assert type(native[0]["Value"]) is str
        assert _agrees_or_declines(text)


def test_the_string_cache_never_answers_with_another_spelling() -> None:
    """Spellings of each length up to the cache's 48 bytes that differ from each other in one
    byte anywhere (the 4,096 slots then hold several of them in turn): each comes back as
    itself, the first time and from the cache."""
    values = []
    for base in ("C:/Windows/System32/svchost.exe -k netsvcs -p -s", "2020-06-23T09:35:56.8" * 3):
        for length in (1, 7, 8, 9, 13, 16, 17, 23, 31, 40, 47, 48):
            stem = base[:length]
            values += [stem[:at] + c + stem[at + 1 :] for at in range(length) for c in "0A~"]
    texts = [_with(SECURITY_4624, ["Event", "EventData", "Value"], v) for v in values]
    for _ in range(2):
        for value, text in zip(values, texts, strict=True):
            assert _native(text)[0]["Value"] == value
