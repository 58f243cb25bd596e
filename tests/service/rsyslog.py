"""A real rsyslog (Debian's ``rsyslogd``) forwarding a file to Sentinelle, for end-to-end tests.

Each :class:`Rsyslog` runs its own ``rsyslogd -n`` with a configuration generated in a temporary
folder (no system service, no root needed): ``imfile`` follows ``source`` and ``omfwd`` forwards
every line over TCP (octet-counted or LF framing) or TLS (the ``gtls`` driver, RFC 5425), with
a disk-assisted queue that retries until the receiver takes the messages. Tests append lines
with :meth:`Rsyslog.write` and stop rsyslog with :meth:`Rsyslog.stop` (SIGTERM: it sends what
its queue holds first, within ``queue.timeoutShutdown``).

With ``relp=True`` it forwards over RELP (``omrelp``) instead: every message is kept until the
receiver answers it, and sent again after a reconnection if it was not. With ``tls`` too, that
RELP session runs over TLS (omrelp's ``tls="on"``: librelp's GnuTLS driver), checking the
receiver's certificate by name.

Reusable by any test that needs a real sender: ``numbered_lines`` makes lines a test can count.
CI installs rsyslog, rsyslog-gnutls and rsyslog-relp (``.ci/run``); without them the tests skip,
saying why.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

RSYSLOGD = shutil.which("rsyslogd") or (
    "/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None
)
GTLS = (
    any(Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so"))
    or Path("/usr/lib/rsyslog/lmnsd_gtls.so").exists()
)
RELP = (
    any(Path("/usr/lib").glob("*/rsyslog/omrelp.so")) or Path("/usr/lib/rsyslog/omrelp.so").exists()
)
needs_relp = pytest.mark.skipif(
    RSYSLOGD is None or not RELP,
    reason="rsyslog's RELP output not installed (Debian: apt-get install -y rsyslog-relp; CI "
    "installs it)",
)
needs_rsyslog = pytest.mark.skipif(
    RSYSLOGD is None,
    reason="rsyslogd not installed (Debian: apt-get install -y rsyslog; CI installs it)",
)
needs_gtls = pytest.mark.skipif(
    RSYSLOGD is None or not GTLS,
    reason="rsyslog's TLS driver not installed (Debian: apt-get install -y rsyslog-gnutls; "
    "CI installs it)",
)


@dataclass(frozen=True)
class TlsClient:
    """What rsyslog needs to send over TLS: the CA that signed the receiver's certificate, the
    name to expect in it, and optionally its own certificate and key (mutual TLS)."""

    ca: Path
    peer_name: str = "localhost"
    cert: Path | None = None
    key: Path | None = None


def numbered_lines(count: int, start: int = 0, tag: str = "seq") -> list[str]:
    """Lines a test can count: ``<tag> <n> ...`` with ``n`` from ``start``."""
    return [
        f"{tag} {n:08d} user=u{n % 97} action=login result=failure"
        for n in range(start, start + count)
    ]


class Rsyslog:
    def __init__(
        self,
        folder: Path,
        target: tuple[str, int],
        *,
        framing: str = "octet-counted",
        tls: TlsClient | None = None,
        relp: bool = False,
    ) -> None:
        assert RSYSLOGD is not None
        assert framing in ("octet-counted", "traditional")
        self.relp = relp
        self.folder = folder
        self.target = target
        self.framing = framing
        self.tls = tls
        self.source = folder / "source.log"
        self.work = folder / "work"
        self.config = folder / "rsyslog.conf"
        self.log = folder / "rsyslogd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _configuration(self) -> str:
        host, port = self.target
        globals_ = [f'workDirectory="{self.work}"', 'maxMessageSize="64k"']
        driver = ""
        if self.tls is not None and not self.relp:
            globals_.append(f'defaultNetstreamDriverCAFile="{self.tls.ca}"')
            if self.tls.cert is not None and self.tls.key is not None:
                globals_.append(f'defaultNetstreamDriverCertFile="{self.tls.cert}"')
                globals_.append(f'defaultNetstreamDriverKeyFile="{self.tls.key}"')
            driver = (
                'StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" '
                f'StreamDriverPermittedPeers="{self.tls.peer_name}"'
            )
        queue = (
            'queue.type="LinkedList" queue.filename="forward" queue.saveOnShutdown="on" '
            'queue.timeoutShutdown="10000" action.resumeRetryCount="-1" action.resumeInterval="1"'
        )
        if self.relp:
            # omrelp keeps every message until its answer; after a reconnection it sends again
            # what was not answered (librelp), so nothing written before a crash is lost.
            output = [
                'module(load="omrelp")',
                f'action(type="omrelp" target="{host}" port="{port}" '
                f'template="RSYSLOG_SyslogProtocol23Format" {self._relp_tls()} {queue})',
            ]
        else:
            output = [
                f'action(type="omfwd" target="{host}" port="{port}" protocol="tcp" '
                f'TCP_Framing="{self.framing}" template="RSYSLOG_SyslogProtocol23Format" {driver} '
                f"{queue})"
            ]
        return "\n".join(
            [
                f"global({' '.join(globals_)})",
                'module(load="imfile" mode="polling" PollingInterval="1")',
                f'input(type="imfile" File="{self.source}" Tag="app:" Facility="local0" '
                'Severity="info" freshStartTail="off")',
                *output,
                "",
            ]
        )

    def _relp_tls(self) -> str:
        """omrelp's own TLS parameters (it does not use the global netstream driver's)."""
        if self.tls is None:
            return ""
        options = [
            'tls="on"',
            f'tls.caCert="{self.tls.ca}"',
            'tls.authMode="name"',
            f'tls.permittedPeer=["{self.tls.peer_name}"]',
        ]
        if self.tls.cert is not None and self.tls.key is not None:
            options += [f'tls.myCert="{self.tls.cert}"', f'tls.myPrivKey="{self.tls.key}"']
        return " ".join(options)

    def start(self) -> Rsyslog:
        assert RSYSLOGD is not None
        self.work.mkdir(parents=True, exist_ok=True)
        self.source.touch()
        self.config.write_text(self._configuration())
        check = subprocess.run(
            [RSYSLOGD, "-N1", "-f", str(self.config)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, f"rsyslog refused its configuration: {check.stderr}"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", str(self.config), "-i", str(self.folder / "rsyslogd.pid")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def write(self, lines: list[str]) -> None:
        """Append lines to the followed file (rsyslog picks them up within a second)."""
        with self.source.open("a", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, and wait: rsyslog sends its queue first. The exit status."""
        process = self._process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
        return process.returncode

    def output(self) -> str:
        """What rsyslogd said (for assertion messages)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Rsyslog:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
