"""Generated scenarios: deterministic bytes, well-formed logs, machines the model knows, truth."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from sentinelle.hospital import HospitalModel, example_model_path, load_model
from sentinelle.readers import read_file
from sentinelle.scenarios import SCENARIOS, ScenarioError, generate_scenario, read_manifest
from sentinelle.scenarios import zeek as zeek_format

SCALE = 0.3  # small and quick; the generators do the same work per machine at any scale


@pytest.fixture(scope="module")
def model() -> HospitalModel:
    return load_model(example_model_path())


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: HospitalModel
) -> Path:
    out = tmp_path_factory.mktemp(request.param)
    generate_scenario(request.param, out, seed=11, scale=SCALE, model=model)
    return out


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes(
    generated: Path, tmp_path: Path, model: HospitalModel
) -> None:
    name = read_manifest(generated / "manifest.json").scenario
    again = tmp_path / "again"
    generate_scenario(name, again, seed=11, scale=SCALE, model=model)
    assert _digests(again) == _digests(generated)


def test_another_seed_gives_another_night(
    generated: Path, tmp_path: Path, model: HospitalModel
) -> None:
    name = read_manifest(generated / "manifest.json").scenario
    other = tmp_path / "other"
    generate_scenario(name, other, seed=12, scale=SCALE, model=model)
    first, second = _digests(generated), _digests(other)
    assert first.keys() & second.keys()
    assert any(first[k] != second.get(k) for k in first if k != "manifest.json")


def test_windows_files_are_evtx_json_lines_in_time_order(generated: Path) -> None:
    files = sorted((generated / "windows").rglob("*.jsonl"))
    assert files
    channels: set[str] = set()
    for path in files:
        last_time, last_record = "", 0
        for line in path.read_bytes().splitlines():
            system = orjson.loads(line)["Event"]["System"]
            channels.add(system["Channel"])
            stamp = system["TimeCreated"]["#attributes"]["SystemTime"]
            assert stamp >= last_time, path
            assert system["EventRecordID"] == last_record + 1 or last_record == 0, path
            last_time, last_record = stamp, system["EventRecordID"]
    assert {"Security", "Microsoft-Windows-Sysmon/Operational"} <= channels


def test_every_windows_machine_and_address_maps_back_to_the_model(
    generated: Path, model: HospitalModel
) -> None:
    for path in sorted((generated / "windows").rglob("*.jsonl")):
        first = orjson.loads(path.read_bytes().splitlines()[0])["Event"]["System"]
        asset = model.locate_host(first["Computer"])
        assert asset is not None, first["Computer"]
        assert asset.site in model.sites


def test_manifest_steps_name_model_hosts_and_sites(generated: Path, model: HospitalModel) -> None:
    manifest = read_manifest(generated / "manifest.json")
    assert manifest.attacks, "the full scenario has its attack"
    for attack in manifest.attacks:
        assert manifest.window_start < attack.start < manifest.window_end
        assert attack.steps[0].time == pytest.approx(attack.start)
        times = [s.time for s in attack.steps]
        assert times == sorted(times)
        for step in attack.steps:
            asset = model.locate_host(step.host)
            assert asset is not None and asset.site == step.site, step
            assert model.locate_ip(step.ip) is asset, step
    assert manifest.files == {k: v for k, v in manifest.files.items() if (generated / k).is_file()}


def test_zeek_logs_have_their_header_and_consistent_rows(generated: Path) -> None:
    for path in sorted((generated / "zeek").rglob("conn.log")):
        lines = path.read_text().splitlines()
        fields_line = next(line for line in lines if line.startswith("#fields"))
        assert fields_line.split("\t")[1:] == list(zeek_format.FIELDS)
        rows = [line.split("\t") for line in lines if not line.startswith("#")]
        assert rows and all(len(r) == len(zeek_format.FIELDS) for r in rows)
        ends = [float(r[0]) + (0.0 if r[8] == "-" else float(r[8])) for r in rows]
        assert ends == sorted(ends)  # written when each connection ends, as Zeek does
        assert lines[-1].startswith("#close")


def test_firewall_logs_are_rfc5424_with_fortios_payload(generated: Path) -> None:
    edge = (generated / "firewall" / "fw-edge01.log").read_text().splitlines()
    assert edge
    for line in edge[:200]:
        assert line.startswith("<") and ">1 " in line
        assert 'devname="FW-EDGE01"' in line and " logid=" in line and " type=" in line


def test_background_only_has_no_attack_and_no_attacker(
    tmp_path: Path, model: HospitalModel
) -> None:
    manifest = generate_scenario(
        "ransomware", tmp_path / "bg", seed=11, scale=SCALE, background_only=True, model=model
    )
    assert manifest.attacks == [] and manifest.containment == []
    text = "".join(p.read_text() for p in (tmp_path / "bg").rglob("*.*") if p.suffix != ".json")
    assert "198.51.100.23" not in text  # the sprayer
    assert ".hsp24" not in text and "comsvcs" not in text


def test_nantes_truth_matches_the_story(tmp_path: Path, model: HospitalModel) -> None:
    manifest = generate_scenario("nantes-2024", tmp_path / "n", seed=3, scale=0.1, model=model)
    (flood,) = manifest.attacks
    local_start = (flood.start + 3600) % 86400  # UTC+1
    assert 1 * 3600 + 20 * 60 <= local_start < 1 * 3600 + 21 * 60
    cut, restore = manifest.containment
    assert cut.actions == ("cut:internet",)
    assert 1.9 * 3600 < (cut.time + 3600) % 86400 < 2.1 * 3600
    assert restore.time > cut.time
    checks = (tmp_path / "n" / "monitoring" / "centreon.log").read_text().splitlines()
    after_cut = [c for c in checks if "2024-03-12T01:3" in c]  # 02:30-02:39 local
    assert any('component="external-email" state="CRITICAL"' in c for c in after_cut)
    assert any('component="patient-record" state="OK"' in c for c in after_cut)
    assert not any('component="patient-record" state="CRITICAL"' in c for c in checks)


def test_bad_parameters_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown scenario"):
        generate_scenario("nope", tmp_path / "x")
    with pytest.raises(ScenarioError, match="scale"):
        generate_scenario("ransomware", tmp_path / "x", scale=0)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "precious.txt").write_text("keep me")
    with pytest.raises(ScenarioError, match="not empty"):
        generate_scenario("ransomware", busy, scale=0.1)
    assert (busy / "precious.txt").read_text() == "keep me"


def test_the_readers_take_every_generated_file_without_a_problem(generated: Path) -> None:
    manifest = read_manifest(generated / "manifest.json")
    for rel, count in manifest.files.items():
        batches = list(read_file(generated / rel, batch_size=4096))
        issues = [str(i) for b in batches for i in b.issues]
        assert issues == [], rel
        events = [e for b in batches for e in b.events]
        assert len(events) == count, rel
        assert all(e.timestamp is not None for e in events), rel
        if rel.startswith("windows/"):
            assert {"EventID", "Channel", "Computer"} <= events[0].fields.keys()
        elif rel.startswith("firewall/"):
            assert events[0].fields.get("log_format") == "fortigate"
            assert "devname" in events[0].fields
        elif rel.startswith("zeek/"):
            assert {"src_ip", "dst_ip", "dst_port", "conn_state"} <= events[0].fields.keys()


def test_scenario_command_writes_and_reports(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sentinelle.cli.main import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["scenario", "ransomware", "--out", str(out), "--scale", "0.1", "--seed", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "attack ransomware-chain" in result.output
    assert "credential-access" in result.output and "manifest.json" in result.output
    assert read_manifest(out / "manifest.json").seed == 5
    bad = CliRunner().invoke(app, ["scenario", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0


def test_bytes_do_not_depend_on_the_process_hash_seed(tmp_path: Path, model: HospitalModel) -> None:
    import os
    import subprocess
    import sys

    here = tmp_path / "here"
    generate_scenario("nantes-2024", here, seed=8, scale=0.1, model=model)
    there = tmp_path / "there"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sentinelle.cli.main",
            "scenario",
            "nantes-2024",
            "--out",
            str(there),
            "--seed",
            "8",
            "--scale",
            "0.1",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    assert _digests(here) == _digests(there)


def test_a_broken_manifest_is_a_located_error(tmp_path: Path) -> None:
    bad_json = tmp_path / "a.json"
    bad_json.write_text("{not json")
    with pytest.raises(ScenarioError) as info:
        read_manifest(bad_json)
    assert str(bad_json) in str(info.value)
    missing = tmp_path / "b.json"
    missing.write_text('{"scenario": "ransomware"}')
    with pytest.raises(ScenarioError, match="malformed scenario manifest"):
        read_manifest(missing)
    with pytest.raises(ScenarioError, match="cannot read"):
        read_manifest(tmp_path / "absent.json")


def _without(model: HospitalModel, drop: str) -> HospitalModel:
    """The model without the assets whose id contains ``drop``."""
    return HospitalModel(
        name=model.name,
        staff=model.staff,
        domain=model.domain,
        source=model.source,
        sites=model.sites,
        zones=model.zones,
        services=model.services,
        infrastructure=model.infrastructure,
        assets={k: v for k, v in model.assets.items() if drop not in k},
    )


@pytest.mark.parametrize(
    ("drop", "message"),
    [("dc-", "no asset carrying the directory"), ("vpn", "no DMZ asset for the vpn role")],
)
def test_a_model_missing_what_a_scenario_needs_is_a_clear_error(
    model: HospitalModel, tmp_path: Path, drop: str, message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        generate_scenario("ransomware", tmp_path / "x", scale=0.1, model=_without(model, drop))
    assert not (tmp_path / "x" / "manifest.json").exists()
