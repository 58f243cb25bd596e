"""Grouping detections into incidents: shared machines, addresses and accounts within a gap."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinelle.detections import Detection
from sentinelle.events import Event
from sentinelle.hospital import HospitalModel, example_model_path, load_model
from sentinelle.incidents import entities_of, group_incidents

T0 = 1_701_556_873.0


def det(
    t: float,
    level: str,
    tags: tuple[str, ...],
    title: str = "rule",
    record: int = 1,
    **fields: Any,
) -> Detection:
    event = Event(dict(fields), T0 + t, "test.jsonl", record)
    return Detection(
        rule_id=f"id-{title}",
        rule_title=title,
        level=level,
        timestamp=T0 + t,
        tags=tags,
        event=event,
    )


@pytest.fixture(scope="module")
def model() -> HospitalModel:
    return load_model(example_model_path())


def test_same_machine_within_the_gap_is_one_incident_beyond_it_two() -> None:
    dets = [
        det(0, "medium", ("attack.discovery",), "a", Computer="pc-cen-0002.chu-loire.example"),
        det(600, "high", ("attack.credential-access",), "b", Computer="PC-CEN-0002"),
        det(600 + 3 * 3600, "low", ("attack.execution",), "c", Computer="pc-cen-0002"),
    ]
    first, second = group_incidents(dets, max_gap=2 * 3600)
    assert [d.rule_title for d in first.timeline] == ["a", "b"]
    assert [d.rule_title for d in second.timeline] == ["c"]
    assert (first.id, second.id) == ("INC-001", "INC-002")
    assert first.hosts == ("pc-cen-0002",)
    assert first.severity == "high" and first.title.startswith("b on pc-cen-0002")


def test_a_logon_from_a_workstation_bridges_the_workstation_and_the_server() -> None:
    dets = [
        det(0, "critical", ("attack.credential-access",), "dump", Computer="pc-cen-0002"),
        det(
            900,
            "medium",
            ("attack.lateral-movement",),
            "rdp",
            Computer="dc-cen01",
            WorkstationName="PC-CEN-0002",
            IpAddress="10.10.32.21",
            TargetUserName="adm-x",
        ),
        det(1800, "high", ("attack.impact",), "vss", Computer="dc-cen01"),
        det(2000, "high", ("attack.discovery",), "scan", src_ip="10.10.32.21", dst_ip="10.10.0.9"),
    ]
    (incident,) = group_incidents(dets)
    assert incident.hosts == ("dc-cen01", "pc-cen-0002")
    assert "10.10.32.21" in incident.addresses and incident.accounts == ("adm-x",)


def test_the_chain_follows_tactic_order_and_the_timeline_follows_time() -> None:
    dets = [
        det(0, "high", ("attack.impact", "attack.t1490"), "vss", Computer="fs-cen01"),
        det(60, "medium", ("attack.discovery",), "disc", Computer="fs-cen01"),
        det(120, "high", ("attack.credential-access",), "lsass", Computer="fs-cen01"),
        det(180, "high", ("attack.impact",), "encrypt", Computer="fs-cen01"),
    ]
    (incident,) = group_incidents(dets)
    assert [d.rule_title for d in incident.timeline] == ["vss", "disc", "lsass", "encrypt"]
    assert [s.tactic.key for s in incident.chain] == ["credential_access", "discovery", "impact"]
    impact = incident.chain[-1]
    assert impact.first_seen == T0 and impact.last_seen == T0 + 180
    assert impact.rules == ["encrypt", "vss"]


def test_values_every_machine_shares_never_link_incidents() -> None:
    dets = [
        det(
            0,
            "low",
            (),
            "a",
            Computer="pc-a",
            IpAddress="-",
            TargetUserName="SYSTEM",
            SubjectUserName="PC-A$",
        ),
        det(
            10,
            "low",
            (),
            "b",
            Computer="pc-b",
            IpAddress="127.0.0.1",
            TargetUserName="SYSTEM",
            SubjectUserName="PC-B$",
        ),
    ]
    assert len(group_incidents(dets)) == 2
    assert entities_of(dets[0]) == frozenset({"host:pc-a"})


def test_correlation_groups_and_their_events_count_as_entities() -> None:
    sample = Event({"src_ip": "198.18.0.9", "dst_ip": "203.0.113.17"}, T0, "fw.log", 7)
    flood = Detection(
        "f",
        "flood",
        "high",
        T0,
        ("attack.impact",),
        rule_type="correlation",
        events=(sample,),
        group={"dst_ip": "203.0.113.17"},
    )
    anomaly = det(30, "high", ("attack.impact",), "dos", dstip="203.0.113.17", devname="FW-EDGE01")
    change = det(2400, "medium", ("attack.defense-evasion",), "cfg", devname="FW-EDGE01")
    (incident,) = group_incidents([flood, anomaly, change])
    assert incident.hosts == ("fw-edge01",)
    assert {"203.0.113.17", "198.18.0.9"} <= set(incident.addresses)


def test_sites_and_assets_come_from_the_model(model: HospitalModel) -> None:
    dets = [
        det(
            0,
            "high",
            ("attack.lateral-movement",),
            "svc",
            Computer="fs-cen01.chu-loire.example",
            IpAddress="10.10.32.21",
        ),
        det(
            60,
            "high",
            ("attack.lateral-movement",),
            "svc",
            Computer="bkp-nord01",
            IpAddress="10.10.32.21",
        ),
    ]
    (incident,) = group_incidents(dets, model=model)
    assert incident.sites == ("cen", "nord")
    assert {"file-servers", "backup-servers"} <= set(incident.assets)


def test_untimed_and_low_detections_are_left_out_on_request() -> None:
    untimed = Detection("u", "u", "high", None, ())
    low = det(0, "low", (), "low", Computer="pc-a")
    high = det(5, "high", (), "high", Computer="pc-b")
    incidents = group_incidents([untimed, low, high], min_level="medium")
    assert [i.timeline[0].rule_title for i in incidents] == ["high"]
    assert incidents[0].chain[0].tactic.name == "Other"
    assert incidents[0].to_dict()["by_level"] == {"high": 1}


def test_a_serious_rule_repeated_across_a_site_is_one_wave(model: HospitalModel) -> None:
    tags = ("attack.impact",)
    dets = [
        det(0, "high", tags, "vss", Computer="fs-cen01"),
        det(120, "high", tags, "vss", Computer="fs-cen02"),
        det(240, "high", tags, "vss", Computer="fs-cen03"),
        det(300, "high", tags, "vss", Computer="dc-nord01"),  # another site
        det(9000, "high", tags, "vss", Computer="fs-cen02"),  # too late for the wave or host
        det(60, "medium", tags, "note", Computer="pc-cen-0001"),
        det(90, "medium", tags, "note", Computer="pc-cen-0003"),  # medium: no wave
    ]
    incidents = group_incidents(dets, model=model)
    hosts = sorted(i.hosts for i in incidents)
    assert hosts == [
        ("dc-nord01",),
        ("fs-cen01", "fs-cen02", "fs-cen03"),
        ("fs-cen02",),
        ("pc-cen-0001",),
        ("pc-cen-0003",),
    ]


@given(
    st.text(alphabet=st.sampled_from("aZ0.:$-\\ \t1fe"), max_size=40)
    | st.sampled_from(["10.0.0.5", "::1", "WS01.corp.local.", "SYSTEM", "corp\\Bob", "ws01$"])
)
def test_entity_keys_remembered_equal_those_worked_out(value: str) -> None:
    """Keys are remembered by value (a stream names the same machines again and again); a
    value asked twice, and a value too long to be remembered, get the key worked out."""
    from sentinelle.incidents import entities as ent

    for remembered in (ent._host_key, ent._address_key, ent._account_key):
        plain = remembered.__wrapped__  # type: ignore[attr-defined]  # the key worked out
        assert remembered(value) == remembered(value) == plain(value)
        long = value + " " * ent._KEY_CACHED_CHARS + "x"
        assert remembered(long) == plain(long)
