"""Syslog over UDP, TCP and TLS into a real journal: what arrives, what is refused, what a
hostile or slow peer costs, and that backpressure reaches the sender instead of losing events.

The peers here are raw sockets (to send exactly the bytes a test needs); ``test_clients.py``
does the same with ``logger`` and rsyslog.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sentinelle.service.inputs import InputLimits, InputsConfig, TlsFiles
from sentinelle.service.journal import Journal
from sentinelle.service.records import RecordKind
from tests.service.certificates import make_pki
from tests.service.harness import GatedSink, Metrics, running_inputs, wait_records

pytestmark = pytest.mark.network

LOOPBACK = ("127.0.0.1", 0)


def lines(count: int, prefix: str = "event") -> list[bytes]:
    return [f"<13>Jan  1 00:00:00 host app: {prefix} {n}".encode() for n in range(count)]


def octets(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=5)


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True once the server closed the connection (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_tcp_lf_and_octet_counted_frames_reach_the_journal(
    journal: Journal, journal_dir: Path
) -> None:
    counted = b"<13>1 2024-05-01T10:00:00Z host app - - - first line\nsecond line"
    config = InputsConfig(syslog_tcp=LOOPBACK)
    with running_inputs(config, journal) as (inputs, _):
        with connect(inputs.addresses["syslog-tcp"]) as sock:
            sock.sendall(b"".join(m + b"\n" for m in lines(3)) + octets(counted))
        records = wait_records(journal_dir, 4)
    assert [r.data for r in records] == [*lines(3), counted]
    assert {(r.input, r.sender, r.kind) for r in records} == {
        ("syslog-tcp", "127.0.0.1", RecordKind.SYSLOG)
    }
    assert all(r.key == "" for r in records)  # the content decides the id


def test_udp_datagrams_reach_the_journal(journal: Journal, journal_dir: Path) -> None:
    with running_inputs(InputsConfig(syslog_udp=LOOPBACK), journal) as (inputs, _):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for message in lines(20):
                sock.sendto(message + b"\n", inputs.addresses["syslog-udp"])
        records = wait_records(journal_dir, 20)
    assert sorted(r.data for r in records) == sorted(lines(20))
    assert {(r.input, r.sender) for r in records} == {("syslog-udp", "127.0.0.1")}


def test_bad_frames_are_counted_and_skipped_and_the_good_ones_kept(
    journal: Journal, journal_dir: Path
) -> None:
    limits = InputLimits(max_message_bytes=200)
    metrics = Metrics()
    garbage = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"  # a TLS hello on the plain port
    with running_inputs(InputsConfig(syslog_tcp=LOOPBACK, limits=limits), journal) as (inputs, _):
        address = inputs.addresses["syslog-tcp"]
        with connect(address) as sock:
            sock.sendall(garbage + b"\n" + b"<13>" + b"y" * 500 + b"\n" + b"<13>good one\n")
            sock.sendall(octets(b"x" * 300) + octets(b"<13>good two"))
            sock.sendall(b"80 <13>cut short")  # the stream ends inside this frame
        records = wait_records(journal_dir, 2)
        time.sleep(0.2)
    assert [r.data for r in records] == [b"<13>good one", b"<13>good two"]
    assert metrics.delta("malformed", input="syslog-tcp", reason="binary") == 1
    assert metrics.delta("malformed", input="syslog-tcp", reason="truncated") == 1
    assert metrics.delta("oversized", input="syslog-tcp", what="message") == 2
    assert metrics.delta("events", input="syslog-tcp") == 2


def test_a_slow_journal_stops_the_reading_and_loses_nothing(
    gate: GatedSink, journal_dir: Path
) -> None:
    """While the journal does not make records durable, the connection is not read: the
    sender's socket fills and blocks. Once it catches up, every message is there."""
    limits = InputLimits(batch_records=50, max_inflight_batches=2)
    message = b"<13>Jan  1 00:00:00 host app: " + b"p" * 200
    payload = b"".join(octets(message + str(n).encode()) for n in range(20_000))
    gate.hold()
    with running_inputs(InputsConfig(syslog_tcp=LOOPBACK, limits=limits), gate) as (inputs, _):
        with connect(inputs.addresses["syslog-tcp"]) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            sock.settimeout(1.0)
            sent = 0
            with pytest.raises(TimeoutError):
                while sent < len(payload):
                    sent += sock.send(payload[sent : sent + 65536])
            assert sent < len(payload)  # the sender is blocked ...
            # ... and the service holds no more than its in-flight submissions and one read.
            assert gate.held() <= 2 * 50 + 65536 // len(message)
            gate.release()
            sock.settimeout(10)
            sock.sendall(payload[sent:])
        records = wait_records(journal_dir, 20_000, timeout=30)
    assert len(records) == 20_000
    assert {r.data for r in records} == {message + str(n).encode() for n in range(20_000)}


