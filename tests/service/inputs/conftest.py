"""Fixtures of the inputs' tests: a real journal in a temporary folder, and its gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinelle.service.journal import Journal, JournalLimits
from tests.service.harness import GatedSink


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    return tmp_path / "journal"


@pytest.fixture
def journal(journal_dir: Path) -> Iterator[Journal]:
    opened = Journal(journal_dir, JournalLimits(min_free_bytes=0))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def gate(journal: Journal) -> GatedSink:
    return GatedSink(journal)
