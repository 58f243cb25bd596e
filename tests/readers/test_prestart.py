"""A worker started ahead (``prestart_worker``) is the one that reads the first EVTX file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.readers import evtx as evtx_module
from sentinelle.readers import prestart_worker, read_paths

pytestmark = pytest.mark.corpus


def test_the_prestarted_worker_reads_the_first_file(shared_data: Path) -> None:
    evtx_module._POOL.close()
    prestart_worker()
    (ready,) = evtx_module._POOL._idle
    assert ready.alive()
    path = next((shared_data / "evtx" / "mitre").rglob("*.evtx"))
    assert sum(len(b.events) for b in read_paths([path])) > 0
    assert evtx_module._POOL._idle == [ready]  # used, then back in the pool