def test_refused_batches_are_submitted_again_over_tcp_and_dropped_and_counted_over_udp(
    gate: GatedSink, journal_dir: Path
) -> None:
    metrics = Metrics()
    config = InputsConfig(syslog_tcp=LOOPBACK, syslog_udp=LOOPBACK)
    with running_inputs(config, gate) as (inputs, _):
        gate.refuse_next, gate.fail_next = 3, 2
        with connect(inputs.addresses["syslog-tcp"]) as sock:
            for message in lines(5, "tcp"):
                sock.sendall(message + b"\n")
                time.sleep(0.02)  # one batch each
        tcp = wait_records(journal_dir, 5, input_name="syslog-tcp")
        assert sorted(r.data for r in tcp) == sorted(lines(5, "tcp"))
        assert metrics.delta("refused", input="syslog-tcp", reason="refused") == 5

        gate.refuse_next = 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"<13>lost", inputs.addresses["syslog-udp"])
            time.sleep(0.3)
            sock.sendto(b"<13>kept", inputs.addresses["syslog-udp"])
        udp = wait_records(journal_dir, 1, input_name="syslog-udp")
        time.sleep(0.2)
    assert [r.data for r in wait_records(journal_dir, 1, input_name="syslog-udp")] == [b"<13>kept"]
    assert len(udp) == 1
    assert metrics.delta("dropped", input="syslog-udp", reason="refused") == 1


def test_connections_over_the_per_source_cap_are_closed_at_once(
    journal: Journal, journal_dir: Path
) -> None:
    metrics = Metrics()
    limits = InputLimits(max_connections_per_source=2)
    with running_inputs(InputsConfig(syslog_tcp=LOOPBACK, limits=limits), journal) as (inputs, _):
        address = inputs.addresses["syslog-tcp"]
        first, second = connect(address), connect(address)
        third = connect(address)
        assert closed_by_peer(third, 2.0)
        second.close()
        time.sleep(0.2)
        fourth = connect(address)  # a slot was given back
        fourth.sendall(b"<13>through the fourth\n")
        assert wait_records(journal_dir, 1)[0].data == b"<13>through the fourth"
        for sock in (first, third, fourth):
            sock.close()
    assert metrics.delta("connections", input="syslog-tcp", outcome="over-source") == 1


def test_a_slow_sender_is_cut_off_and_an_idle_one_closed(
    journal: Journal, journal_dir: Path
) -> None:
    metrics = Metrics()
    limits = InputLimits(frame_timeout=0.4, idle_timeout=0.8)
    with running_inputs(InputsConfig(syslog_tcp=LOOPBACK, limits=limits), journal) as (inputs, _):
        address = inputs.addresses["syslog-tcp"]
        with connect(address) as slow, connect(address) as idle:
            slow.sendall(b"<13>complete\n<13>this frame never ends")
            started = time.monotonic()
            assert closed_by_peer(slow, 3.0)
            assert 0.4 <= time.monotonic() - started < 2.0
            assert closed_by_peer(idle, 3.0)
        records = wait_records(journal_dir, 1)
        time.sleep(0.2)
    assert [r.data for r in records] == [b"<13>complete"]
    delta = metrics.delta
    assert delta("connections", input="syslog-tcp", outcome="slow-sender") == 1
    assert delta("connections", input="syslog-tcp", outcome="idle-timeout") == 1
    assert delta("malformed", input="syslog-tcp", reason="truncated") == 1


def test_udp_over_the_source_rate_is_dropped_and_counted(
    journal: Journal, journal_dir: Path
) -> None:
    metrics = Metrics()
    limits = InputLimits(source_rate=1.0, source_burst=5)
    with running_inputs(InputsConfig(syslog_udp=LOOPBACK, limits=limits), journal) as (inputs, _):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for message in lines(40):
                sock.sendto(message, inputs.addresses["syslog-udp"])
        records = wait_records(journal_dir, 5)
        time.sleep(0.3)
    assert 5 <= len(records) <= 6  # the burst, and at most one token earned meanwhile
    dropped = metrics.delta("dropped", input="syslog-udp", reason="rate-limited")
    assert dropped == 40 - len(records)


