"""Fixtures of the hunt tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hunt.helpers import PackageServer


@pytest.fixture
def server() -> Iterator[PackageServer]:
    """A real HTTP server on 127.0.0.1 serving the rule packages a test puts in it."""
    srv = PackageServer()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
