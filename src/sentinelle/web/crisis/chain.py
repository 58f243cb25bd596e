"""The crisis log's hash chain: appending an entry, and proving nothing was changed or removed.

Each entry's hash is the SHA-256 of a canonical serialisation of its content and of the hash of
the entry before it (``prev``): JSON with sorted keys, no spaces, UTF-8, times in UTC with
microseconds, the corrected entry named by its number. Changing an entry changes its hash;
removing one leaves a gap in the numbers and a ``prev`` that points at nothing; reordering
changes numbers, and so hashes. The first entry's ``prev`` is :data:`GENESIS`.

A chain proves its inside, not its end: the last entries could be cut off cleanly. So every
append is also written to the audit trail with its number and hash, and :func:`verify` checks
that every entry the audit trail saw written is still there, unchanged; printed copies and JSON
exports carry the head's hash, which a later ``verify --head`` can be held against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone

from sentinelle.web.accounts.models import AuditEntry, User
from sentinelle.web.crisis.models import EntryKind, LogEntry

GENESIS = "0" * 64
APPEND_ACTION = "crisislog.append"  # the audit trail's action for each entry written
ATTEMPTS = 8  # two writers taking the same number: the loser tries again with the next one


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(content: dict[str, Any]) -> bytes:
    """The bytes an entry's hash is computed over."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def content_of(
    *,
    seq: int,
    kind: str,
    at: datetime,
    author_id: int,
    author: str,
    text: str,
    incidents: Sequence[int],
    services: Sequence[str],
    sites: Sequence[str],
    corrects: int | None,
    prev: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": kind,
        "at": _utc(at),
        "author_id": author_id,
        "author": author,
        "text": text,
        "incidents": list(incidents),
        "services": list(services),
        "sites": list(sites),
        "corrects": corrects,
        "prev": prev,
    }


def digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def append(
    author: User,
    kind: EntryKind | str,
    text: str,
    *,
    incidents: Iterable[int] = (),
    services: Iterable[str] = (),
    sites: Iterable[str] = (),
    corrects: LogEntry | None = None,
    actor: Any = None,
) -> LogEntry:
    """Write one entry at the end of the log, chained to the last one, and audit it (``actor``:
    the request or principal for the audit trail; the author's name otherwise)."""
    from sentinelle.web.accounts.audit import record

    kind = EntryKind(kind)
    links = (
        sorted({int(i) for i in incidents}),
        sorted({str(s) for s in services}),
        sorted({str(s) for s in sites}),
    )
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                last = LogEntry.objects.order_by("-seq").values_list("seq", "hash").first()
                seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
                at = timezone.now()
                content = content_of(
                    seq=seq,
                    kind=kind.value,
                    at=at,
                    author_id=author.pk,
                    author=author.get_username(),
                    text=text,
                    incidents=links[0],
                    services=links[1],
                    sites=links[2],
                    corrects=corrects.seq if corrects is not None else None,
                    prev=prev,
                )
                entry = LogEntry.objects.create(
                    seq=seq,
                    kind=kind.value,
                    at=at,
                    author=author,
                    author_name=author.get_username(),
                    text=text,
                    incidents=links[0],
                    services=links[1],
                    sites=links[2],
                    corrects=corrects,
                    prev_hash=prev,
                    hash=digest(content),
                )
                record(
                    actor if actor is not None else author.get_username(),
                    APPEND_ACTION,
                    entry,
                    after={"seq": seq, "hash": entry.hash, "kind": kind.value, "text": text},
                )
                return entry
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain stops proving anything: the entry's number and what is wrong."""

    seq: int
    problem: str
    at: str = ""  # when the entry says it was written (empty for a missing entry)
    author: str = ""


@dataclass(slots=True)
class Verdict:
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    breaks: list[Break] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return min(self.breaks, key=lambda b: b.seq) if self.breaks else None


_FIELDS = (
    "id",
    "seq",
    "kind",
    "at",
    "author_id",
    "author_name",
    "text",
    "incidents",
    "services",
    "sites",
    "corrects_id",
    "prev_hash",
    "hash",
)


def _rows() -> Iterator[dict[str, Any]]:
    yield from LogEntry.objects.order_by("seq", "id").values(*_FIELDS).iterator(chunk_size=500)


