"""Shared fixtures: the location of the shared corpus, and a throwaway PostgreSQL server; and the
one rule for tests whose system tool is missing.

A test that needs something the machine may lack (PostgreSQL, rsyslog and its TLS and RELP
modules, softflowd, chromium, Pango, the C accelerator, the shared corpus) skips, saying what to
install. ``.ci/run`` installs all of them and sets ``SENTINELLE_REQUIRE_ALL=1``: there a skip,
whatever raised it, is a failure that gives the skip's reason, so CI cannot pass by not running
what it was meant to run.

``pytest --postgres`` (or ``SENTINELLE_TEST_POSTGRES=1``) puts every Django test's database on
a throwaway PostgreSQL server instead of SQLite (``make test-postgres`` runs the store and
service tests that way; ``.ci/run`` does too). Tests marked ``postgres`` get the server through
the ``postgres_server`` fixture and skip, with the reason, where the binaries are absent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sentinelle.paths import shared_data_dir
from tests.postgres import PostgresServer, missing_reason, running_server

REQUIRE_ALL = "SENTINELLE_REQUIRE_ALL"


def every_test_must_run() -> bool:
    return os.environ.get(REQUIRE_ALL) == "1"


def _skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and every_test_must_run():
        report.outcome = "failed"
        report.longrepr = (
            f"skipped where every test must run ({REQUIRE_ALL}=1): {_skip_reason(report.longrepr)}"
        )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield  # a whole module skipped at import is a collection error there
    if report.skipped and every_test_must_run():
        report.outcome = "failed"
        report.longrepr = (
            f"skipped where every test must run ({REQUIRE_ALL}=1): {_skip_reason(report.longrepr)}"
        )
    return report


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres",
        action="store_true",
        default=False,
        help="run the Django tests on a throwaway PostgreSQL server instead of SQLite",
    )


def on_postgres(config: pytest.Config) -> bool:
    return bool(config.getoption("--postgres")) or os.environ.get("SENTINELLE_TEST_POSTGRES") == "1"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not (root / "sigma").is_dir() or not (root / "evtx").is_dir():
        pytest.skip(f"shared corpus not found at {root} (set SENTINELLE_SHARED_DATA)")
    return root


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole session (started on first use)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with running_server() as server:
        yield server


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request: pytest.FixtureRequest) -> None:
    """pytest-django's hook: under ``--postgres``, the test database lives on the server."""
    if not on_postgres(request.config):
        return
    import dj_database_url
    from django.conf import settings
    from django.db import connections

    server: PostgresServer = request.getfixturevalue("postgres_server")
    parsed: dict[str, Any] = dict(dj_database_url.parse(server.url))
    default = settings.DATABASES["default"]
    default.clear()
    default.update(parsed)
    default["TEST"] = {"NAME": "test_sentinelle"}
    # Connections made so far (none, usually) were to SQLite: drop them and the handler's copy
    # of DATABASES, so the next one is made from the changed settings.
    connections.__dict__.pop("settings", None)
    for alias in settings.DATABASES:
        with contextlib.suppress(AttributeError, KeyError):
            connections[alias].close()
            del connections[alias]
