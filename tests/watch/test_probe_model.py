"""Probes in the hospital model: the worked example's, and every mistake with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.hospital import ModelError, example_model_path, load_model
from sentinelle.hospital.probes import WAN, ProbeKind, parse_seconds
from tests.watch.probe_specs import model_with_probes


def test_the_worked_example_declares_probes_for_its_services_and_sites() -> None:
    model = load_model(example_model_path())
    kinds = {p.kind for p in model.probes.values()}
    assert kinds == set(ProbeKind)
    web = model.probes["dpi-web"]
    assert (web.component, web.site, web.interval, web.max_response) == (
        "patient-record",
        "cen",
        30.0,
        2.0,
    )
    assert web.maintenance and web.maintenance[0].timezone == "Europe/Paris"
    assert model.probes["wan-snz"].component == WAN and model.probes["wan-snz"].site == "snz"
    assert model.probes["urg-nord"].site == "nord"
    assert model.probes["rdv-api"].site == ""  # an external platform: everywhere
    vital = [s.id for s in model.services.values() if s.criticality == "vital"]
    watched = {p.component for p in model.probes.values()}
    assert {"patient-record", "imaging", "laboratory", "emergency"} <= watched
    assert set(vital) - watched <= {"patient-monitoring", "telephony"}


def test_defaults_and_ids(tmp_path: Path) -> None:
    model = model_with_probes(tmp_path, [{"tcp": "127.0.0.1:80"}, {"smtp": "mx.internal"}])
    tcp, smtp = model.probes.values()
    assert tcp.id == "web.tcp.cen" and tcp.interval == 60 and tcp.retries == 2
    assert smtp.port == 25 and smtp.timeout == 10


def test_seconds() -> None:
    assert parse_seconds("500ms") == 0.5
    assert parse_seconds("2m") == 120 and parse_seconds("45") == 45 and parse_seconds("1h") == 3600
    assert parse_seconds("soon") is None


BAD = [
    ({"tcp": "127.0.0.1"}, "tcp target '127.0.0.1': give host:port"),
    ({"http": "ftp://x.internal/"}, "give an http:// or https:// URL"),
    ({"http": "http://a/", "tcp": "a:1"}, "a probe needs exactly one of"),
    ({"icmp": "not a host!"}, "is not a host name or address"),
    ({"tcp": "a:1", "interval": "1s"}, "interval must be between 5s and 86400s"),
    ({"tcp": "a:1", "interval": "often"}, "interval 'often' is not a duration"),
    ({"tcp": "a:1", "interval": "30s", "timeout": "40s"}, "must be shorter than the interval"),
    ({"tcp": "a:1", "retries": 50}, "retries must be at most 10"),
    ({"tcp": "a:1", "expect_text": "x"}, "'expect_text' does not apply to a tcp probe"),
    ({"tcp": "a:1", "site": "snz"}, "web has no instance at 'snz'"),
    ({"tcp": "a:1", "colour": "red"}, "unknown field 'colour' in a probe"),
    ({"http": "http://a/", "expect_status": [700]}, "an HTTP status is between 100 and 599"),
    ({"dns": "a.internal", "record": "XYZ"}, "record 'XYZ': use one of"),
    ({"tcp": "a:1", "id": "Bad Id"}, "probe id 'Bad Id'"),
    (
        {
            "tcp": "a:1",
            "maintenance": [{"days": ["sunday", "funday"], "start": "02:00", "duration": "1h"}],
        },
        "day 'funday'",
    ),
    (
        {"tcp": "a:1", "maintenance": [{"days": "all", "start": "25:00", "duration": "1h"}]},
        "start '25:00': write the time as HH:MM",
    ),
    (
        {"tcp": "a:1", "maintenance": [{"from": "2025-03-02T04:00", "to": "2025-03-01T22:00"}]},
        "'to' must come after 'from'",
    ),
    (
        {
            "tcp": "a:1",
            "maintenance": [
                {"days": "all", "start": "02:00", "duration": "1h", "timezone": "Mars/Olympus"}
            ],
        },
        "unknown time zone 'Mars/Olympus'",
    ),
]


@pytest.mark.parametrize(("fields", "message"), BAD)
def test_mistakes_are_reported_with_their_line(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelError) as caught:
        model_with_probes(tmp_path, [fields])
    text = str(caught.value)
    assert message in text, text
    assert "model.yml:" in text


def test_every_mistake_at_once_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        model_with_probes(
            tmp_path,
            [{"tcp": "a:1"}, {"tcp": "b:2"}, {"id": "x", "tcp": "c:3"}, {"id": "x", "icmp": "d"}],
        )
    problems = [p.message for p in caught.value.problems]
    assert any("a second tcp probe of web@cen" in p for p in problems)
    assert any("duplicate probe id 'x'" in p for p in problems)


def test_replicated_components_need_the_site_and_sites_take_no_site(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="dns runs at cen, snz: say which site"):
        model_with_probes(tmp_path, [{"dns": "a.internal"}], owner="dns")
    with pytest.raises(ModelError, match="a site's probe watches that site"):
        model_with_probes(tmp_path, [{"icmp": "10.0.0.1", "site": "cen"}], owner="site:snz")
