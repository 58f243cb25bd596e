"""Property and fuzz tests of every text parser, and replay of the committed hostile corpus.

Each parser gets (1) arbitrary input: it must return, never raise; (2) a round trip: records
rendered from generated values must parse back to exactly those values. The corpus under
``corpus/fuzz/`` holds inputs that once were, or could be, trouble; it is replayed through the
parsers and through the whole reader on every run.
"""

from __future__ import annotations

import io
import string
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelle.readers import read_file
from sentinelle.readers.jsonl import flatten_json, iter_json_documents, normalise_document
from sentinelle.readers.lines import iter_lines
from sentinelle.readers.payloads import parse_cef, parse_filterlog, parse_kv
from sentinelle.readers.syslog import YearGuess, parse_syslog
from sentinelle.readers.winevent import flatten_evtx_json, flatten_winlogbeat
from sentinelle.readers.zeek import read_zeek_lines

FUZZ = Path(__file__).parent / "corpus" / "fuzz"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YEARS = YearGuess(1_700_000_000.0)

# Text without line breaks: what one log line can hold.
line_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x85\u2028\u2029"),
    max_size=300,
)
word = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=12)
kv_key = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,11}", fullmatch=True)
safe_value = st.text(
    alphabet=string.ascii_letters + string.digits + " .:/_-@,;[]{}()!#$%&*+?~=", max_size=30
)


def _sd_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


# syslog --------------------------------------------------------------------------------------


@FAST
@given(line_text)
def test_syslog_never_raises(line: str) -> None:
    fields, ts, _ = parse_syslog(line, YEARS)
    assert "message" in fields
    assert ts is None or isinstance(ts, float)


@FAST
@given(
    pri=st.integers(0, 191),
    host=word,
    app=word,
    procid=word,
    msgid=word,
    params=st.dictionaries(word, safe_value, max_size=4),
    message=line_text.filter(lambda m: not m.startswith(("[", " ", "-", "\ufeff"))),
)
def test_rfc5424_round_trip(
    pri: int, host: str, app: str, procid: str, msgid: str, params: dict[str, str], message: str
) -> None:
    escaped = " ".join(f'{k}="{_sd_escape(v)}"' for k, v in params.items())
    sd = f"[meta {escaped}]" if params else "-"
    line = f"<{pri}>1 2024-03-03T12:00:00Z {host} {app} {procid} {msgid} {sd} {message}"
    fields, ts, _ = parse_syslog(line, YEARS)
    assert (fields["facility"], fields["severity"]) == (pri >> 3, pri & 7)
    assert (fields["host"], fields["app_name"], fields["pid"], fields["msgid"]) == (
        host,
        app,
        procid,
        msgid,
    )
    assert {k[len("sd.meta.") :]: v for k, v in fields.items() if k.startswith("sd.")} == params
    assert fields["message"] == message
    assert ts == 1709467200.0


# key=value, CEF, filterlog -------------------------------------------------------------------


@FAST
@given(line_text)
def test_payload_parsers_never_raise(text: str) -> None:
    for parser in (parse_kv, parse_cef, parse_filterlog):
        result = parser(text)
        assert result is None or isinstance(result, dict)


@FAST
@given(st.dictionaries(kv_key, safe_value, min_size=3, max_size=8))
def test_kv_round_trip(pairs: dict[str, str]) -> None:
    text = " ".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs.items()
    )
    fields = parse_kv(text)
    assert fields is not None
    assert {k: fields.get(k) for k in pairs if not k.endswith("_vendor")} == {
        k: (v if fields.get(f"{k}_vendor") is None else fields[k]) for k, v in pairs.items()
    }


cef_header = st.text(alphabet=string.printable.replace("\r", "").replace("\n", ""), max_size=20)
cef_value = st.text(alphabet=string.ascii_letters + string.digits + " .:/_-=\\|", max_size=30).map(
    str.strip
)


