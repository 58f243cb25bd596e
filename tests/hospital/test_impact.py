"""The impact engine on the worked example: containment actions, compromises, outages."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from sentinelle.detections import Detection
from sentinelle.errors import ConfigError
from sentinelle.events import event_from_mapping
from sentinelle.hospital import (
    ContainmentAction,
    HospitalModel,
    ServiceState,
    assess,
    assets_for_detection,
    locate_detection,
    parse_action,
)
from sentinelle.hospital.impact import compromise_key
from sentinelle.hospital.locate import SOURCE_IS_SUBJECT

DOWN = ServiceState.DOWN
DEGRADED = ServiceState.DEGRADED
AT_RISK = ServiceState.AT_RISK
OK = ServiceState.OPERATIONAL


def test_cutting_the_internet_link(chu: HospitalModel) -> None:
    """The issue's test: what cutting the internet costs, and what it must not cost."""
    report = assess(chu, actions=[parse_action("cut:internet")])
    for service in ("external-email", "appointment-booking", "remote-access", "public-website"):
        assert set(report.states(service).values()) == {DOWN}, service
        assert len(report.states(service)) == 9
    for service in ("patient-record", "imaging", "laboratory"):
        assert set(report.states(service).values()) == {OK}, service
        assert len(report.states(service)) == 9
    booking = report.entry("appointment-booking", "snz")
    assert booking is not None
    assert booking.path == ("appointment-booking", "internet")
    assert booking.cause == "cut by containment action cut:internet"
    assert booking.runbook == "runbooks/appointment-booking.md"


def test_cutting_the_internet_spares_everything_that_does_not_need_it(
    chu: HospitalModel,
) -> None:
    report = assess(chu, actions=["cut:internet"])
    needs_internet = {"external-email", "appointment-booking", "remote-access", "public-website"}
    for entry in report.entries:
        if entry.component not in needs_internet:
            assert entry.state is OK, entry.reason


def test_isolating_a_site_cuts_it_from_central_services(chu: HospitalModel) -> None:
    report = assess(chu, actions=["isolate:snz"])
    # Central services, hosted in the main data centre, are out of reach from the site...
    for service in ("patient-record", "imaging", "laboratory", "internal-email", "file-shares"):
        entry = report.entry(service, "snz")
        assert entry is not None and entry.state is DOWN, service
        assert entry.path == (service, "wan:snz")
        assert report.state(service, "cen") is OK
        assert report.state(service, "cht") is OK
    # ...the internet too, since it goes out through the main data centre.
    booking = report.entry("appointment-booking", "snz")
    assert booking is not None and booking.path == ("appointment-booking", "internet", "wan:snz")
    # The site's own systems keep working, in degraded mode when a soft dependency is gone.
    emergency = report.entry("emergency", "snz")
    assert emergency is not None and emergency.state is DEGRADED
    assert emergency.path[:2] == ("emergency", "patient-record")
    assert "soft dependency" in emergency.note
    assert report.state("telephony", "snz") is DEGRADED  # internal calls only
    assert report.state("workstations", "snz") is OK  # logon on the site's own controller
    assert report.state("patient-monitoring", "snz") is DEGRADED


def test_isolating_the_main_site_cuts_every_other_site(chu: HospitalModel) -> None:
    report = assess(chu, actions=["isolate:cen"])
    assert report.state("patient-record", "cen") is OK
    assert report.state("external-email", "cen") is OK  # the internet link is at cen
    for site in chu.sites:
        if site != "cen":
            assert report.state("patient-record", site) is DOWN
            assert report.state("appointment-booking", site) is DOWN


def test_disabling_the_directory_takes_most_things_down(chu: HospitalModel) -> None:
    report = assess(chu, actions=["disable:directory"])
    counts = report.counts()
    assert counts["down"] > len(report.entries) * 0.6
    for service in ("patient-record", "imaging", "laboratory", "workstations", "remote-access"):
        assert set(report.states(service).values()) == {DOWN}, service
    entry = report.entry("patient-record", "ger")
    assert entry is not None
    assert entry.path == ("patient-record", "directory")
    assert entry.cause == "cut by containment action disable:directory"
    # What does not use the directory keeps working.
    for service in ("telephony", "patient-monitoring", "appointment-booking", "public-website"):
        assert set(report.states(service).values()) == {OK}, service


