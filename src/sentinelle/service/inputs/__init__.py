"""The inputs of ``sentinelle serve``: syslog (UDP, TCP, TLS, RELP, RELP over TLS),
NetFlow/IPFIX, the watched folder.

Every listener treats its peer as hostile (``limits``), turns what it receives into
:class:`~sentinelle.service.records.Record` s, and hands them to the journal; a stream sender
is read only as fast as the journal makes them durable. The HTTP inputs (NDJSON and the
Elasticsearch ``_bulk`` subset) live in the web app (``sentinelle.web.ingest``) and share the
same limits and counters (``metrics``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol

from sentinelle.service.inputs.config import InputsConfig, Listen, TlsFiles
from sentinelle.service.inputs.limits import LIMITS_EXTRA, InputLimits
from sentinelle.service.log import log_event
from sentinelle.service.records import RecordSink

__all__ = [
    "LIMITS_EXTRA",
    "InputLimits",
    "Inputs",
    "InputsConfig",
    "Listen",
    "TlsFiles",
]

if TYPE_CHECKING:
    from sentinelle.service.config import ServeConfig

log = logging.getLogger("sentinelle.inputs")


class _Input(Protocol):
    name: str

    async def start(self) -> Listen | None: ...

    async def stop(self, timeout: float) -> None: ...


class Inputs:
    """Every configured input of a service, started and stopped together.

    ``start`` binds every listener (a ConfigError, after closing those already bound, if one
    cannot be), so a service that started is listening everywhere it was asked to.
    ``stop`` stops accepting and reading, then waits for what was read to be durable.
    ``config`` is the inputs' own, or the whole service's (its inputs' part is taken).
    """

    def __init__(self, config: InputsConfig | ServeConfig, sink: RecordSink) -> None:
        if not isinstance(config, InputsConfig):
            config = InputsConfig.from_serve(config)
        self.config = config
        self.sink = sink
        self.addresses: dict[str, Listen] = {}
        self._inputs: list[_Input] = []

    def _build(self) -> list[_Input]:
        from sentinelle.service.inputs.datagram import DatagramInput, check_flow
        from sentinelle.service.inputs.framing import check_message
        from sentinelle.service.inputs.stream import StreamServer
        from sentinelle.service.records import RecordKind

        config, limits, sink = self.config, self.config.limits, self.sink
        built: list[_Input] = []
        if config.syslog_udp is not None:
            built.append(
                DatagramInput(
                    "syslog-udp",
                    RecordKind.SYSLOG,
                    config.syslog_udp,
                    sink,
                    limits,
                    check_message,
                    limits.max_message_bytes,
                )
            )
        if config.syslog_tcp is not None:
            built.append(StreamServer("syslog-tcp", config.syslog_tcp, sink, limits))
        if config.syslog_tls is not None:
            assert config.tls is not None  # InputsConfig checks it
            built.append(
                StreamServer("syslog-tls", config.syslog_tls, sink, limits, config.tls.context())
            )
        if config.syslog_relp is not None:
            from sentinelle.service.inputs.relp import RelpServer

            built.append(RelpServer("syslog-relp", config.syslog_relp, sink, limits))
        if config.syslog_relp_tls is not None:
            from sentinelle.service.inputs.relp import RelpServer

            assert config.tls is not None  # InputsConfig checks it
            built.append(
                RelpServer(
                    "syslog-relp-tls", config.syslog_relp_tls, sink, limits, config.tls.context()
                )
            )
        if config.netflow is not None:
            built.append(
                DatagramInput(
                    "netflow",
                    RecordKind.FLOW,
                    config.netflow,
                    sink,
                    limits,
                    check_flow,
                    limits.max_datagram_bytes,
                )
            )
        if config.folder is not None:
            from sentinelle.service.inputs.folder import FolderInput

            built.append(FolderInput(config.folder, sink, limits))
        return built

    async def start(self) -> None:
        from sentinelle.service import runtime

        current = runtime.current()
        if current is not None:  # the HTTP ingest views apply the same limits
            current.extras.setdefault(LIMITS_EXTRA, self.config.limits)
        inputs = self._build()
        try:
            for item in inputs:
                address = await item.start()
                self._inputs.append(item)
                if address is not None:
                    self.addresses[item.name] = address
                    log_event(log, "input.listening", input=item.name, address=address)
        except BaseException:
            await self.stop(timeout=1.0)
            raise

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop every input at once; each waits up to ``timeout`` for its records."""
        started = time.monotonic()
        inputs, self._inputs = self._inputs, []
        await asyncio.gather(*(item.stop(timeout) for item in inputs))
        if inputs:
            log_event(log, "input.stopped", seconds=round(time.monotonic() - started, 3))
