"""The crisis log: append-only entries chained by their hashes; corrections are new entries;
``verify`` passes on an untouched log and names the first entry edited, removed or reordered
directly in the database (here on the test database: SQLite, or PostgreSQL under
``make test-postgres``; and end to end on the throwaway PostgreSQL server)."""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from django.db import connection

from sentinelle.web.accounts.models import AppendOnlyError, AuditEntry, User
from sentinelle.web.crisis import chain
from sentinelle.web.crisis.models import LogEntry
from tests.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[3]


def write(author: User, n: int = 5) -> list[LogEntry]:
    return [chain.append(author, "information", f"Entry {i + 1}") for i in range(n)]


def sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.mark.django_db
def test_an_untouched_log_verifies_and_each_entry_holds_the_previous_hash(
    people: dict[str, User],
) -> None:
    entries = write(people["crisis"])
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == chain.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    verdict = chain.verify()
    assert verdict.intact and verdict.entries == 5
    assert (verdict.head_seq, verdict.head_hash) == (5, entries[-1].hash)
    assert chain.verify(head=entries[2].hash).intact
    assert AuditEntry.objects.filter(action=chain.APPEND_ACTION).count() == 5


@pytest.mark.django_db
def test_the_orm_refuses_to_change_or_remove_an_entry(people: dict[str, User]) -> None:
    entry = write(people["crisis"], 1)[0]
    entry.text = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LogEntry.objects.filter(pk=entry.pk).update(text="x")
    with pytest.raises(AppendOnlyError):
        LogEntry.objects.all().delete()


@pytest.mark.django_db
def test_an_entry_edited_in_the_database_is_named(people: dict[str, User]) -> None:
    write(people["crisis"])
    sql("UPDATE crisis_logentry SET text = %s WHERE seq = 3", "Nothing was decided")
    verdict = chain.verify()
    assert not verdict.intact
    assert verdict.first is not None and verdict.first.seq == 3
    assert "changed" in verdict.first.problem


@pytest.mark.django_db
def test_an_entry_removed_from_the_database_is_named(people: dict[str, User]) -> None:
    write(people["crisis"])
    sql("DELETE FROM crisis_logentry WHERE seq = 2")
    first = chain.verify().first
    assert first is not None and first.seq == 2 and "missing" in first.problem


@pytest.mark.django_db
def test_the_last_entries_cut_off_are_named(people: dict[str, User]) -> None:
    entries = write(people["crisis"])
    sql("DELETE FROM crisis_logentry WHERE seq >= 4")
    verdict = chain.verify()
    assert verdict.first is not None and verdict.first.seq == 4
    assert "audit trail" in verdict.first.problem
    # A printed head is another anchor: the log no longer holds it.
    assert any("head" in b.problem for b in chain.verify(head=entries[-1].hash).breaks)


@pytest.mark.django_db
def test_entries_reordered_in_the_database_are_named(people: dict[str, User]) -> None:
    write(people["crisis"])
    sql("UPDATE crisis_logentry SET seq = 1000 WHERE seq = 2")
    sql("UPDATE crisis_logentry SET seq = 2 WHERE seq = 3")
    sql("UPDATE crisis_logentry SET seq = 3 WHERE seq = 1000")
    first = chain.verify().first
    assert first is not None and first.seq == 2


@pytest.mark.django_db
def test_a_moved_time_or_author_is_named(people: dict[str, User]) -> None:
    write(people["crisis"])
    sql("UPDATE crisis_logentry SET author_id = %s WHERE seq = 4", people["viewer"].pk)
    first = chain.verify().first
    assert first is not None and first.seq == 4


