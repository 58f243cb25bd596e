"""The collector pauses and thresholds leave the collector as they found it, errors or not."""

from __future__ import annotations

import gc

import pytest

from sentinelle.gcpause import collector_paused, fewer_collections


def test_paused_then_restored_even_on_error() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()


def test_a_pause_inside_a_pause_does_not_restart_the_collector() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_fewer_collections_raises_the_young_threshold_only_while_it_lasts() -> None:
    before = gc.get_threshold()
    with fewer_collections(50_000):
        young, *older = gc.get_threshold()
        assert young == 50_000 and tuple(older) == before[1:]
    assert gc.get_threshold() == before
    with pytest.raises(KeyError), fewer_collections(50_000):
        raise KeyError
    assert gc.get_threshold() == before
    with fewer_collections(1):  # never lowers it
        assert gc.get_threshold() == before
