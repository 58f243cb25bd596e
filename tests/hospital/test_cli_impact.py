"""``sentinelle impact`` and ``sentinelle model``, through the real command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import typer
from typer.testing import CliRunner

from sentinelle.cli.impact import register
from sentinelle.hospital import example_model_path
from tests.hospital.conftest import SMALL_MODEL, json_path

app = typer.Typer()
register(app)
runner = CliRunner()


def test_impact_table_for_an_internet_cut() -> None:
    result = runner.invoke(app, ["impact", "--cut", "internet"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "CHU de Loire-Atlantique (fictional) — cut:internet" in out
    assert "down at every site shown: external-email, remote-access, appointment-booking," in out
    assert "via internet (cut by containment action cut:internet)" in out
    assert "external-email: runbooks/email.md (RTO 24h" in out
    row = next(line for line in out.splitlines() if "patient-record" in line)
    assert row.count("ok") == 9 and "DOWN" not in row


def test_impact_json_with_sites_and_compromised_host() -> None:
    result = runner.invoke(
        app,
        [
            "impact",
            "--model",
            str(example_model_path()),
            "--isolate-site",
            "cht",
            "--compromised",
            "urg-cht01",
            "--site",
            "cht",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.output)
    assert data["actions"] == ["isolate:cht"]
    assert {e["site"] for e in data["services"]} == {"cht"}
    emergency = next(e for e in data["services"] if e["component"] == "emergency")
    assert emergency["state"] == "degraded"
    assert emergency["at_risk"] is True
    assert emergency["risk_via"] == "asset:ed-cht"
    assert json_path(data, emergency, "risk_via_step") == [
        "emergency",
        "asset:ed-cht",
        "host:urg-cht01",
    ]
    record = next(e for e in data["services"] if e["component"] == "patient-record")
    assert record["state"] == "down" and record["via"] == "wan:cht"
    assert json_path(data, record) == ["patient-record", "wan:cht"]
    # Counts follow --site: the 15 services of the worked example at one site.
    assert sum(data["counts"].values()) == len(data["services"]) == 15


def test_model_check_reports_ok_and_problems(tmp_path: Path) -> None:
    result = runner.invoke(app, ["model", "check", str(example_model_path())])
    assert result.exit_code == 0
    assert "OK: CHU de Loire-Atlantique (fictional): 9 sites" in result.output
    bad = tmp_path / "bad.yml"
    bad.write_text(SMALL_MODEL.replace("on: [db]", "on: [db, dbx]"), encoding="utf-8")
    # Through the real entry point: a model error is one message and exit status 2.
    proc = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "model", "check", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"sentinelle: error: {bad}:15: app depends on unknown service or infrastructure"
        " component 'dbx'\n"
    )


def _sentinelle(*args: str) -> subprocess.CompletedProcess[str]:
    """Through the real entry point, where a SentinelleError is one message and exit 2."""
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_unknown_host_is_an_error_with_the_close_names() -> None:
    # A typo must never read as "every service is operational".
    proc = _sentinelle("impact", "--compromised", "dc-cen1", "--format", "json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "sentinelle: error: compromised 'dc-cen1': no host, asset or component of that name"
        " in the model (did you mean 'dc-cen01' or 'dc-cen' or 'dc-cen02'?)\n"
    )
    proc = _sentinelle("impact", "--unavailable", "ghost-host", "--compromised", "zzz")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "sentinelle: error: 2 names match nothing in the model:",
        "  unavailable 'ghost-host': no host, asset or component of that name in the model",
        "  compromised 'zzz': no host, asset or component of that name in the model",
    ]
    result = runner.invoke(app, ["impact", "--shut", "remote-acess"])
    assert result.exit_code != 0
    assert "'remote-acess' is no service" in str(result.exception)


def test_explanations_name_the_links_and_the_legend_names_sites_and_services() -> None:
    result = runner.invoke(app, ["impact", "--isolate-site", "snz", "--isolate-site", "cht"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "<site>" not in out
    assert (
        "    via patient-record → the WAN link of each site (site isolated by containment"
        " action isolate:snz, isolate:cht); degraded, not down: a soft dependency"
    ) in out
    assert "Sites: cen Hôpital Central (Nantes) · nord " in out
    assert "Services: patient-record Dossier patient informatisé (clinical care software) · " in out
    result = runner.invoke(app, ["impact", "--isolate-site", "snz", "--site", "snz"])
    assert (
        "via the WAN link of snz (site isolated by containment action isolate:snz)" in result.output
    )


def test_each_explanation_names_its_own_sites() -> None:
    result = runner.invoke(
        app, ["impact", "--isolate-site", "snz", "--action", "cut:telephony@cht"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = lines.index("down at cht: telephony")
    assert lines[at + 1] == "    (cut by containment action cut:telephony@cht)"
    assert "down at snz: appointment-booking" in lines


def test_counts_follow_the_sites_shown() -> None:
    result = runner.invoke(app, ["impact", "--isolate-site", "snz", "--site", "snz"])
    assert result.exit_code == 0, result.output
    # The 15 services of the worked example at the one site shown, not the 127 of all sites.
    line = next(x for x in result.output.splitlines() if x.startswith("At "))
    assert line == "At the site shown: operational: 1  at risk: 0  degraded: 3  down: 11"
    result = runner.invoke(app, ["impact", "--isolate-site", "snz"])
    line = next(x for x in result.output.splitlines() if x.startswith("At "))
    assert line == "At every site: operational: 113  at risk: 0  degraded: 3  down: 11"


def test_a_deep_chain_is_explained_in_a_few_words(tmp_path: Path) -> None:
    from tests.hospital.test_impact_size import write_chain

    model = write_chain(tmp_path / "chain.yml", 60)
    result = runner.invoke(app, ["impact", "--model", str(model), "--unavailable", "h0"])
    assert result.exit_code == 0, result.output
    assert (
        "    via c58 → … 58 more … → asset a0 → host h0 (host h0 unavailable)"
    ) in result.output.splitlines()


def test_model_text_is_never_markup_nor_terminal_control(tmp_path: Path) -> None:
    model = tmp_path / "model.yml"
    text = SMALL_MODEL.replace("on_call: ext. 1", 'on_call: "[bold red]ext. 1[/] \\e]0;pwned\\a"')
    text = text.replace("name: Application", 'name: "App [link=http://x]here[/link]"')
    model.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["impact", "--model", str(model), "--cut", "db"])
    assert result.exit_code == 0, result.output
    assert "on call: [bold red]ext. 1[/] \\x1b]0;pwned\\x07)" in result.output
    assert "app App [link=http://x]here[/link]" in result.output
    assert "\x1b" not in result.output


def test_model_locate_and_runbook() -> None:
    result = runner.invoke(app, ["model", "locate", "PCC-SNZ-0001.chu-loire.example", "1.2.3.4"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "PCC-SNZ-0001.chu-loire.example: asset ws-clinical-snz at snz, zone clinical,"
        " carries workstations",
        "1.2.3.4: not in the model",
    ]
    result = runner.invoke(app, ["model", "runbook", "telephony"])
    assert result.exit_code == 0
    assert result.output.startswith("# Degraded mode: telephony unavailable")


def test_impact_infrastructure_matrix() -> None:
    result = runner.invoke(app, ["impact", "--isolate-site", "cen", "--infrastructure"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "│ pstn-trunk" in line)
    assert row.split("│")[3].strip() == "ok"  # at cen itself
    assert row.count("DOWN") == 8


def test_model_check_notes_what_is_valid_but_odd(tmp_path: Path) -> None:
    odd = tmp_path / "odd.yml"
    odd.write_text(SMALL_MODEL.replace("carries: [db]", "carries: []"), encoding="utf-8")
    result = runner.invoke(app, ["model", "check", str(odd)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "note: no asset carries db: machines can affect it only through its dependencies",
        "note: site b has no assets: detections there cannot be placed",
    ]