def test_tcp_over_the_source_rate_is_slowed_not_dropped(
    journal: Journal, journal_dir: Path
) -> None:
    """What was read is kept; the connection is then not read until the debt is paid."""
    metrics = Metrics()
    limits = InputLimits(source_rate=2000.0, source_burst=100)
    config = InputsConfig(syslog_tcp=LOOPBACK, limits=limits)
    with (
        running_inputs(config, journal) as (inputs, _),
        connect(inputs.addresses["syslog-tcp"]) as sock,
    ):
        sock.sendall(b"".join(m + b"\n" for m in lines(1000)))
        assert len(wait_records(journal_dir, 1000)) == 1000
        sent = time.monotonic()
        sock.sendall(b"<13>after the burst\n")
        assert len(wait_records(journal_dir, 1001)) == 1001
        waited = time.monotonic() - sent
    assert 0.2 <= waited < 2.0  # 900 messages over the burst at 2,000/s: 0.45 s of debt
    assert metrics.delta("rate_limited", input="syslog-tcp") == 900


def test_stop_makes_what_was_read_durable(gate: GatedSink, journal_dir: Path) -> None:
    config = InputsConfig(syslog_tcp=LOOPBACK)
    with running_inputs(config, gate) as (inputs, service):
        gate.hold()
        with connect(inputs.addresses["syslog-tcp"]) as sock:
            sock.sendall(b"".join(m + b"\n" for m in lines(300)))
            deadline = time.monotonic() + 5
            while gate.held() < 300 and time.monotonic() < deadline:
                time.sleep(0.02)
        service.loop.call_later(0.3, gate.release)
        service.run(inputs.stop(timeout=5.0))
        assert len(wait_records(journal_dir, 300, timeout=1)) == 300


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> TlsFiles:
    made = make_pki(tmp_path / "pki")
    return TlsFiles(made.server_cert, made.server_key)


def tls_client(address: tuple[str, int], ca: Path) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(ca))
    return context.wrap_socket(connect(address), server_hostname="localhost")


def test_tls_octet_counted_frames_reach_the_journal(
    journal: Journal, journal_dir: Path, pki: TlsFiles
) -> None:
    config = InputsConfig(syslog_tls=LOOPBACK, tls=pki)
    with running_inputs(config, journal) as (inputs, _):
        with tls_client(inputs.addresses["syslog-tls"], pki.cert.parent / "ca.pem") as sock:
            sock.sendall(b"".join(octets(m) for m in lines(50)))
        records = wait_records(journal_dir, 50)
    assert [r.data for r in records] == lines(50)
    assert {(r.input, r.sender) for r in records} == {("syslog-tls", "127.0.0.1")}


def test_tls_handshake_failures_and_stalls_are_counted_and_closed(
    journal: Journal, pki: TlsFiles
) -> None:
    metrics = Metrics()
    limits = InputLimits(tls_handshake_timeout=0.5)
    config = InputsConfig(syslog_tls=LOOPBACK, tls=pki, limits=limits)
    with running_inputs(config, journal) as (inputs, _):
        address = inputs.addresses["syslog-tls"]
        with connect(address) as plain:
            plain.sendall(b"<13>plain text on the TLS port\n")
            assert closed_by_peer(plain, 3.0)
        with connect(address) as silent:
            assert closed_by_peer(silent, 3.0)
        # The listener still serves a real client afterwards.
        with tls_client(address, pki.cert.parent / "ca.pem") as sock:
            sock.sendall(octets(b"<13>after the failures"))
    assert metrics.delta("connections", input="syslog-tls", outcome="tls-failed") == 2


def test_mutual_tls_refuses_a_client_without_a_certificate(
    journal: Journal, journal_dir: Path, tmp_path: Path
) -> None:
    made = make_pki(tmp_path / "mtls")
    files = TlsFiles(made.server_cert, made.server_key, client_ca=made.ca)
    with running_inputs(InputsConfig(syslog_tls=LOOPBACK, tls=files), journal) as (inputs, _):
        address = inputs.addresses["syslog-tls"]
        anonymous = ssl.create_default_context(cafile=str(made.ca))
        with anonymous.wrap_socket(connect(address), server_hostname="localhost") as sock:
            # TLS 1.3: the refusal comes after the client's side of the handshake, on first use.
            try:
                sock.sendall(octets(b"<13>no certificate"))
                answer = sock.recv(1)
            except (ssl.SSLError, ConnectionError):
                answer = b""
            assert answer == b""
        known = ssl.create_default_context(cafile=str(made.ca))
        known.load_cert_chain(made.client_cert, made.client_key)
        with known.wrap_socket(connect(address), server_hostname="localhost") as sock:
            sock.sendall(octets(b"<13>with a certificate"))
        records = wait_records(journal_dir, 1)
    assert [r.data for r in records] == [b"<13>with a certificate"]


def test_limits_are_checked() -> None:
    from sentinelle.errors import ConfigError

    with pytest.raises(ConfigError, match="max_connections"):
        InputLimits(max_connections=0)
    with pytest.raises(ConfigError, match="frame_timeout"):
        replace(InputLimits(), frame_timeout=0.0)
    with pytest.raises(ConfigError, match="certificate"):
        InputsConfig(syslog_tls=LOOPBACK)
