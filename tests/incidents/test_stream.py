"""The streaming grouper: the incidents of ``group_incidents``, closed as soon as nothing can
join them, with a bounded sample of detections and exact counts."""

from __future__ import annotations

import random

from sentinelle.detections import LEVELS, Detection
from sentinelle.events import Event
from sentinelle.incidents import IncidentGrouper, group_incidents
from sentinelle.incidents.group import Incident, number_incidents

T0 = 1_701_556_873.0
TACTICS = ("attack.discovery", "attack.execution", "attack.impact", "attack.lateral-movement")


def _random_detections(seed: int, count: int) -> list[Detection]:
    rng = random.Random(seed)
    out = []
    for record in range(count):
        t = T0 + rng.uniform(0, 12 * 3600)
        fields = {"Computer": f"pc-{rng.randrange(12):02d}"}
        if rng.random() < 0.3:
            fields["TargetUserName"] = f"user{rng.randrange(5)}"
        rule = rng.randrange(6)
        out.append(
            Detection(
                rule_id=f"r{rule}",
                rule_title=f"rule {rule}",
                level=rng.choice(LEVELS),
                timestamp=t,
                tags=(rng.choice(TACTICS),),
                event=Event(fields, t, "x.jsonl", record),
            )
        )
    return sorted(out, key=lambda d: d.sort_key)


def _shape(inc: Incident) -> tuple[object, ...]:
    return (
        inc.id,
        inc.first_seen,
        inc.last_seen,
        inc.hosts,
        inc.accounts,
        inc.severity,
        inc.title,
        inc.detections,
        inc.count_by_level(),
        [(s.tactic.key, s.count, s.rules, s.first_seen, s.last_seen) for s in inc.chain],
    )


def test_a_sample_kept_per_incident_changes_nothing_but_the_sample() -> None:
    for seed in range(20):
        detections = _random_detections(seed, 150)
        whole = group_incidents(detections, max_gap=1800, min_level="low")
        closed: list[Incident] = []
        grouper = IncidentGrouper(closed.append, max_gap=1800, min_level="low", keep=2)
        for det in detections:
            grouper.feed(det)
        grouper.finish()
        sampled = number_incidents(closed)
        assert [_shape(i) for i in sampled] == [_shape(i) for i in whole], seed
        for full, cut in zip(whole, sampled, strict=True):
            assert cut.timeline == full.timeline[:2]
            assert full.detections == len(full.timeline)
            assert all(len(s.detections) <= 2 for s in cut.chain)
        assert grouper.skipped == sum(1 for d in detections if d.level == "informational")


def test_an_incident_is_handed_over_once_nothing_can_join_it() -> None:
    closed: list[Incident] = []
    grouper = IncidentGrouper(closed.append, max_gap=600, wave_gap=300)

    def det(t: float, host: str) -> Detection:
        ev = Event({"Computer": host}, T0 + t, "x.jsonl", int(t))
        return Detection("r", "rule", "medium", T0 + t, ("attack.execution",), event=ev)

    grouper.feed(det(0, "pc-01"))
    grouper.feed(det(500, "pc-01"))
    assert closed == []
    grouper.feed(det(500 + 601 + 100, "pc-02"))  # pc-01's last detection is too old to join
    assert [i.hosts for i in closed] == [("pc-01",)]
    grouper.finish()
    assert [i.hosts for i in closed] == [("pc-01",), ("pc-02",)]
