"""Which inputs listen where: the part of ``sentinelle serve``'s configuration the inputs read.

The service's configuration (its file, its command line) builds one :class:`InputsConfig`;
each listener is an address or ``None`` (off); :meth:`InputsConfig.from_serve` reads them
from the service's configuration (``HOST:PORT`` or ``off`` there).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sentinelle.errors import ConfigError
from sentinelle.service.inputs.limits import InputLimits

if TYPE_CHECKING:
    from sentinelle.service.config import ServeConfig

Listen = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The TLS listeners' certificate chain and key (PEM), and optionally the CA whose client
    certificates they require (mutual TLS, RFC 5425 section 5.2). Syslog over TLS and RELP over
    TLS share them."""

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
    tls: TlsFiles | None = None  # required when syslog_tls or syslog_relp_tls is set
    syslog_relp: Listen | None = None
    syslog_relp_tls: Listen | None = None
    netflow: Listen | None = None
    folder: Path | None = None  # the watched folder
    limits: InputLimits = field(default_factory=InputLimits)

    def __post_init__(self) -> None:
        if self.syslog_tls is not None and self.tls is None:
            raise ConfigError("the syslog TLS listener needs a certificate and a key")
        if self.syslog_relp_tls is not None and self.tls is None:
            raise ConfigError("the RELP over TLS listener needs a certificate and a key")

    @classmethod
    def from_serve(cls, config: ServeConfig) -> InputsConfig:
        """The inputs' part of ``sentinelle serve``'s configuration.

        Reads the listener addresses, the TLS files, the watched folder and the limits (its
        ``inputs`` section).
        """
        tls: TlsFiles | None = None
        if config.tls_certificate or config.tls_key:
            client_ca = config.tls_client_ca or None
            tls = TlsFiles(
                Path(config.tls_certificate).expanduser(),
                Path(config.tls_key).expanduser(),
                Path(client_ca).expanduser() if client_ca else None,
            )
        return cls(
            syslog_udp=config.address("syslog_udp"),
            syslog_tcp=config.address("syslog_tcp"),
            syslog_tls=config.address("syslog_tls"),
            tls=tls,
            syslog_relp=config.address("syslog_relp"),
            syslog_relp_tls=config.address("syslog_relp_tls"),
            netflow=config.address("netflow"),
            folder=Path(config.watch_folder).expanduser() if config.watch_folder else None,
            limits=config.inputs,
        )
