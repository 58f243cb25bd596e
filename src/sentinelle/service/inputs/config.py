"""Which inputs listen where: the part of ``sentinelle serve``'s configuration the inputs read.

The service's configuration (its file, its command line) builds one :class:`InputsConfig`;
each listener is an address or ``None`` (off). Addresses are written ``HOST:PORT`` or
``[V6]:PORT``, and ``off`` disables a listener, as on ``serve``'s command line.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from sentinelle.errors import ConfigError, Location
from sentinelle.service.inputs.limits import InputLimits

Listen = tuple[str, int]


def parse_endpoint(text: str, option: str) -> Listen | None:
    """``HOST:PORT``, ``[V6]:PORT`` or ``off``; ConfigError naming ``option`` when malformed."""
    from sentinelle.network.collector import parse_listen

    if text.strip().lower() == "off":
        return None
    try:
        return parse_listen(text)
    except ConfigError as exc:
        raise ConfigError(exc.message, Location(option)) from exc


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The syslog TLS listener's certificate chain and key (PEM), and optionally the CA whose
    client certificates it requires (mutual TLS, RFC 5425 section 5.2)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def context(self) -> ssl.SSLContext:
        """A server context: TLS 1.2 at least, the system's secure defaults otherwise."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert, self.key)
            if self.client_ca is not None:
                context.load_verify_locations(cafile=self.client_ca)
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the syslog TLS certificate or key: {exc}") from exc
        return context


@dataclass(frozen=True, slots=True)
class InputsConfig:
    syslog_udp: Listen | None = None
    syslog_tcp: Listen | None = None
    syslog_tls: Listen | None = None
    tls: TlsFiles | None = None  # required when syslog_tls is set
    netflow: Listen | None = None
    folder: Path | None = None  # the watched folder
    limits: InputLimits = field(default_factory=InputLimits)

    def __post_init__(self) -> None:
        if self.syslog_tls is not None and self.tls is None:
            raise ConfigError("the syslog TLS listener needs a certificate and a key")