def test_shutting_remote_access_by_role(chu: HospitalModel) -> None:
    report = assess(chu, actions=["shut:remote-access"])
    assert set(report.states("remote-access").values()) == {DOWN}
    assert report.counts()["down"] == 9


def test_compromised_host_puts_its_services_and_their_dependents_at_risk(
    chu: HospitalModel,
) -> None:
    report = assess(chu, compromised=["DPI-APP01.chu-loire.example"])
    entry = report.entry("patient-record", "nord")
    assert entry is not None and entry.state is AT_RISK and entry.at_risk
    assert entry.path == ("patient-record", "asset:dpi-servers", "host:dpi-app01")
    assert entry.cause == "host dpi-app01 compromised"
    # The pharmacy and the emergency departments use the record: at risk through it.
    assert set(report.states("pharmacy").values()) == {AT_RISK}
    emergency = report.entry("emergency", "mere")
    assert emergency is not None and emergency.path[:2] == ("emergency", "patient-record")
    assert set(report.states("laboratory").values()) == {OK}
    assert report.compromised == ["DPI-APP01.chu-loire.example"]


def test_compromised_domain_controller_puts_nearly_everything_at_risk(
    chu: HospitalModel,
) -> None:
    report = assess(chu, compromised=["10.60.0.9"])  # dc-snz01, by its address
    # Replicas share credentials: every site's directory is at risk, not only Saint-Nazaire's.
    assert set(report.states("workstations").values()) == {AT_RISK}
    assert set(report.states("telephony").values()) == {OK}


def test_at_risk_is_kept_beside_a_worse_state(chu: HospitalModel) -> None:
    report = assess(chu, compromised=["dpi-db01"], actions=["isolate:mere"])
    entry = report.entry("patient-record", "mere")
    assert entry is not None and entry.state is DOWN and entry.at_risk
    assert entry.risk_path == ("patient-record", "asset:dpi-servers", "host:dpi-db01")
    assert "also at risk" in entry.reason


def test_some_machines_down_degrade_all_of_them_down_stops(chu: HospitalModel) -> None:
    some = assess(chu, unavailable=["esx-dc1-03"])
    assert some.state("patient-record", "cen") is DEGRADED
    assert some.state("hypervisors-dc1", "cen") is DEGRADED
    every = [f"esx-dc1-0{i}" for i in range(1, 9)]
    report = assess(chu, unavailable=every)
    entry = report.entry("patient-record", "psy")
    assert entry is not None and entry.state is DOWN
    assert entry.path[:3] == ("patient-record", "hypervisors-dc1", "asset:esx-dc1")
    assert report.state("telephony", "psy") is OK


def test_a_workstation_down_never_takes_a_whole_pattern_asset_down(chu: HospitalModel) -> None:
    report = assess(chu, unavailable=["pcc-cht-0001", "pc-cht-0002"])
    assert report.state("workstations", "cht") is DEGRADED
    assert report.state("workstations", "snz") is OK


def test_replicated_directory_fails_over_to_another_site(chu: HospitalModel) -> None:
    lost_dc = assess(chu, unavailable=["dc-snz01"])
    assert lost_dc.state("workstations", "snz") is OK  # served by another controller
    assert lost_dc.state("directory", "snz") is OK
    alone = assess(chu, unavailable=["dc-snz01"], actions=["isolate:snz"])
    entry = alone.entry("workstations", "snz")
    assert entry is not None and entry.state is DOWN
    assert entry.path[:2] == ("workstations", "directory@snz")


def test_cutting_one_instance_of_a_local_service(chu: HospitalModel) -> None:
    report = assess(chu, actions=["cut:telephony@snz"])
    assert report.states("telephony") == {
        site: (DOWN if site == "snz" else OK) for site in chu.sites
    }
    assert report.actions == ["cut:telephony@snz"]


def test_unavailable_component_and_unknown_names(chu: HospitalModel) -> None:
    report = assess(chu, unavailable=["storage-dc1", "no-such-host"], compromised=["8.8.8.8"])
    assert report.state("patient-record", "cen") is DOWN
    assert report.unresolved == [
        "unavailable 'no-such-host': matches no component, asset or host",
        "compromised '8.8.8.8': matches no component, asset or host",
    ]


