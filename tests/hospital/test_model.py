"""Loading hospital models: the worked example, and every kind of mistake with its file:line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sentinelle.errors import ConfigError
from sentinelle.hospital import (
    Criticality,
    HospitalModel,
    ModelError,
    Placement,
    load_model,
    parse_duration,
)
from sentinelle.hospital.yamltree import MAX_DEPTH
from tests.hospital.conftest import SMALL_MODEL

Writer = Callable[..., Path]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ModelError) as info:
        load_model(path)
    return [str(p) for p in info.value.problems]


# -- the worked example -------------------------------------------------------------------------


def test_worked_example_is_a_nine_site_chu_in_three_towns(chu: HospitalModel) -> None:
    assert len(chu.sites) == 9
    assert {s.town for s in chu.sites.values()} == {"Nantes", "Saint-Nazaire", "Châteaubriant"}
    assert sum(s.staff for s in chu.sites.values()) == chu.staff == 13000
    assert {"office", "clinical", "biomedical", "servers", "dmz"} <= {
        z.kind for z in chu.zones.values()
    }


def test_worked_example_has_the_services_a_chu_runs(chu: HospitalModel) -> None:
    expected = {
        "patient-record",
        "imaging",
        "laboratory",
        "pharmacy",
        "emergency",
        "internal-email",
        "external-email",
        "remote-access",
        "appointment-booking",
        "telephony",
        "public-website",
    }
    assert expected <= set(chu.services)
    for role in ("internet", "directory", "remote-access", "mail-relay"):
        assert chu.resolve_component(role) is not None, role
    for infra in ("dns", "hypervisors-dc1", "storage-dc1", "messaging-provider"):
        assert infra in chu.infrastructure
    assert chu.services["appointment-booking"].placement is Placement.EXTERNAL
    assert chu.infrastructure["directory"].placement is Placement.REPLICATED


def test_every_vital_or_major_service_has_a_markdown_runbook(chu: HospitalModel) -> None:
    for service in chu.services.values():
        assert service.owner and service.on_call and service.rto_seconds
        if service.criticality in (Criticality.VITAL, Criticality.MAJOR):
            text = chu.runbook_text(service.id)
            assert text is not None and text.startswith("# "), service.id
            assert "ext." in text or "call" in text.lower(), f"{service.id}: who to call"


def test_example_hosts_locate_back_to_their_asset(chu: HospitalModel) -> None:
    for asset in chu.assets.values():
        names = asset.example_hosts(3)
        assert names, f"{asset.id} gives the scenario generator no host name"
        for name in names:
            assert chu.locate_host(name.upper() + ".chu-loire.example") is asset


def test_hosts_for_service_names_the_carrying_machines(chu: HospitalModel) -> None:
    assert chu.hosts_for_service("patient-record")[:2] == ["dpi-app01", "dpi-app02"]
    assert chu.hosts_for_service("directory", site="snz") == ["dc-snz01"]
    assert chu.hosts_for_service("workstations", site="cht", limit=2) == [
        "pcc-cht-0001",
        "pcc-cht-0002",
    ]


def test_locate_ip_prefers_the_most_specific_range(chu: HospitalModel) -> None:
    dpi = chu.locate_ip("10.10.0.20")
    assert dpi is not None and dpi.id == "dpi-servers"
    assert chu.locate_host("10.10.0.20") is dpi
    web = chu.locate_ip("203.0.113.17")
    assert web is not None and web.id == "web-servers"
    assert chu.locate_ip("192.0.2.1") is None
    assert chu.locate_ip("not an ip") is None
    assert chu.locate_host("unknown-host") is None


# -- mistakes, each reported with file:line -----------------------------------------------------


def test_unknown_service_reported_with_file_and_line(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("depends_on: [db]", "depends_on: [db, dbx]")
    path = write_model(text)
    line = line_of(text, "depends_on: [db, dbx]")
    assert problems_of(path) == [
        f"{path}:{line}: app depends on unknown service or infrastructure component 'dbx'"
    ]


def test_asset_carrying_unknown_service_is_located(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("carries: [app]}", "carries: [app, pacs]}")
    path = write_model(text)
    line = line_of(text, "carries: [app, pacs]")
    assert problems_of(path) == [f"{path}:{line}: asset app-servers carries unknown service 'pacs'"]


def test_dependency_cycle_reported_with_its_path(write_model: Writer) -> None:
    text = SMALL_MODEL.replace(
        "  - {id: db, name: Database, site: a}",
        "  - {id: db, name: Database, site: a, depends_on: [storage]}\n"
        "  - {id: storage, name: Storage, site: a, depends_on: [app]}",
    )
    path = write_model(text)
    line = line_of(text, "depends_on: [db]")
    assert problems_of(path) == [f"{path}:{line}: dependency cycle: app -> db -> storage -> app"]


def test_self_dependency_is_a_cycle(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("depends_on: [db]", "depends_on: [db, app]")
    path = write_model(text)
    assert problems_of(path) == [
        f"{path}:{line_of(text, 'depends_on: [db, app]')}: dependency cycle: app -> app"
    ]


def test_duplicate_ids_point_at_the_second_one(write_model: Writer) -> None:
    text = SMALL_MODEL + "  - {id: db-servers, site: b, zone: srv, hosts: [db02]}\n"
    path = write_model(text)
    first = line_of(text, "{id: db-servers")
    second = line_of(text, "{id: db-servers", 2)
    assert problems_of(path) == [
        f"{path}:{second}: duplicate asset id 'db-servers' (first at line {first})"
    ]


def test_every_problem_is_collected_not_only_the_first(write_model: Writer) -> None:
    text = (
        SMALL_MODEL.replace("criticality: minor", "criticality: urgent")
        .replace("rto: 1h", "rto: soon")
        .replace("kind: servers", "kind: cloud")
        .replace("10.0.0.0/28", "10.0.0.1/28")
    )
    path = write_model(text)
    found = problems_of(path)
    assert len(found) == 4
    assert found[0].startswith(f"{path}:{line_of(text, 'kind: cloud')}: unknown zone kind 'cloud'")
    assert any(f":{line_of(text, 'urgent')}: criticality 'urgent'" in p for p in found)
    assert any(f":{line_of(text, 'rto: soon')}: rto 'soon' is not a duration" in p for p in found)
    assert any("IP range '10.0.0.1/28': 10.0.0.1/28 has host bits set" in p for p in found)
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: 4 problems in the hospital model:\n  {path}:")


def test_unknown_fields_are_typos_not_silently_ignored(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("depends_on: [db]", "depend_on: [db]")
    path = write_model(text)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(text, 'depend_on')}: unknown field 'depend_on'")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("site: a\n    depends_on", "site: z\n    depends_on"), "unknown site 'z'"),
        (("hosts: [db01]", "hosts: [db01.example.org]"), "write it without domain"),
        (("hosts: [db01]", "hosts: [app01]"), "host 'app01' belongs to both app-servers"),
        (("id: app\n", "id: App_1\n"), "use lower-case letters, digits and '-'"),
        (("    site: a\n    depends_on", "    depends_on"), "needs exactly one of 'site'"),
        (("[db]", "[{target: db, kind: optional}]"), "dependency kind 'optional'"),
        (("staff: 100}", "staff: -1}"), "hospital staff must be at least 0"),
        (("name: Application", "name: [a, b]"), "name must be a text value, not a list"),
        (("rto: 1h", "rto: 1h\n    role: db\n    used_at: [a, q]"), "unknown site 'q'"),
        (
            ("{id: db, name: Database, site: a}", "{id: db, name: Database, sites: [b]}"),
            "asset db-servers at site 'a' carries 'db', which has no instance there (sites: b)",
        ),
        (
            ("owner: someone", "owner: someone\n    role: x\n    replicated: true"),
            "'replicated' goes with 'sites', not 'site'",
        ),
        (("zone: srv, hosts: [db01]", "zone: srv, patterns: ['*']"), "would match every host"),
        (("ip_ranges: [10.0.0.0/28]", "ip_ranges: [10.0.0.0/33]"), "IP range '10.0.0.0/33'"),
        (("hosts: [db01], ip_ranges: [10.0.0.0/28], ", ""), "needs at least one of hosts"),
        (
            (
                "sites:\n  - {id: a, name: Site A, town: Town}\n"
                "  - {id: b, name: Site B, town: Town}",
                "sites: []",
            ),
            "the model declares no site",
        ),
    ],
)
def test_located_mistakes(write_model: Writer, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in SMALL_MODEL
    text = SMALL_MODEL.replace(old, new, 1)
    path = write_model(text)
    found = problems_of(path)
    assert any(message in p for p in found), found
    assert all(p.startswith(f"{path}:") and p.split(":")[1].isdigit() for p in found), found


def test_aliases_and_merge_keys_are_refused(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("zones:\n", "x-common: &common {kind: servers}\nzones:\n")
    text = text.replace("{id: srv, name: Servers, kind: servers}", "{id: srv, <<: *common}")
    path = write_model(text)
    with pytest.raises(ConfigError) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path}:{line_of(text, '<<: *common')}: YAML aliases (*name) are not allowed here"
    )


def test_deep_nesting_is_refused_without_recursion_error(write_model: Writer) -> None:
    path = write_model("hospital: " + "[" * 40 + "]" * 40 + "\n")
    with pytest.raises(ConfigError) as info:
        load_model(path)
    assert str(info.value) == f"{path}:1: nested deeper than {MAX_DEPTH} levels"
    # Far deeper: the parser itself may refuse it first (libyaml stops at 1,000 levels).
    path = write_model("hospital: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}:1: ") and "nest" in str(info.value)


def test_invalid_yaml_gives_the_line(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("zones:\n", "zones:\n  - {id: x, name: [unclosed\n")
    path = write_model(text)
    with pytest.raises(ConfigError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}:")
    assert "invalid YAML" in str(info.value)


def test_not_utf8_empty_missing_and_oversized_files(tmp_path: Path, write_model: Writer) -> None:
    bad = tmp_path / "latin1.yml"
    bad.write_bytes(b"hospital:\n  name: H\xf4pital\n")
    with pytest.raises(ConfigError, match=r"latin1\.yml:2: not valid UTF-8"):
        load_model(bad)
    control = tmp_path / "control.yml"
    control.write_bytes(b"hospital:\n  name: A\x00\n")
    with pytest.raises(ConfigError, match=r"control\.yml:2: character U\+0000 is not allowed"):
        load_model(control)
    with pytest.raises(ConfigError, match="the file is empty"):
        load_model(write_model("# nothing\n", "empty.yml"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(tmp_path / "missing.yml")
    big = tmp_path / "big.yml"
    big.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="more than"):
        load_model(big)


def test_python_tags_are_refused(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("owner: someone", "owner: !!python/name:os.system someone")
    path = write_model(text)
    found = problems_of(path)
    assert any("YAML tag 'tag:yaml.org,2002:python/name:os.system'" in p for p in found)


def test_runbooks_must_exist_inside_the_model_folder(write_model: Writer, tmp_path: Path) -> None:
    text = SMALL_MODEL.replace(
        "criticality: minor", "criticality: vital\n    runbook: ../outside.md"
    )
    path = write_model(text)
    assert problems_of(path) == [
        f"{path}:{line_of(text, 'runbook:')}: runbook '../outside.md': give a .md path"
        " relative to the model file"
    ]
    text = SMALL_MODEL.replace("criticality: minor", "criticality: vital\n    runbook: rb/app.md")
    path = write_model(text)
    assert "runbook 'rb/app.md' not found" in problems_of(path)[0]
    (tmp_path / "rb").mkdir()
    (tmp_path / "rb" / "app.md").write_text("no title\n", encoding="utf-8")
    assert "must start with a Markdown title" in problems_of(path)[0]
    (tmp_path / "rb" / "app.md").write_text("# App down\n\nCall ext. 1.\n", encoding="utf-8")
    model = load_model(path)
    assert model.runbook_text("app") == "# App down\n\nCall ext. 1.\n"


def test_vital_service_without_runbook_is_an_error(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("criticality: minor", "criticality: vital")
    path = write_model(text)
    assert problems_of(path) == [
        f"{path}:{line_of(text, '- id: app')}: vital service 'app' has no runbook"
        " (degraded-mode procedure)"
    ]


def test_local_component_needed_where_it_has_no_instance(write_model: Writer) -> None:
    # db runs only at site b, but app (at site a) needs it from site a.
    text = SMALL_MODEL.replace(
        "{id: db, name: Database, site: a}", "{id: db, name: Database, sites: [b]}"
    ).replace("site: a, zone: srv, hosts: [db01]", "site: b, zone: srv, hosts: [db01]")
    path = write_model(text)
    assert problems_of(path) == [
        f"{path}:{line_of(text, '{id: db,')}: db runs only at b (local), but app needs it at a"
    ]


def test_parse_duration() -> None:
    assert parse_duration("4h") == 4 * 3600
    assert parse_duration("30m") == 1800
    assert parse_duration("1d") == 86400
    assert parse_duration("2h30m") == 9000
    assert parse_duration("45min") == 2700
    assert parse_duration("soon") is None
    assert parse_duration("") is None


def test_a_role_belongs_to_one_component(write_model: Writer) -> None:
    text = SMALL_MODEL.replace("rto: 1h", "rto: 1h\n    role: internet").replace(
        "{id: db, name: Database, site: a}", "{id: db, name: Database, site: a, role: internet}"
    )
    path = write_model(text)
    assert problems_of(path) == [
        f"{path}:{line_of(text, '{id: db,')}: role 'internet' is given to both app and db"
    ]
