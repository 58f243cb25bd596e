"""The throwaway PostgreSQL server the store tests run on (``pytest --postgres``)."""

from __future__ import annotations

import psycopg
import pytest

from tests.postgres import PostgresServer


@pytest.mark.postgres
def test_the_throwaway_server_answers_and_runs_as_a_non_root_user(
    postgres_server: PostgresServer,
) -> None:
    with psycopg.connect(
        host="127.0.0.1", port=postgres_server.port, user="sentinelle", dbname="postgres"
    ) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        assert version is not None and int(str(version[0]).split(".")[0]) >= 13
        fsync = conn.execute("SHOW fsync").fetchone()
        assert fsync == ("off",)


@pytest.mark.django_db
def test_the_store_tests_run_on_the_database_asked_for(request: pytest.FixtureRequest) -> None:
    from django.db import connection

    from tests.conftest import on_postgres

    assert connection.vendor == ("postgresql" if on_postgres(request.config) else "sqlite")