def test_actions_on_unknown_targets_are_errors(chu: HospitalModel) -> None:
    with pytest.raises(ConfigError, match="'internt' is no service"):
        assess(chu, actions=["cut:internt"])
    with pytest.raises(ConfigError, match="unknown site 'paris'"):
        assess(chu, actions=["isolate:paris"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cut:internet", ContainmentAction("cut", "internet")),
        ("isolate-site:snz", ContainmentAction("isolate", "snz")),
        (" Shut : remote-access ", ContainmentAction("shut", "remote-access")),
        ("disable:directory", ContainmentAction("disable", "directory")),
        ("cut:telephony@snz", ContainmentAction("cut", "telephony", "snz")),
    ],
)
def test_parse_action(text: str, expected: ContainmentAction) -> None:
    assert parse_action(text) == expected


@pytest.mark.parametrize("text", ["internet", "burn:internet", "cut:", "isolate:a@b", "cut:x@"])
def test_parse_action_refuses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_action(text)


def test_report_is_json_ready_and_deterministic(chu: HospitalModel) -> None:
    kwargs = {"compromised": ["dc-cen01"], "actions": ["cut:internet", "isolate:cht"]}
    first = assess(chu, **kwargs).to_dict()
    second = assess(chu, **kwargs).to_dict()
    assert orjson.dumps(first) == orjson.dumps(second)
    services = first["services"]
    assert [(e["component"], e["site"]) for e in services][:3] == [
        ("patient-record", "cen"),
        ("patient-record", "nord"),
        ("patient-record", "mere"),
    ]
    assert {e["state"] for e in services} == {"down", "at-risk", "degraded", "operational"}
    assert sum(first["counts"].values()) == len(services)


def test_assets_for_detection_by_host_then_ip(chu: HospitalModel) -> None:
    found = assets_for_detection(chu, "PCC-NORD-0042.chu-loire.example", "10.10.0.20", None)
    assert [a.id for a in found] == ["ws-clinical-nord", "dpi-servers"]
    assert assets_for_detection(chu, None, "203.0.113.5")[0].id == "edge-firewalls"
    assert assets_for_detection(chu, "unknown", "192.0.2.7") == []


def test_locate_detection_uses_the_victim_side(chu: HospitalModel) -> None:
    logon = Detection(
        rule_id="r1",
        rule_title="Remote service created",
        level="high",
        timestamp=0.0,
        event=event_from_mapping(
            {"Computer": "FS-CEN02.chu-loire.example", "IpAddress": "10.10.16.7"}
        ),
    )
    assert [a.id for a in locate_detection(chu, logon)] == ["file-servers"]
    flood = Detection(
        rule_id="net-flood-start",
        rule_title="Network flood started",
        level="high",
        timestamp=0.0,
        rule_type="network",
        group={"dst_ip": "203.0.113.3"},
    )
    [edge] = locate_detection(chu, flood)
    assert edge.id == "edge-firewalls" and edge.carries == ("internet",)
    report = assess(chu, compromised=[a.id for a in locate_detection(chu, logon)])
    assert set(report.states("file-shares").values()) == {AT_RISK}


def test_an_exfiltration_is_about_the_internal_host_that_sends(chu: HospitalModel) -> None:
    """The exfiltration detector groups by the internal sender; its flows' destinations are
    outside. A scan's source stays unused: it may be the attacker's own machine."""
    from sentinelle.network.exfil import EXFIL_RULE_ID

    assert EXFIL_RULE_ID in SOURCE_IS_SUBJECT
    flow = event_from_mapping({"src_ip": "10.10.0.20", "dst_ip": "198.51.100.9"})
    exfil = Detection(
        rule_id=EXFIL_RULE_ID,
        rule_title="Unusual outbound volume from an internal host",
        level="high",
        timestamp=0.0,
        rule_type="network",
        group={"src_ip": "10.10.0.20"},
        events=(flow,),
    )
    assert [a.id for a in locate_detection(chu, exfil)] == ["dpi-servers"]
    scan = replace(exfil, rule_id="net-scan-hosts", group={"src_ip": "10.10.0.20"})
    assert locate_detection(chu, scan) == []


