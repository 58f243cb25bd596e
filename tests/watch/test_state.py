"""Results into states: retries before a change, recovery at once, maintenance, uptime."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sentinelle.watch import Result, Status
from sentinelle.watch.state import ProbeBook, Tracker
from tests.watch.probe_specs import probe

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC).timestamp()  # a Monday, noon UTC


def run(tracker: Tracker, statuses: str, start: float = T0) -> list[tuple[str | None, str]]:
    flips = []
    for i, letter in enumerate(statuses):
        status = {"u": Status.UP, "d": Status.DOWN, "s": Status.DEGRADED, "?": Status.UNKNOWN}[
            letter
        ]
        flip = tracker.feed(Result(tracker.spec.id, status, letter, start + 60 * i))
        if flip is not None:
            flips.append((None if flip.old is None else str(flip.old), str(flip.new)))
    return flips


def test_retries_before_down_and_recovery_at_once(tmp_path: Path) -> None:
    tracker = Tracker(probe(tmp_path, tcp="a:1", retries=2))
    assert run(tracker, "uddudddduu") == [(None, "up"), ("up", "down"), ("down", "up")]


def test_no_retries_flips_on_the_first_failure(tmp_path: Path) -> None:
    tracker = Tracker(probe(tmp_path, tcp="a:1", retries=0))
    assert run(tracker, "udsu") == [
        (None, "up"),
        ("up", "down"),
        ("down", "degraded"),
        ("degraded", "up"),
    ]


def test_flapping_target_never_flips(tmp_path: Path) -> None:
    tracker = Tracker(probe(tmp_path, tcp="a:1", retries=1))
    assert run(tracker, "u" + "du" * 20) == [(None, "up")]


def test_a_probe_down_from_its_first_run(tmp_path: Path) -> None:
    tracker = Tracker(probe(tmp_path, tcp="a:1", retries=1))
    assert run(tracker, "ddd") == [(None, "down")]


def test_maintenance_window_hides_failures(tmp_path: Path) -> None:
    window = {
        "days": ["mon"],
        "start": "13:00",
        "duration": "30m",
        "timezone": "Europe/Paris",
        "reason": "patching",
    }
    tracker = Tracker(probe(tmp_path, tcp="a:1", retries=0, maintenance=[window]))
    # 12:00 UTC is 13:00 in Paris in March (UTC+1): minutes 0-29 are inside the window.
    flips = run(tracker, "d" * 30 + "d" + "u", start=T0)
    assert flips == [(None, "maintenance"), ("maintenance", "down"), ("down", "up")]
    assert tracker.spec.in_maintenance(T0 + 60) is not None
    assert tracker.spec.in_maintenance(T0 - 60) is None
    assert tracker.spec.in_maintenance(T0 + 7 * 86_400) is not None  # next Monday too


def test_one_off_window(tmp_path: Path) -> None:
    window = {"from": "2025-03-03T12:00:00+00:00", "to": "2025-03-03T12:05:00+00:00"}
    spec = probe(tmp_path, tcp="a:1", maintenance=[window])
    assert spec.in_maintenance(T0 + 10) and not spec.in_maintenance(T0 + 301)


def test_book_tallies_uptime_per_day_and_drains(tmp_path: Path) -> None:
    spec = probe(tmp_path, tcp="a:1", retries=0)
    book = ProbeBook.for_probes([spec])
    for i, status in enumerate([Status.UP] * 6 + [Status.DOWN] * 2 + [Status.UNKNOWN]):
        book.feed(Result(spec.id, status, "", T0 + i))
    flips, tallies, results = book.drain()
    assert [str(f.new) for f in flips] == ["up", "down", "unknown"]
    (tally,) = tallies.values()
    assert (tally.up, tally.down, tally.other) == (6, 2, 1)
    assert tally.uptime == 0.75
    assert results[spec.id].status is Status.UNKNOWN
    assert book.drain() == ([], {}, {})
