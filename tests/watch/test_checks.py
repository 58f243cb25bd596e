"""Each kind of probe against real servers on loopback, healthy and misbehaving."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sentinelle.hospital.probes import ProbeSpec
from sentinelle.watch import Result, Status
from sentinelle.watch.checks import Prober, documentation_name
from tests.ports import free_port
from tests.watch.probe_specs import probe
from tests.watch.servers import (
    dns_server,
    http_server,
    make_certificate,
    raw_server,
    smtp_server,
)

pytestmark = pytest.mark.network


def check(spec: ProbeSpec) -> Result:
    async def go() -> Result:
        async with Prober() as prober:
            return await prober.check(spec)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def web() -> object:
    with http_server() as port:
        yield port


def test_http_up_with_its_text_and_time(tmp_path: Path, web: int) -> None:
    got = check(probe(tmp_path, http=f"http://127.0.0.1:{web}/ok", expect_text="service OK"))
    assert got.status is Status.UP, got
    assert got.reason.startswith("HTTP 200 in ")
    assert got.elapsed is not None and got.elapsed < 2


def test_http_text_missing_is_down(tmp_path: Path, web: int) -> None:
    got = check(probe(tmp_path, http=f"http://127.0.0.1:{web}/ok", expect_text="Dossier patient"))
    assert got.status is Status.DOWN
    assert "does not contain the expected text" in got.reason


def test_http_text_is_looked_for_in_the_first_mebibyte_only(tmp_path: Path, web: int) -> None:
    got = check(probe(tmp_path, http=f"http://127.0.0.1:{web}/big", expect_text="NEEDLE"))
    assert got.status is Status.DOWN


@pytest.mark.parametrize(
    ("path", "expect", "status", "words"),
    [
        ("/status/503", None, Status.DOWN, "HTTP 503"),
        ("/status/503", [503], Status.UP, "HTTP 503"),
        ("/status/404", None, Status.DOWN, "HTTP 404"),
        ("/redirect", None, Status.UP, "HTTP 200"),
        ("/loop", None, Status.DOWN, "too many redirects"),
        ("/garbage", None, Status.DOWN, ""),
    ],
)
def test_http_status_codes_redirects_and_garbage(
    tmp_path: Path, web: int, path: str, expect: list[int] | None, status: Status, words: str
) -> None:
    fields: dict[str, object] = {"http": f"http://127.0.0.1:{web}{path}"}
    if expect:
        fields["expect_status"] = expect
    got = check(probe(tmp_path, **fields))
    assert got.status is status, got
    assert words in got.reason


def test_http_slow_answer_is_degraded(tmp_path: Path, web: int) -> None:
    got = check(probe(tmp_path, http=f"http://127.0.0.1:{web}/slow", max_response="200ms"))
    assert got.status is Status.DEGRADED
    assert "slower than 0.2s" in got.reason


@pytest.mark.parametrize("kind", ["http", "smtp", "tls"])
def test_a_server_that_hangs_is_down_after_the_timeout(tmp_path: Path, kind: str) -> None:
    with raw_server("hang") as port:
        target = f"http://127.0.0.1:{port}/" if kind == "http" else f"127.0.0.1:{port}"
        started = time.monotonic()
        got = check(
            probe(
                tmp_path,
                **{kind: target, "timeout": "500ms", "verify": False}
                if kind != "smtp"
                else {kind: target, "timeout": "500ms"},
            )
        )
        took = time.monotonic() - started
    assert got.status is Status.DOWN
    assert got.reason == "no answer in 0.5s"
    assert 0.45 <= took < 3


@pytest.mark.parametrize("kind", ["http", "smtp", "tcp"])
def test_a_server_that_resets_is_down_never_a_crash(tmp_path: Path, kind: str) -> None:
    with raw_server("reset") as port:
        target = f"http://127.0.0.1:{port}/" if kind == "http" else f"127.0.0.1:{port}"
        got = check(probe(tmp_path, **{kind: target, "timeout": "2s"}))
    if kind == "tcp":  # accepted then reset: either answer is right, as long as it is one
        assert got.status is Status.UP or got.reason == "connection reset by the server"
    else:
        assert got.status is Status.DOWN
        assert got.reason


@pytest.mark.parametrize("kind", ["http", "tcp", "smtp", "tls"])
def test_a_closed_port_is_refused(tmp_path: Path, kind: str) -> None:
    port = free_port()
    target = f"http://127.0.0.1:{port}/" if kind == "http" else f"127.0.0.1:{port}"
    got = check(probe(tmp_path, **{kind: target}))
    assert got.status is Status.DOWN
    assert got.reason == "connection refused"


def test_https_with_an_expired_certificate(tmp_path: Path) -> None:
    expired = make_certificate(tmp_path, "expired", days=-3, started_days_ago=30)
    with http_server(expired) as port:
        url = f"https://127.0.0.1:{port}/ok"
        trusting = check(probe(tmp_path, http=url, verify=False))
        checking = check(probe(tmp_path, http=url))
    assert trusting.status is Status.UP
    assert checking.status is Status.DOWN
    assert checking.reason.startswith("certificate not trusted: ")


def test_tls_certificate_dates(tmp_path: Path) -> None:
    cases = {"long": (200, Status.UP), "soon": (5, Status.DEGRADED), "expired": (-2, Status.DOWN)}
    for name, (days, wanted) in cases.items():
        cert = make_certificate(tmp_path, name, days=days, started_days_ago=30)
        with http_server(cert) as port:
            got = check(probe(tmp_path, tls=f"127.0.0.1:{port}", min_days=14, verify=False))
        assert got.status is wanted, (name, got)
        day = cert.not_after.strftime("%Y-%m-%d")
        assert day in got.reason
    assert "expired on" in got.reason


def test_tls_trust_follows_the_system_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = make_certificate(tmp_path, "own", days=100)
    with http_server(cert) as port:
        spec = probe(tmp_path, tls=f"localhost:{port}")
        untrusted = check(spec)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert))
        trusted = check(spec)
    assert untrusted.status is Status.DOWN and "not trusted" in untrusted.reason
    assert trusted.status is Status.UP, trusted


def test_smtp_banner_from_aiosmtpd(tmp_path: Path) -> None:
    with smtp_server("relay.hospital.test ESMTP Sentinelle-test") as port:
        good = check(probe(tmp_path, smtp=f"127.0.0.1:{port}", expect_text="ESMTP"))
        wrong = check(probe(tmp_path, smtp=f"127.0.0.1:{port}", expect_text="Postfix"))
    assert good.status is Status.UP, good
    assert good.reason.startswith("220 ") and "relay.hospital.test ESMTP" in good.reason
    assert wrong.status is Status.DOWN and "banner lacks 'Postfix'" in wrong.reason


def test_smtp_on_a_web_server_is_not_a_greeting(tmp_path: Path, web: int) -> None:
    got = check(probe(tmp_path, smtp=f"127.0.0.1:{web}", timeout="500ms"))
    assert got.status is Status.DOWN


def test_dns_from_dnslib(tmp_path: Path) -> None:
    records = {"dpi.hospital.test.internal": "10.1.2.3"}
    with dns_server(records) as port:
        server = f"127.0.0.1:{port}"
        up = check(
            probe(
                tmp_path,
                dns="dpi.hospital.test.internal",
                server=server,
                expect=["10.1.2.3"],
                owner="dns",
                site="cen",
            )
        )
        other = check(
            probe(
                tmp_path,
                dns="dpi.hospital.test.internal",
                server=server,
                expect=["10.9.9.9"],
                owner="dns",
                site="cen",
            )
        )
        missing = check(
            probe(
                tmp_path,
                dns="nothing.hospital.test.internal",
                server=server,
                owner="dns",
                site="cen",
            )
        )
    assert up.status is Status.UP, up
    assert "10.1.2.3" in up.reason
    assert other.status is Status.DOWN and "not 10.9.9.9" in other.reason
    assert missing.status is Status.DOWN and "no such name" in missing.reason


def test_dns_server_too_slow_or_absent(tmp_path: Path) -> None:
    with dns_server({"a.internal": "10.0.0.1"}, delay=1.5) as port:
        slow = check(
            probe(
                tmp_path,
                dns="a.internal",
                server=f"127.0.0.1:{port}",
                timeout="500ms",
                owner="dns",
                site="snz",
            )
        )
    absent = check(
        probe(
            tmp_path,
            dns="a.internal",
            server=f"127.0.0.1:{free_port()}",
            timeout="500ms",
            owner="dns",
            site="snz",
        )
    )
    assert slow.status is Status.DOWN and slow.reason == "no answer in 0.5s"
    assert absent.status is Status.DOWN


def test_icmp_echo_on_loopback_or_a_clear_unavailable(tmp_path: Path) -> None:
    got = check(probe(tmp_path, icmp="127.0.0.1", owner="site:snz"))
    assert got.status in (Status.UP, Status.UNKNOWN), got
    if got.status is Status.UNKNOWN:
        assert got.reason.startswith("ICMP unavailable")
    else:
        assert got.reason.startswith("echo reply in")


def test_documentation_names_are_never_probed(tmp_path: Path) -> None:
    assert documentation_name("dpi.chu-loire.example")
    assert documentation_name("203.0.113.7") and documentation_name("2001:db8::1")
    assert not documentation_name("127.0.0.1") and not documentation_name("localhost")
    got = check(probe(tmp_path, http="https://dpi.chu-loire.example/"))
    assert got.status is Status.UNKNOWN and "documentation name" in got.reason
