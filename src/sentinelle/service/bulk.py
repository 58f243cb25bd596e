"""Many rows of a model in one statement, executed once per row by the driver (``executemany``).

The detector stores hundreds of alerts a slice. Django's ``bulk_create`` writes one ``INSERT``
with a placeholder per value and prepares each value through the query compiler; on SQLite it
also cuts the rows into batches of 999 parameters (33 alerts a statement). That was a third of
the detector's time on an alert-heavy stream. Here the statement is written once per model, and
the driver runs it for every row: SQLite steps it in C, psycopg pipelines it. One call, one
entry in Django's query log, whatever the number of rows.

Values are what the ORM would send (:func:`_adapter`): a value already of its column's plain
type as it is, an aware datetime through the connection's own adapter, JSON on SQLite as text
from orjson (the JSON Django would write, read back by Django the same way; the standard
library's text when orjson cannot write a value), anything else through the field's own
``get_db_prep_save``. About 20 us an alert instead of 120.

``ON CONFLICT DO NOTHING`` is the same text on both databases (SQLite since 3.24), so a row
whose key is already stored is left as it is: a replay never writes an alert twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    CharField,
    DateTimeField,
    Field,
    FloatField,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    TextField,
)

Adapter = Callable[[Any], Any]
# A value of one of these types is sent as it is to a column of that kind: what the field's
# ``get_db_prep_save`` would send for it.
_PLAIN: tuple[tuple[type[Field[Any, Any]], tuple[type, ...]], ...] = (
    (BooleanField, (bool,)),
    (IntegerField, (int,)),  # the auto and positive kinds too
    (FloatField, (float, int)),
    (CharField, (str,)),
    (TextField, (str,)),
)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):  # an integer past 64 bits: as Django writes it
        return json.dumps(value)


def _adapter(field: Field[Any, Any], conn: BaseDatabaseWrapper) -> Adapter:
    """The function that makes ``field``'s value what the ORM would send to ``conn``."""
    target = field.target_field if isinstance(field, ForeignKey) else field

    def prepared(value: Any) -> Any:
        return field.get_db_prep_save(value, conn)

    if isinstance(target, JSONField) and target.encoder is None and conn.vendor == "sqlite":
        return _json_text
    if isinstance(target, DateTimeField):
        adapt = conn.ops.adapt_datetimefield_value

        def moment(value: Any) -> Any:
            if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
                return adapt(value)
            return prepared(value)  # naive: the ORM's warning and conversion

        return moment
    for kind, types in _PLAIN:
        if isinstance(target, kind):

            def plain(value: Any, types: tuple[type, ...] = types) -> Any:
                return value if value is None or type(value) in types else prepared(value)

            return plain
    return prepared


def _adapters(model: type[Model], conn: BaseDatabaseWrapper) -> list[tuple[str, Adapter]]:
    return [(f.attname, _adapter(f, conn)) for f in _insert_fields(model)]


def _insert_sql(model: type[Model], conn: BaseDatabaseWrapper, skip_conflicts: bool) -> str:
    qn = conn.ops.quote_name
    columns = ", ".join(qn(f.column) for f in _insert_fields(model))
    marks = ", ".join(["%s"] * len(_insert_fields(model)))
    tail = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    # Names from the model's metadata, quoted by the connection; every value is a parameter.
    return f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({marks}){tail}"  # noqa: S608


@cache
def _insert_fields(model: type[Model]) -> tuple[Field[Any, Any], ...]:
    """Every concrete field but a key the database numbers itself (``AutoField``). A field
    the ORM fills as it saves (``auto_now``) is refused: values are taken as they are."""
    fields = []
    for f in model._meta.concrete_fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            raise TypeError(f"{model._meta.label}.{f.name}: auto_now is not filled by insert_rows")
        if not getattr(f, "generated", False) and not getattr(f, "db_returning", False):
            fields.append(f)
    return tuple(fields)


def insert_rows(objs: Sequence[Model], *, skip_conflicts: bool = False) -> None:
    """Insert ``objs`` (one model; a key the database numbers is left to it and not read
    back) in one ``executemany``; with ``skip_conflicts``, rows whose key is already stored
    are skipped."""
    if not objs:
        return
    model = type(objs[0])
    conn = connections[DEFAULT_DB_ALIAS]
    sql = _insert_sql(model, conn, skip_conflicts)
    adapters = _adapters(model, conn)
    params = [[adapt(getattr(obj, name)) for name, adapt in adapters] for obj in objs]
    with conn.cursor() as cursor:
        cursor.executemany(sql, params)


def update_rows(objs: Sequence[Model], names: Sequence[str]) -> None:
    """Set the fields ``names`` of stored ``objs`` (one model) by primary key, in one
    ``executemany``: unlike ``bulk_update``, one statement whatever their number."""
    if not objs:
        return
    meta = type(objs[0])._meta
    conn = connections[DEFAULT_DB_ALIAS]
    qn = conn.ops.quote_name
    fields = [f for f in meta.concrete_fields if f.name in names]
    assert len(fields) == len(names), f"not concrete fields of {meta.label}: {names}"
    key = meta.pk
    assert key is not None
    sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    sql = f"UPDATE {qn(meta.db_table)} SET {sets} WHERE {qn(key.column)} = %s"  # noqa: S608 - as above
    adapters = [(f.attname, _adapter(f, conn)) for f in (*fields, key)]
    params = [[adapt(getattr(obj, name)) for name, adapt in adapters] for obj in objs]
    with conn.cursor() as cursor:
        cursor.executemany(sql, params)