def verify(head: str | None = None, *, limit_breaks: int = 100) -> Verdict:
    """Walk the whole log in order (memory bounded by the number of entries' ids) and report
    every break: an entry whose content no longer gives its hash, a number missing or repeated,
    a ``prev`` that is not the previous entry's hash, an entry the audit trail saw written that
    is gone or different, and a ``head`` hash (from a printed copy) found nowhere."""
    verdict = Verdict()
    seq_of: dict[int, int] = dict(LogEntry.objects.values_list("id", "seq"))
    expected_seq, prev_hash = 1, GENESIS
    hashes: dict[int, str] = {}

    def broken(item: Break) -> None:
        if len(verdict.breaks) < limit_breaks:
            verdict.breaks.append(item)

    for row in _rows():
        seq = int(row["seq"])
        at = row["at"]
        when = _utc(at) if isinstance(at, datetime) else str(at)
        who = str(row["author_name"])
        if seq > expected_seq:
            for missing in range(expected_seq, min(seq, expected_seq + limit_breaks)):
                broken(Break(missing, "missing: the entry was removed (the numbers jump)"))
        elif seq < expected_seq:
            broken(Break(seq, "out of order: this number was seen already", when, who))
        corrects = row["corrects_id"]
        content = content_of(
            seq=seq,
            kind=str(row["kind"]),
            at=at,
            author_id=int(row["author_id"]),
            author=who,
            text=str(row["text"]),
            incidents=row["incidents"] if isinstance(row["incidents"], list) else [],
            services=row["services"] if isinstance(row["services"], list) else [],
            sites=row["sites"] if isinstance(row["sites"], list) else [],
            corrects=seq_of.get(corrects) if corrects is not None else None,
            prev=str(row["prev_hash"]),
        )
        if digest(content) != row["hash"]:
            broken(Break(seq, "changed: its content no longer gives its hash", when, who))
        elif row["prev_hash"] != prev_hash and seq >= expected_seq:
            broken(
                Break(
                    seq,
                    "unlinked: it does not follow the entry before it (one was removed,"
                    " reordered or changed before it)",
                    when,
                    who,
                )
            )
        hashes[seq] = str(row["hash"])
        prev_hash = str(row["hash"])
        expected_seq = max(expected_seq, seq + 1)
        verdict.entries += 1
        verdict.head_seq, verdict.head_hash = seq, prev_hash
    _against_audit(verdict, hashes, broken)
    if head is not None and head.lower() not in set(hashes.values()):
        broken(
            Break(
                verdict.head_seq + 1,
                f"the head {head[:16]}… given is no entry's hash: entries after it were removed",
            )
        )
    verdict.breaks.sort(key=lambda b: b.seq)
    return verdict


def _against_audit(verdict: Verdict, hashes: dict[int, str], broken: Any) -> None:
    """Every entry the audit trail saw written must still be there, with the same hash."""
    recorded = AuditEntry.objects.filter(action=APPEND_ACTION).values_list("after", flat=True)
    for after in recorded.iterator(chunk_size=1000):
        if not isinstance(after, dict):
            continue
        seq, written = after.get("seq"), after.get("hash")
        if not isinstance(seq, int) or not isinstance(written, str):
            continue
        found = hashes.get(seq)
        if found is None:
            broken(Break(seq, "missing: the audit trail saw it written, the log has it no more"))
        elif found != written:
            broken(Break(seq, "rewritten: its hash is not the one the audit trail saw written"))


def export(entries: Iterable[LogEntry]) -> list[dict[str, Any]]:
    """Entries as JSON-ready data, with everything needed to check their hashes again."""
    out = []
    for entry in entries:
        out.append(
            {
                "seq": entry.seq,
                "kind": entry.kind,
                "at": _utc(entry.at),
                "author_id": entry.author_id,
                "author": entry.author_name,
                "text": entry.text,
                "incidents": entry.incidents,
                "services": entry.services,
                "sites": entry.sites,
                "corrects": entry.corrects.seq if entry.corrects is not None else None,
                "prev": entry.prev_hash,
                "hash": entry.hash,
            }
        )
    return out
