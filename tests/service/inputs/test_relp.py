"""Syslog over RELP: rsyslog's omrelp into the listener, every message answered only once it is
in the journal; the framer cut anywhere gives the same frames; hostile streams end the session."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinelle.service.inputs import InputsConfig, TlsFiles
from sentinelle.service.inputs.relp import RelpError, RelpFrame, RelpFramer, response
from sentinelle.service.journal import Journal
from tests.service.certificates import make_pki
from tests.service.harness import GatedSink, Metrics, running_inputs, wait_records
from tests.service.inputs.test_clients import numbers
from tests.service.rsyslog import Rsyslog, TlsClient, needs_relp, numbered_lines

LOOPBACK = ("127.0.0.1", 0)
OFFERS = b"relp_version=0\nrelp_software=librelp,1.11.0,https://www.rsyslog.com\ncommands=syslog"


def frame(txnr: int, command: str, data: bytes = b"") -> bytes:
    return b"%d %s %d%s\n" % (txnr, command.encode(), len(data), b" " + data if data else b"")


OPEN = frame(1, "open", OFFERS)


def test_frames_are_read_whole_and_in_order() -> None:
    stream = OPEN + frame(2, "syslog", b"<13>one\nline") + frame(3, "close")
    frames = RelpFramer(1024).feed(stream)
    assert frames == [
        RelpFrame(1, "open", OFFERS),
        RelpFrame(2, "syslog", b"<13>one\nline"),
        RelpFrame(3, "close", b""),
    ]


@given(st.lists(st.binary(max_size=200), max_size=8), st.data())
def test_any_cut_of_the_stream_gives_the_same_frames(
    messages: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(frame(n + 1, "syslog", m) for n, m in enumerate(messages))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    framer = RelpFramer(256)
    got: list[RelpFrame | RelpError] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += framer.feed(stream[start:end])
    assert got == [RelpFrame(n + 1, "syslog", m) for n, m in enumerate(messages)]
    assert not framer.pending


@given(st.binary(max_size=300))
def test_hostile_bytes_end_in_frames_or_one_error_never_a_crash(garbage: bytes) -> None:
    framer = RelpFramer(64)
    out = framer.feed(garbage) + framer.close()
    errors = [f for f in out if isinstance(f, RelpError)]
    assert len(errors) <= 1
    assert all(len(f.data) <= 4096 for f in out if isinstance(f, RelpFrame))


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (b"1 syslog 99999999999 x\n", "bad data length"),
        (b"1234567890 syslog 1 x\n", "bad transaction number"),
        (b"1 sys-log 1 x\n", "bad command"),
        (b"1 syslog 70000 " + b"x" * 10, "over the cap"),
        (b"1 syslog 2 abc\n", "without its LF trailer"),
        (b"1 open 5000 x", "over the cap"),
    ],
)
def test_malformed_headers_are_errors_with_a_reason(stream: bytes, reason: str) -> None:
    (error,) = RelpFramer(65536).feed(stream)
    assert isinstance(error, RelpError) and reason in error.reason


def read_answers(sock: socket.socket, count: int, timeout: float) -> list[bytes]:
    """``count`` RELP frames from the server (or what came before ``timeout``)."""
    sock.settimeout(0.1)
    framer = RelpFramer(65536)
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            break
        got += [b"%d %s %s" % (f.txnr, f.command.encode(), f.data) for f in framer.feed(data)]  # type: ignore[union-attr]
    return got


def test_a_message_is_answered_only_once_it_is_durable(
    journal: Journal, journal_dir: Path, gate: GatedSink
) -> None:
    counters = Metrics()
    with running_inputs(InputsConfig(syslog_relp=LOOPBACK), gate) as (inputs, _):
        with socket.create_connection(inputs.addresses["syslog-relp"]) as sock:
            sock.sendall(OPEN)
            (opened,) = read_answers(sock, 1, 5)
            assert opened.startswith(b"1 rsp 200 OK\nrelp_version=0")
            assert b"commands=syslog" in opened
            gate.hold()  # the disk is slow: nothing is durable yet
            sock.sendall(frame(2, "syslog", b"<13>first") + frame(3, "syslog", b"<13>second"))
            assert read_answers(sock, 1, 1.0) == []
            assert gate.held() == 2
            gate.release()
            assert read_answers(sock, 2, 5) == [b"2 rsp 200 OK", b"3 rsp 200 OK"]
            assert [r.data for r in wait_records(journal_dir, 2)] == [b"<13>first", b"<13>second"]
            # A binary message is skipped, counted and answered (sending it again is useless).
            sock.sendall(frame(4, "syslog", b"\x00\x01\x02") + frame(5, "close"))
            assert read_answers(sock, 2, 5) == [b"4 rsp 200 OK", b"5 rsp "]
            assert sock.recv(10) == b""  # closed after the close was answered
        with socket.create_connection(inputs.addresses["syslog-relp"]) as sock:
            sock.sendall(OPEN + b"2 syslog x\n")
            assert read_answers(sock, 1, 5) == [b"0 serverclose "]
    assert counters.delta("malformed", input="syslog-relp", reason="binary") == 1
    assert counters.delta("malformed", input="syslog-relp", reason="bad-relp") == 1
    assert counters.delta("events", input="syslog-relp") == 2


def test_response_frames_count_their_bytes() -> None:
    assert response(7, 200, "OK") == b"7 rsp 6 200 OK\n"
    answer = response(1, 200, "OK", b"commands=syslog")
    assert RelpFramer(100).feed(answer) == [RelpFrame(1, "rsp", b"200 OK\ncommands=syslog")]


@needs_relp
@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("transport", ["plain", "tls", "mutual-tls"])
def test_rsyslog_forwards_a_file_over_relp(
    rsyslog: Callable[..., Rsyslog],
    journal: Journal,
    journal_dir: Path,
    tmp_path: Path,
    transport: str,
) -> None:
    """Over RELP, and over RELP over TLS (with or without client certificates required)."""
    counters = Metrics()
    client: TlsClient | None = None
    if transport == "plain":
        name, config = "syslog-relp", InputsConfig(syslog_relp=LOOPBACK)
    else:
        pki = make_pki(tmp_path / "pki")
        client_ca = pki.ca if transport == "mutual-tls" else None
        files = TlsFiles(pki.server_cert, pki.server_key, client_ca=client_ca)
        name, config = "syslog-relp-tls", InputsConfig(syslog_relp_tls=LOOPBACK, tls=files)
        # omrelp always shows its own certificate: without one, librelp offers only anonymous
        # key exchange, which no certificate-checking server shares (docs/SERVICE.md).
        client = TlsClient(pki.ca, "localhost", pki.client_cert, pki.client_key)
    with running_inputs(config, journal) as (inputs, _):
        address = inputs.addresses[name]
        if client is not None:
            # A plain RELP client on the TLS port is refused (its "open" is no TLS hello).
            with socket.create_connection(address) as plain:
                plain.sendall(OPEN)
                assert read_answers(plain, 1, 5) == []
        sender = rsyslog(address, relp=True, tls=client)
        sender.write(numbered_lines(500))
        records = wait_records(journal_dir, 500, timeout=30)
        assert len(records) == 500, sender.output()
        assert sender.stop() == 0
    assert numbers(records) == set(range(500))
    assert {r.input for r in records} == {name}
    assert counters.delta("events", input=name) == 500
    failed = counters.delta("connections", input=name, outcome="tls-failed")
    assert failed == (0 if client is None else 1)


# --- RELP over TLS --------------------------------------------------------------------------


class RelpTlsClient:
    """A RELP sender over TLS whose first frame leaves in the same segment as its side of the
    handshake's end (TLS 1.3: its Finished), as librelp's often does: the server then reads
    both at once, before its TLS transport is handed over."""

    def __init__(self, address: tuple[str, int], ca: Path, first: bytes) -> None:
        self.sock = socket.create_connection(address, timeout=5)
        context = ssl.create_default_context(cafile=str(ca))
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                self.incoming.write(self.sock.recv(65536))
        self.tls.write(first)
        self.sock.sendall(self.outgoing.read())  # Finished and the first frame together

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self.sock.sendall(self.outgoing.read())

    def answers(self, count: int, timeout: float = 5.0) -> list[bytes]:
        framer = RelpFramer(65536)
        got: list[bytes] = []
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.1)
        while len(got) < count and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            self.incoming.write(data)
            with contextlib.suppress(ssl.SSLWantReadError):
                while plain := self.tls.read(65536):
                    got += [
                        b"%d %s %s" % (f.txnr, f.command.encode(), f.data)  # type: ignore[union-attr]
                        for f in framer.feed(plain)
                    ]
        return got


def test_relp_over_tls_answers_inside_tls_and_refuses_plain_relp(
    journal: Journal, journal_dir: Path, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    counters = Metrics()
    config = InputsConfig(syslog_relp_tls=LOOPBACK, tls=TlsFiles(pki.server_cert, pki.server_key))
    with running_inputs(config, journal) as (inputs, _):
        address = inputs.addresses["syslog-relp-tls"]
        with socket.create_connection(address) as plain:
            plain.sendall(OPEN)
            assert read_answers(plain, 1, 5) == []  # no TLS hello: closed, never answered
        with contextlib.closing(RelpTlsClient(address, pki.ca, OPEN)) as client:
            (opened,) = client.answers(1)
            assert opened.startswith(b"1 rsp 200 OK\nrelp_version=0")
            client.send(frame(2, "syslog", b"<13>first") + frame(3, "syslog", b"<13>second"))
            assert client.answers(2) == [b"2 rsp 200 OK", b"3 rsp 200 OK"]
            client.send(frame(4, "close"))
            assert client.answers(1) == [b"4 rsp "]
        records = wait_records(journal_dir, 2)
    assert [r.data for r in records] == [b"<13>first", b"<13>second"]
    assert {(r.input, r.sender) for r in records} == {("syslog-relp-tls", "127.0.0.1")}
    assert counters.delta("connections", input="syslog-relp-tls", outcome="tls-failed") == 1
    assert counters.delta("events", input="syslog-relp-tls") == 2