def test_instance_cuts_must_name_a_site_where_the_component_runs(chu: HospitalModel) -> None:
    with pytest.raises(ConfigError, match="patient-record has no instance at snz"):
        assess(chu, actions=["cut:patient-record@snz"])
    report = assess(chu, unavailable=["patient-record@snz", "directory@snz"])
    assert report.unresolved == [
        "unavailable 'patient-record@snz': matches no component, asset or host"
    ]
    assert report.state("directory", "snz") is OK  # another controller answers
    # An external service has an instance wherever it is used.
    cut = assess(chu, actions=["cut:appointment-booking@ehp"])
    assert cut.state("appointment-booking", "ehp") is DOWN
    assert cut.state("appointment-booking", "cht") is OK


def test_changes_since_gives_what_the_containment_cost(chu: HospitalModel) -> None:
    detected = assess(chu, compromised=["vpn-gw01"])
    contained = assess(chu, compromised=["vpn-gw01"], actions=["cut:internet"])
    changes = contained.changes_since(detected)
    changed = {(e.component, old, e.state) for old, e in changes}
    assert changed == {
        ("external-email", OK, DOWN),
        ("appointment-booking", OK, DOWN),
        ("public-website", OK, DOWN),
        ("remote-access", AT_RISK, DOWN),
    }
    assert len(changes) == 4 * 9
    used_at_ehp = [s.id for s in chu.services.values() if "ehp" in s.used_at]
    assert [e.component for e in contained.by_site()["ehp"]] == used_at_ehp
    assert "emergency" not in used_at_ehp  # the nursing home has no emergency department


def test_a_single_name_may_be_passed_as_a_string(chu: HospitalModel) -> None:
    report = assess(chu, compromised="dc-cen01", actions="cut:internet")
    assert report.compromised == ["dc-cen01"] and report.actions == ["cut:internet"]
    assert report.unresolved == []


def test_a_flood_on_the_edge_degrades_then_the_cut_takes_down(chu: HospitalModel) -> None:
    # The Nantes night: a flood on the edge's public address, then the internet link cut.
    flood = assess(chu, degraded=["203.0.113.5"])
    entry = flood.entry("external-email", "cen")
    assert entry is not None and entry.state is DEGRADED
    assert entry.path == ("external-email", "internet", "asset:edge-firewalls", "host:203.0.113.5")
    assert entry.cause == "host 203.0.113.5 degraded"
    assert set(flood.states("appointment-booking").values()) == {DEGRADED}
    assert set(flood.states("patient-record").values()) == {OK}
    cut = assess(chu, degraded=["203.0.113.5"], actions=["cut:internet"])
    assert {(e.component, old, e.state) for old, e in cut.changes_since(flood)} == {
        (service, DEGRADED, DOWN)
        for service in ("external-email", "remote-access", "appointment-booking", "public-website")
    }
    assert assess(chu, degraded=["internet"]).state("remote-access", "ger") is DEGRADED
    assert flood.degraded == ["203.0.113.5"]


def test_a_component_can_be_reported_compromised(chu: HospitalModel) -> None:
    report = assess(chu, compromised=["directory"])
    entry = report.entry("file-shares", "adm")
    assert entry is not None and entry.state is AT_RISK
    assert entry.path == ("file-shares", "directory")
    assert entry.cause == "reported compromised"
    assert set(report.states("telephony").values()) == {OK}


def test_compromise_key_tells_apart_exactly_what_changes_the_states(chu: HospitalModel) -> None:
    """A remembered assessment is reused for the same key: names the model does not know
    and another host of an asset already named change no state, a new asset or component
    does. Equal keys give equal states and risks; different ones here do not."""

    def states(names: list[str]) -> list[tuple[str, str, str, bool]]:
        report = assess(chu, compromised=names)
        return [(e.site, e.component, str(e.state), e.at_risk) for e in report.entries]

    base = ["www01"]
    same = [["www01", "nowhere-7", "ws-unknown-9"], ["www02", "www01"], ["WWW01.example."]]
    for names in same:
        assert compromise_key(chu, names) == compromise_key(chu, base)
        assert states(names) == states(base)
    for names in (["www01", "dc-nord01"], ["web-servers"], []):
        assert compromise_key(chu, names) != compromise_key(chu, base)
    assert states(["www01", "dc-nord01"]) != states(base)