@FAST
@given(
    header=st.lists(cef_header, min_size=6, max_size=6),
    extension=st.dictionaries(
        st.from_regex(r"[a-z][A-Za-z0-9]{0,8}", fullmatch=True).filter(
            lambda k: not k.endswith("Label")
        ),
        cef_value.filter(lambda v: v != "" and "  " not in v),
        max_size=5,
    ),
)
def test_cef_round_trip(header: list[str], extension: dict[str, str]) -> None:
    def esc_header(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|")

    def esc_value(text: str) -> str:
        return text.replace("\\", "\\\\").replace("=", "\\=")

    line = "CEF:0|" + "|".join(esc_header(h) for h in header) + "|"
    line += " ".join(f"{k}={esc_value(v)}" for k, v in extension.items())
    fields = parse_cef(line)
    assert fields is not None
    names = ("device_vendor", "device_product", "device_version", "signature_id", "name")
    assert [fields[n] for n in (*names, "cef_severity")] == header
    for key, value in extension.items():
        assert fields.get(f"{key}_vendor", fields[key]) == value


# Zeek ----------------------------------------------------------------------------------------


def _zeek(text: str) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    stream = io.BytesIO(text.encode("utf-8", "surrogatepass"))
    return [(line.number, f, p) for line, f, p in read_zeek_lines(iter_lines(stream))]


@FAST
@given(st.lists(line_text, max_size=12))
def test_zeek_never_raises(lines: list[str]) -> None:
    body = "#separator \\x09\n#fields\tts\ta\n#types\ttime\tcount\n" + "\n".join(lines)
    for _, fields, problem in _zeek(body):
        # a record is kept (values of the wrong type as text, with a note) or reported
        assert fields is not None or problem is not None


@FAST
@given(
    st.lists(
        st.tuples(
            st.floats(0, 2e9, allow_nan=False),
            st.integers(0, 65535),
            st.lists(word, max_size=3),
            st.booleans(),
            word,
        ),
        max_size=10,
    )
)
def test_zeek_round_trip(rows: list[tuple[float, int, list[str], bool, str]]) -> None:
    body = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#fields\tts\tid.orig_p\tnames\tok\tproto\n#types\ttime\tport\tset[string]\tbool\tenum\n"
    )
    for ts, port, names, ok, proto in rows:
        body += f"{ts!r}\t{port}\t{','.join(names) or '(empty)'}\t{'T' if ok else 'F'}\t{proto}\n"
    parsed = _zeek(body)
    assert [p for _, _, p in parsed] == [None] * len(rows)
    assert [f for _, f, _ in parsed] == [
        {"ts": ts, "id.orig_p": port, "names": names, "ok": ok, "proto": proto}
        for ts, port, names, ok, proto in rows
    ]


# JSON ----------------------------------------------------------------------------------------

json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10)
json_value = st.recursive(
    json_scalar,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(alphabet=string.ascii_letters, min_size=1, max_size=5), children, max_size=3
        )
    ),
    max_leaves=12,
)
json_object = st.dictionaries(
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=5), json_value, max_size=5
)


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_leaves(child, f"{path}.{key}" if path else key))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = {}
        for index, child in enumerate(value):
            out.update(_leaves(child, f"{path}.{index}" if path else str(index)))
        return out
    return {path: value}


@FAST
@given(json_object)
def test_flatten_json_keeps_every_leaf_under_its_dotted_path(doc: dict[str, Any]) -> None:
    flat = flatten_json(doc)
    for path, value in _leaves(doc).items():
        if value == {} or value == []:
            continue  # an empty container has no leaf to keep
        assert flat[path] == value


@FAST
@given(st.lists(json_object, max_size=5), st.sampled_from(["lines", "pretty", "array"]))
def test_json_documents_come_back_in_any_layout(docs: list[dict[str, Any]], layout: str) -> None:
    if layout == "lines":
        text = b"".join(orjson.dumps(d) + b"\n" for d in docs)
    elif layout == "pretty":
        text = b"\n".join(orjson.dumps(d, option=orjson.OPT_INDENT_2) for d in docs)
    else:
        text = orjson.dumps(docs, option=orjson.OPT_INDENT_2)
    got = [doc for _, doc, _, problem, _ in iter_json_documents(io.BytesIO(text)) if not problem]
    assert got == docs


@FAST
@given(st.binary(max_size=400))
def test_json_reader_never_raises_on_bytes(data: bytes) -> None:
    for _, doc, _, problem, _ in iter_json_documents(io.BytesIO(data)):
        assert (doc is None) or problem is None
        if isinstance(doc, dict):
            normalise_document(doc)


@FAST
@given(json_object)
def test_windows_flatteners_accept_any_shape(doc: dict[str, Any]) -> None:
    flatten_evtx_json({"Event": {"System": doc, "EventData": doc, "UserData": doc}})
    flatten_winlogbeat({"winlog": doc, **doc})


# Committed corpus ----------------------------------------------------------------------------


def _lines(name: str) -> list[str]:
    return (FUZZ / name).read_text(encoding="utf-8", errors="replace").splitlines()


@pytest.mark.parametrize("line", _lines("syslog.txt"))
def test_corpus_syslog(line: str) -> None:
    fields, _, _ = parse_syslog(line, YEARS)
    assert isinstance(fields["message"], str)


@pytest.mark.parametrize("line", _lines("cef.txt") + _lines("kv.txt"))
def test_corpus_payloads(line: str) -> None:
    for parser in (parse_cef, parse_kv, parse_filterlog):
        parser(line)


@pytest.mark.parametrize("name", sorted(p.name for p in FUZZ.iterdir()))
def test_corpus_files_through_the_reader(name: str) -> None:
    events = issues = 0
    for batch in read_file(FUZZ / name):
        events += len(batch.events)
        issues += len(batch.issues)
        for event in batch.events:
            orjson.dumps(event.to_dict(), default=str)  # every event can be written out
    assert events + issues > 0