@pytest.mark.django_db
def test_writing_and_correcting_through_the_pages(client_as: Any, people: dict[str, User]) -> None:
    from sentinelle.web.incidents.models import Incident

    incident = Incident.objects.create(title="Ransomware")
    client = client_as("crisis")
    for kind, text in (
        ("decision", "Cut the internet at 02:10"),
        ("information", "ED works on paper"),
        ("communication", "ARS called"),
    ):
        response = client.post(
            "/crisis/log/",
            {"kind": kind, "text": text, "incidents": f"#{incident.pk}", "sites": ["cen"]},
        )
        assert response.status_code == 302
    wrong = LogEntry.objects.get(text="ARS called")
    assert wrong.incidents == [incident.pk] and wrong.sites == ["cen"]
    response = client.post(
        f"/crisis/log/{wrong.pk}/correct/",
        {"kind": "communication", "text": "ARS and CERT Santé called"},
    )
    assert response.status_code == 302
    correction = LogEntry.objects.order_by("-seq").first()
    assert correction is not None and correction.corrects == wrong
    assert correction.incidents == [incident.pk]
    page = client.get("/crisis/log/").content.decode()
    assert "ARS and CERT Santé called" in page and "corrected" in page
    assert chain.verify().intact
    audited = AuditEntry.objects.filter(action=chain.APPEND_ACTION, actor="crisis-user")
    assert audited.count() == 4

    # Bad links are refused with a reason, nothing written.
    response = client.post("/crisis/log/", {"kind": "action", "text": "x", "incidents": "99999"})
    assert LogEntry.objects.count() == 4
    # Viewers and analysts read, never write.
    for role in ("viewer", "analyst"):
        assert client_as(role).get("/crisis/log/").status_code == 200
        assert (
            client_as(role).post("/crisis/log/", {"kind": "action", "text": "x"}).status_code == 403
        )
        assert client_as(role).post(f"/crisis/log/{wrong.pk}/correct/", {}).status_code == 403
    assert LogEntry.objects.count() == 4


@pytest.mark.django_db
def test_exports_carry_what_checks_the_chain_again(client_as: Any, people: dict[str, User]) -> None:
    entries = write(people["crisis"], 3)
    client = client_as("viewer")
    data = orjson.loads(client.get("/crisis/log/export.json").content)
    assert data["intact"] and data["head"] == {"seq": 3, "hash": entries[-1].hash}
    prev = chain.GENESIS
    for item in data["entries"]:
        content = {k: v for k, v in item.items() if k != "hash"}
        assert content["prev"] == prev
        assert chain.digest(content) == item["hash"]  # anyone can check it from the export
        prev = item["hash"]
    printed = client.get("/crisis/log/print/").content.decode()
    assert entries[-1].hash in printed and 'media="print"' in printed


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    env.update(PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="sentinelle.web.settings")
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def _verify_end_to_end(data_dir: Path, url: str | None, tamper: Any) -> None:
    """Seed a store and write six entries (in processes of their own, as the service would),
    run ``sentinelle crisis-log verify`` on it, remove entry #5 behind the app's back, and run
    it again."""
    db = ["--database-url", url] if url else []
    store = [sys.executable, "-m", "tests.web.crisis.livestore", str(data_dir), *db]
    verify = [sys.executable, "-m", "sentinelle.cli.main", "crisis-log", "verify"]
    verify += ["--data-dir", str(data_dir), *db]
    for step in (["seed"], ["log", "6"]):
        done = _run(*store, *step)
        assert done.returncode == 0, done.stderr
    done = _run(*verify)
    assert done.returncode == 0 and "6 entries, chain intact" in done.stdout, done.stderr
    tamper("DELETE FROM crisis_logentry WHERE seq = 5")
    done = _run(*verify)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "chain broken at entry #5" in done.stdout and "missing" in done.stdout


def test_the_command_on_sqlite(tmp_path: Path) -> None:
    def tamper(statement: str) -> None:
        with sqlite3.connect(tmp_path / "sentinelle.db") as conn:
            conn.execute(statement)

    _verify_end_to_end(tmp_path, None, tamper)


@pytest.mark.postgres
def test_the_command_on_postgresql(postgres_server: PostgresServer, tmp_path: Path) -> None:
    name = f"crisis_{uuid.uuid4().hex[:10]}"
    admin: dict[str, Any] = {"host": "127.0.0.1", "port": postgres_server.port}
    admin["user"] = "sentinelle"
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def tamper(statement: str) -> None:
        with psycopg.connect(**admin, dbname=name, autocommit=True) as conn:
            conn.execute(statement)

    try:
        _verify_end_to_end(tmp_path, postgres_server.url.rsplit("/", 1)[0] + f"/{name}", tamper)
    finally:
        with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
