"""Syslog framing (RFC 6587): fixed cases from real senders, and property tests over any stream.

The properties are the ones a hostile peer attacks: cutting a stream anywhere (TCP segments,
TLS records) never changes the messages; no byte sequence makes the framer raise; it never
holds more than one message's cap, whatever it is fed.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.service.inputs.framing import Frame, Skipped, SyslogFramer, check_message

CAP = 64


def frames(data: bytes, cap: int = CAP, cuts: list[int] | None = None) -> list[Frame]:
    framer = SyslogFramer(cap)
    out: list[Frame] = []
    start = 0
    for cut in sorted(cuts or []):
        out += framer.feed(data[start:cut])
        start = cut
    out += framer.feed(data[start:])
    out += framer.close()
    return out


def octets(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def test_lf_framing_as_logger_sends_it() -> None:
    data = b"<13>Jan  1 00:00:00 host app: one\n<13>Jan  1 00:00:01 host app: two\r\n"
    assert frames(data) == [
        b"<13>Jan  1 00:00:00 host app: one",
        b"<13>Jan  1 00:00:01 host app: two",
    ]


def test_octet_counting_keeps_line_feeds_inside_a_message() -> None:
    multi = b"<13>1 - h a - - - first line\nsecond line"
    data = octets(multi) + octets(b"<13>1 - h a - - - next")
    assert frames(data, cap=1024) == [multi, b"<13>1 - h a - - - next"]


def test_framing_is_decided_per_frame() -> None:
    data = octets(b"<1>counted") + b"\n<2>by line\n" + octets(b"<3>counted again")
    assert frames(data) == [b"<1>counted", b"<2>by line", b"<3>counted again"]


def test_lines_without_pri_are_kept() -> None:
    data = b"2024-05-01T10:00:00Z host sshd[1]: hello\nJan  1 00:00:00 host x\n123\n"
    assert frames(data) == [
        b"2024-05-01T10:00:00Z host sshd[1]: hello",
        b"Jan  1 00:00:00 host x",
        b"123",
    ]


def test_an_oversized_counted_frame_is_skipped_and_the_next_one_kept() -> None:
    data = octets(b"x" * 100) + octets(b"<1>after")
    assert frames(data) == [Skipped("oversized"), b"<1>after"]


def test_an_oversized_line_is_skipped_and_the_next_one_kept() -> None:
    data = b"<1>" + b"y" * 200 + b"\n<1>after\n"
    assert frames(data) == [Skipped("oversized"), b"<1>after"]


def test_a_line_exactly_at_the_cap_is_kept_with_or_without_cr() -> None:
    line = b"<1>" + b"z" * (CAP - 3)
    assert frames(line + b"\r\n" + line + b"\n") == [line, line]
    assert frames(line + b"z\n") == [Skipped("oversized")]


def test_end_of_stream_inside_a_counted_frame_is_truncated_but_a_last_line_is_kept() -> None:
    assert frames(b"50 <1>short") == [Skipped("truncated")]
    assert frames(b"<1>no newline at the end") == [b"<1>no newline at the end"]
    assert frames(b"12345") == [b"12345"]


def test_endless_digits_are_a_line_not_a_count() -> None:
    assert frames(b"1" * 20 + b" rest\n", cap=1024) == [b"1" * 20 + b" rest"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"<13>hello\n", (b"<13>hello", "")),
        (b"<13>hello\x00", (b"<13>hello", "")),
        (b"\n\r\x00", (None, "empty")),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", (None, "binary")),
        (b"<13>caf\xe9", ("<13>caf\ufffd".encode(), "")),
        (b"<13>tab\tand\x1b[31mcolour", (b"<13>tab\tand\x1b[31mcolour", "")),
    ],
)
def test_check_message(raw: bytes, expected: tuple[bytes | None, str]) -> None:
    assert check_message(raw) == expected


# --- properties ---------------------------------------------------------------------------

# Bytes where the framing decisions happen, so that random streams exercise every state.
_interesting = st.sampled_from([b"<", b"1", b"9", b"0", b" ", b"\n", b"\r", b"\x00", b"a"])
streams = st.lists(st.one_of(_interesting, st.binary(max_size=8)), max_size=60).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(data=streams, cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=12))
def test_any_stream_cut_anywhere_gives_the_same_frames(data: bytes, cuts: list[int]) -> None:
    cuts = [c for c in cuts if c <= len(data)]
    assert frames(data, cap=16, cuts=cuts) == frames(data, cap=16)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=4000), chunk=st.integers(min_value=1, max_value=300))
def test_memory_is_bounded_by_the_cap_whatever_the_input(data: bytes, chunk: int) -> None:
    framer = SyslogFramer(32)
    for start in range(0, len(data), chunk):
        for frame in framer.feed(data[start : start + chunk]):
            assert isinstance(frame, Skipped) or len(frame) <= 32
        assert framer.buffered <= 33
    framer.close()
    assert framer.buffered == 0 and not framer.pending


_messages = st.lists(
    st.binary(min_size=1, max_size=40).map(lambda b: b"<13>" + b.replace(b"\n", b"")),
    max_size=20,
)


@settings(max_examples=300, deadline=None)
@given(
    messages=_messages,
    counted=st.lists(st.booleans(), min_size=20, max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_framed_messages_come_back_whole_in_order(
    messages: list[bytes], counted: list[bool], cuts: list[int]
) -> None:
    wire = b"".join(
        octets(m) if flag else m + b"\n" for m, flag in zip(messages, counted, strict=False)
    )
    pairs = zip(messages, counted, strict=False)
    # An LF frame loses one CR before its LF (CRLF senders), no more.
    expected = [m[:-1] if not flag and m.endswith(b"\r") else m for m, flag in pairs]
    assert frames(wire, cap=64, cuts=[c for c in cuts if c <= len(wire)]) == expected
