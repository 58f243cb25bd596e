"""What an input hands the journal: one raw record, as it came, with where it came from.

Records stay raw in the journal (a syslog line, a JSON document, a flow datagram) and are
normalised by the detector through the same readers as the hunt, so a retro-hunt over the
journal (``sentinelle hunt --journal``) sees exactly what live detection saw. Files of the
watched folder are read by the readers first (EVTX needs its parser process), so they arrive
as already-normalised events.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sentinelle.errors import SentinelleError


class RecordKind(StrEnum):
    SYSLOG = "syslog"  # one syslog message as text (UTF-8), framing removed
    JSON = "json"  # one JSON document: an event in any shape the JSON readers take
    FLOW = "flow"  # one NetFlow v5/v9/IPFIX datagram
    EVENT = "event"  # an event a reader normalised: JSON {fields, timestamp, source, record}


@dataclass(frozen=True, slots=True)
class Record:
    """One record accepted from an input.

    ``input`` names the listener (``syslog-udp``, ``syslog-tcp``, ``syslog-tls``, ``syslog-relp``,
    ``syslog-relp-tls``, ``http``, ``bulk``, ``netflow``, ``folder``); ``sender`` who sent it
    (peer address without port, the token's name, or the file's path); ``key`` the sender's own
    id or position when it has one (``path#record``, an Elasticsearch bulk ``_id``), else empty
    and the content decides the id.
    """

    input: str
    sender: str
    kind: RecordKind
    data: bytes
    received: float  # seconds since the epoch, when the listener took it
    key: str = ""

    @property
    def event_id(self) -> str:
        from sentinelle.service.ids import event_id

        return event_id(self.input, self.sender, self.key, self.data)


class Refused(SentinelleError):
    """Records that cannot be taken now: the journal's disk is full or unwritable, a size limit
    is reached, or the service is stopping. Nothing of the refused batch was accepted; the
    sender may retry after ``retry_after`` seconds (HTTP 503 ``Retry-After``; TCP stops reading;
    UDP drops and counts)."""

    def __init__(self, reason: str, retry_after: float = 5.0) -> None:
        super().__init__(f"not accepted now: {reason}")
        self.reason = reason
        self.retry_after = retry_after


class RecordSink(Protocol):
    """Where inputs put records: the journal (``sentinelle.service.journal.Journal``)."""

    def submit(self, records: Sequence[Record]) -> Future[int]:
        """Queue ``records`` for the next grouped commit.

        Raises :class:`Refused` at once when they cannot be taken. The future resolves, with
        the journal sequence number of the last record, only once every record is on disk and
        synced; it fails with :class:`Refused` if the commit could not be made (then none of
        them was accepted). A listener acknowledges its sender only after the future resolves.
        """
        ...
