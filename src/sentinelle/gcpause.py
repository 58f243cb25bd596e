"""Keeping Python's cyclic garbage collector off work that cannot give it anything to collect.

Loading a rule set, a hospital model or a chunk of events makes tens of thousands of container
objects that live on and hold no reference cycle; a hunt then makes a detection and a few
sets per event. The collector is triggered by the count of container objects made, so it walks
all of those again and again for nothing: about a tenth of a hunt's own CPU time in places.
"""

from __future__ import annotations

import gc

# Container objects made (net) between two young-generation passes while a hunt streams its
# events; CPython's default is 700. A hunt's detections and per-event sets are not cyclic, so
# the passes find nothing there (523 objects in all over the mitre corpus x10): this many
# costs a few passes instead of hundreds, and bounds what cyclic garbage could wait for its
# pass to about ten megabytes. Each middle-generation pass walks again what the young ones
# kept (the rule buckets the events meet, the detections held): 20,000 gave that hunt 26 ms of
# them, 100,000 gives 4 ms (the young passes: 21 -> 25 ms).
HUNT_YOUNG_THRESHOLD = 100_000


class collector_paused:
    """The collector off for the ``with`` block (unless it already was), then back as it was.

    A class rather than a generator-based context manager: it is entered once per EVTX chunk.
    """

    __slots__ = ("_collecting",)

    def __init__(self) -> None:
        self._collecting = False

    def __enter__(self) -> None:
        self._collecting = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._collecting:
            gc.enable()


class fewer_collections:
    """The young generation's threshold raised to ``young`` for the ``with`` block, then
    restored (the other thresholds are kept)."""

    __slots__ = ("_before", "_young")

    def __init__(self, young: int = HUNT_YOUNG_THRESHOLD) -> None:
        self._young = young
        self._before = gc.get_threshold()

    def __enter__(self) -> None:
        self._before = gc.get_threshold()
        gc.set_threshold(max(self._young, self._before[0]), *self._before[1:])

    def __exit__(self, *exc: object) -> None:
        gc.set_threshold(*self._before)
