"""Keyset paging: the next page starts after the last row shown, found through an index.

``OFFSET`` paging reads and throws away every row before the page, so the thousandth page of
100,000 alerts costs a hundred times the first; a keyset costs the same on every page, and rows
arriving meanwhile do not shift what the next page shows. A cursor is the sort key of the last
row shown, signed (a cursor is input: a tampered one is refused, not interpreted).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

import orjson
from django.core import signing
from django.db import models
from django.db.models import F, Q, QuerySet

M = TypeVar("M", bound=models.Model)

_SIGNER_SALT = "sentinelle.web.paging"


class BadCursor(ValueError):
    """A cursor that is not one this server made."""


@dataclass(frozen=True, slots=True)
class Key:
    """One column of a sort: its field, its direction, and whether it may be NULL (NULLs come
    last in both directions)."""

    field: str
    descending: bool = True
    nullable: bool = False

    def order(self) -> Any:
        expression = F(self.field)
        if self.descending:
            return expression.desc(nulls_last=True) if self.nullable else expression.desc()
        return expression.asc(nulls_last=True) if self.nullable else expression.asc()


@dataclass(slots=True)
class Page(Generic[M]):
    items: list[M]
    next_cursor: str | None
    is_later: bool  # not the first page
    query: dict[str, str] = field(default_factory=dict)  # the other parameters of the page

    @property
    def next_query(self) -> str:
        if self.next_cursor is None:
            return ""
        return urlencode({**self.query, "cursor": self.next_cursor})

    @property
    def first_query(self) -> str:
        return urlencode(self.query)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], str):
        return datetime.fromisoformat(value["t"])
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise BadCursor("unexpected value in cursor")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = orjson.dumps([_encode_value(v) for v in values])
    return signing.Signer(salt=_SIGNER_SALT).sign(base64.urlsafe_b64encode(raw).decode("ascii"))


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        raw = signing.Signer(salt=_SIGNER_SALT).unsign(cursor)
        values = orjson.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
    except (signing.BadSignature, binascii.Error, orjson.JSONDecodeError, UnicodeError) as exc:
        raise BadCursor("not a cursor of this server") from exc
    if not isinstance(values, list) or len(values) != width:
        raise BadCursor("cursor of another sort")
    return [_decode_value(v) for v in values]


def after(keys: Sequence[Key], values: Sequence[Any]) -> Q:
    """Rows strictly after ``values`` in the order ``keys`` give (the last key must be unique).

    The first key's bound is also stated alone (``created <= x AND (...)``), so the database
    starts its index range there instead of testing the alternatives row by row.
    """
    condition = Q(pk__in=[])  # false
    equal = Q()
    for key, value in zip(keys, values, strict=True):
        if value is None:
            # In the NULL tail: only the following keys can still move forward.
            beyond = Q(pk__in=[])
            equal &= Q(**{f"{key.field}__isnull": True})
            condition |= beyond
            continue
        op = "lt" if key.descending else "gt"
        beyond = Q(**{f"{key.field}__{op}": value})
        if key.nullable:
            beyond |= Q(**{f"{key.field}__isnull": True})
        condition |= equal & beyond
        equal &= Q(**{key.field: value})
    first, value = keys[0], values[0]
    if value is not None:
        bound = Q(**{f"{first.field}__{'lte' if first.descending else 'gte'}": value})
        if first.nullable:
            bound |= Q(**{f"{first.field}__isnull": True})
        condition = bound & condition
    return condition


def keyset_page(
    queryset: QuerySet[M],
    keys: Sequence[Key],
    cursor: str | None,
    size: int,
    query: dict[str, str] | None = None,
) -> Page[M]:
    """One page of ``queryset`` in the order of ``keys``, starting after ``cursor``.

    Raises :class:`BadCursor` for a cursor this server did not make for this sort.
    """
    ordered = queryset.order_by(*(k.order() for k in keys))
    if cursor:
        ordered = ordered.filter(after(keys, decode_cursor(cursor, len(keys))))
    rows = list(ordered[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor([_value_of(last, k.field) for k in keys])
    return Page(rows, next_cursor, bool(cursor), dict(query or {}))


def _value_of(row: models.Model, name: str) -> Any:
    value: Any = row
    for part in name.split("__"):
        value = getattr(value, part)
    if isinstance(value, models.Model):
        return value.pk
    return value
