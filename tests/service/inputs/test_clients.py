"""Real clients nobody here wrote: Debian's rsyslog forwarding a file over TCP (both framings)
and TLS, and util-linux ``logger`` over UDP and TCP, into the listeners and the journal."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sentinelle.readers.syslog import YearGuess, parse_syslog
from sentinelle.service.inputs import InputsConfig, TlsFiles
from sentinelle.service.journal import Journal
from sentinelle.service.records import Record
from tests.service.certificates import make_pki
from tests.service.harness import running_inputs, wait_records
from tests.service.rsyslog import Rsyslog, TlsClient, needs_gtls, numbered_lines

pytestmark = [pytest.mark.network, pytest.mark.slow]

LOOPBACK = ("127.0.0.1", 0)
LOGGER = shutil.which("logger")


def numbers(records: list[Record]) -> set[int]:
    found: set[int] = set()
    for record in records:
        fields, _, _ = parse_syslog(record.data.decode(), YearGuess())
        found.add(int(fields["message"].split()[1]))
    return found


@pytest.mark.parametrize("framing", ["octet-counted", "traditional"])
def test_rsyslog_forwards_a_file_over_tcp(
    rsyslog: Callable[..., Rsyslog], journal: Journal, journal_dir: Path, framing: str
) -> None:
    with running_inputs(InputsConfig(syslog_tcp=LOOPBACK), journal) as (inputs, _):
        sender = rsyslog(inputs.addresses["syslog-tcp"], framing=framing)
        sender.write(numbered_lines(500))
        records = wait_records(journal_dir, 500, timeout=30)
        assert len(records) == 500, sender.output()
    assert numbers(records) == set(range(500))
    fields, ts, _ = parse_syslog(records[0].data.decode(), YearGuess())
    assert fields["app_name"] == "app" and fields["facility"] == 16 and ts is not None
    assert {r.input for r in records} == {"syslog-tcp"}


@needs_gtls
def test_rsyslog_forwards_a_file_over_tls(
    rsyslog: Callable[..., Rsyslog], journal: Journal, journal_dir: Path, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    files = TlsFiles(pki.server_cert, pki.server_key, client_ca=pki.ca)  # mutual TLS
    with running_inputs(InputsConfig(syslog_tls=LOOPBACK, tls=files), journal) as (inputs, _):
        client = TlsClient(pki.ca, "localhost", pki.client_cert, pki.client_key)
        sender = rsyslog(inputs.addresses["syslog-tls"], tls=client)
        sender.write(numbered_lines(300))
        records = wait_records(journal_dir, 300, timeout=30)
        assert len(records) == 300, sender.output()
    assert numbers(records) == set(range(300))
    assert {r.input for r in records} == {"syslog-tls"}


@pytest.mark.skipif(LOGGER is None, reason="logger (util-linux) not installed")
@pytest.mark.parametrize(
    ("transport", "options"),
    [
        ("syslog-udp", ["--udp"]),
        ("syslog-tcp", ["--tcp"]),
        ("syslog-tcp", ["--tcp", "--octet-count"]),
    ],
    ids=["udp", "tcp-lf", "tcp-octet-count"],
)
def test_logger_sends_over_udp_and_tcp(
    journal: Journal, journal_dir: Path, transport: str, options: list[str]
) -> None:
    assert LOGGER is not None
    config = InputsConfig(syslog_udp=LOOPBACK, syslog_tcp=LOOPBACK)
    with running_inputs(config, journal) as (inputs, _):
        host, port = inputs.addresses[transport]
        for rfc in ("--rfc3164", "--rfc5424"):
            subprocess.run(
                [LOGGER, *options, rfc, "--server", host, "--port", str(port), "-t", "sshd",
                 "-p", "auth.warning", f"Failed password for root from 10.0.0.9 ({rfc})"],
                check=True,
                timeout=10,
            )  # fmt: skip
        records = wait_records(journal_dir, 2)
    assert len(records) == 2 and {r.input for r in records} == {transport}
    for record in records:
        fields, _, _ = parse_syslog(record.data.decode(), YearGuess())
        assert fields["program"] == "sshd" and fields["facility"] == 4 and fields["severity"] == 4
        assert fields["message"].startswith("Failed password for root from 10.0.0.9")
