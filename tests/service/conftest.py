"""Fixtures shared by the service's tests: real senders (rsyslog) started per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.rsyslog import RSYSLOGD, Rsyslog


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A rule folder: a Sysmon process rule (high) and a syslog rule (medium)."""
    from tests.service.test_detector import RULE, SYSLOG_RULE

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "dump.yml").write_text(RULE)
    (folder / "fw.yml").write_text(SYSLOG_RULE)
    return folder


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Callable[..., Rsyslog]]:
    """Start rsyslog instances forwarding to an address: ``rsyslog(target, framing=..., tls=...)``
    (started; stopped at the end of the test). Skips where rsyslogd is not installed."""
    if RSYSLOGD is None:
        pytest.skip("rsyslogd not installed (Debian: apt-get install -y rsyslog; CI installs it)")
    started: list[Rsyslog] = []

    def make(target: tuple[str, int], **options: Any) -> Rsyslog:
        folder = tmp_path / f"rsyslog-{len(started)}"
        folder.mkdir()
        instance = Rsyslog(folder, target, **options).start()
        started.append(instance)
        return instance

    try:
        yield make
    finally:
        for instance in started:
            instance.stop()
