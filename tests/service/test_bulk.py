"""Rows written by ``service.bulk`` read back exactly as rows the ORM saved, on SQLite and on
PostgreSQL (``make test-postgres``); a key already stored is left alone; an update touches only
the fields it names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sentinelle.service.bulk import insert_rows, update_rows

pytestmark = pytest.mark.django_db

HOSTILE: dict[str, Any] = {
    "CommandLine": "cmd /c \u00e9cho \u2603 \u202e",  # not ASCII, a bidi override
    "Nested": {"a": [1, 2.5, None, True], "b": {"c": "d"}},
    "Huge": 2**70,  # past 64 bits: orjson cannot write it, the standard library can
    "Float": -2.5e-3,
    "Empty": "",
    "Quote": 'say "hi"\n\t\\',
}


def alert(n: int, **fields: Any) -> Any:
    from sentinelle.web.alerts.models import Alert

    moment = datetime(2026, 11, 27, 22, 0, 1, 123456, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": f"a{n:031d}",
        "rule_id": "r1",
        "rule_title": "Suspicious \u00e9vent",
        "level": "high",
        "level_rank": 4,
        "tags": ["attack.t1003"],
        "timestamp": moment,
        "created": moment + timedelta(seconds=1),
        "event": HOSTILE,
        "services": [{"id": "dpi", "name": "Dossier patient", "criticality": "vital"}],
        "group": {"User": "bob"},
        "value": 2.5,
        "details": {"k": 1},
    }
    values.update(fields)
    return Alert(**values)


def stored(alert_id: str) -> dict[str, Any]:
    from sentinelle.web.alerts.models import Alert

    row = Alert.objects.filter(id=alert_id).values().get()
    return {k: v for k, v in row.items() if k != "id"}


def test_inserted_rows_read_back_as_the_orm_saved_them() -> None:
    alert(1).save()
    insert_rows([alert(2)])
    assert stored(f"a{2:031d}") == stored(f"a{1:031d}")
    assert stored(f"a{2:031d}")["event"] == HOSTILE


def test_a_row_already_stored_is_skipped_not_overwritten() -> None:
    from sentinelle.web.alerts.models import Alert

    insert_rows([alert(1, rule_title="first")])
    insert_rows([alert(1, rule_title="second"), alert(2)], skip_conflicts=True)
    assert Alert.objects.get(id=f"a{1:031d}").rule_title == "first"
    assert Alert.objects.count() == 2


def test_many_rows_are_one_statement() -> None:
    with CaptureQueriesContext(connection) as queries:
        insert_rows([alert(n) for n in range(500)], skip_conflicts=True)
    assert len(queries) == 1
    from sentinelle.web.alerts.models import Alert

    assert Alert.objects.count() == 500


def test_a_key_the_database_numbers_is_left_to_it() -> None:
    from sentinelle.web.incidents.models import Incident

    insert_rows([Incident(key="k1", title="one"), Incident(key="k2", title="two")])
    assert sorted(Incident.objects.values_list("key", "title")) == [("k1", "one"), ("k2", "two")]
    assert len(set(Incident.objects.values_list("pk", flat=True))) == 2


def test_update_touches_only_the_fields_it_names() -> None:
    from sentinelle.web.incidents.models import Incident

    one = Incident.objects.create(key="k1", title="one", summary="a person's words")
    two = Incident.objects.create(key="k2", title="two")
    one.title, one.hosts, one.summary = "one, grown", ["wsa", "w\u00e9b"], "not written"
    two.title, two.impact = "two, grown", {"services": [{"id": "dpi"}], "big": 2**70}
    with CaptureQueriesContext(connection) as queries:
        update_rows([one, two], ["title", "hosts", "impact"])
    assert len(queries) == 1
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.title, one.hosts) == ("one, grown", ["wsa", "w\u00e9b"])
    assert one.summary == "a person's words"
    assert two.title == "two, grown" and two.impact == {"services": [{"id": "dpi"}], "big": 2**70}
