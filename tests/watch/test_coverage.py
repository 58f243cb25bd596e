"""Coverage: which rules can fire on the events received, what each lacks, per technique."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from sentinelle.engine import ir, load_compiled
from sentinelle.watch.coverage import assess_coverage, coverage_layer, satisfiable

RULES = {
    "dump.yml": """
title: Credential dumping on the command line
id: 00000000-0000-4000-8000-0000000000c1
status: test
level: high
tags: [attack.credential-access, attack.t1003.001]
logsource: {product: windows, category: process_creation}
detection:
  selection: {CommandLine|contains: sekurlsa}
  condition: selection
""",
    "drop.yml": """
title: Executable dropped in a user folder
id: 00000000-0000-4000-8000-0000000000c2
status: test
level: medium
tags: [attack.t1105]
logsource: {product: windows, category: file_event}
detection:
  selection: {TargetFilename|endswith: .exe}
  condition: selection
""",
    "run.yml": """
title: Run key written
id: 00000000-0000-4000-8000-0000000000c3
status: test
level: medium
tags: [attack.t1547.001]
logsource: {product: windows, category: registry_set}
detection:
  selection: {TargetObject|contains: CurrentVersion\\\\Run}
  condition: selection
""",
    "logon.yml": """
title: Network logon with explicit credentials
id: 00000000-0000-4000-8000-0000000000c4
status: test
level: low
tags: [attack.t1078]
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624, LogonType: 3}
  filter: {TargetUserName|endswith: $}
  condition: selection and not filter
""",
}


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name, text in RULES.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A hospital without Sysmon, whose 4688 events lack the command line."""
    events = [
        {"Channel": "Security", "EventID": 4688, "Computer": "pc-cen-0001",
         "NewProcessName": "C:\\\\Windows\\\\cmd.exe", "SubjectUserName": "alice"},
        {"Channel": "Security", "EventID": 4624, "Computer": "dc-cen01", "LogonType": 3,
         "TargetUserName": "bob", "IpAddress": "10.10.16.5"},
    ]  # fmt: skip
    path = tmp_path / "logs" / "security.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events * 5) + b"\n")
    return path.parent


def test_what_can_fire_what_cannot_and_what_is_missing(rules: Path) -> None:
    plan = load_compiled([rules]).plan
    census = {
        ("security", 4688): {"NewProcessName", "SubjectUserName", "Computer"},
        ("security", 4624): {"LogonType", "TargetUserName", "Computer"},
    }
    coverage = assess_coverage(plan, census)
    fire = {r.rule.title: r for r in coverage.rules}
    assert fire["Network logon with explicit credentials"].can_fire
    assert fire["Network logon with explicit credentials"].fires_on == ["Security"]
    dump = fire["Credential dumping on the command line"]
    assert not dump.can_fire
    assert {n.label for n in dump.needs} == {
        "Sysmon",
        "Security 4688 with CommandLine",
    }
    assert dict(coverage.suggestions()) == {
        "Sysmon": 3,
        "Security 4688 with CommandLine": 1,
    }
    by_technique = {t.technique: (t.rules, t.firing) for t in coverage.techniques()}
    assert by_technique == {"T1003.001": (1, 0), "T1105": (1, 0), "T1547.001": (1, 0),
                            "T1078": (1, 1)}  # fmt: skip
    # With Sysmon's process creation received, the dumping rule can fire there.
    census[("microsoft-windows-sysmon/operational", 1)] = {"CommandLine", "Image"}
    again = assess_coverage(plan, census)
    assert {r.rule.title for r in again.firing} >= {"Credential dumping on the command line"}
    labels = dict(again.suggestions())
    assert labels["Sysmon 11 (file creation)"] == 1 and labels["Sysmon 13 (registry values)"] == 1


def test_presence_semantics() -> None:
    test = ir.Leaf(ir.Atom("CommandLine", ir.Pattern(("x",))))
    absent = ir.Leaf(ir.Atom("Hashes", ir.Exists(False)))
    assert not satisfiable(test, {"Image"}) and satisfiable(test, {"CommandLine"})
    assert satisfiable(ir.Not(test), set()) and satisfiable(absent, set())
    assert satisfiable(ir.Or((test, absent)), set())
    assert not satisfiable(ir.And((test, absent)), set())


def test_the_layer_scores_rules_that_can_fire(rules: Path) -> None:
    plan = load_compiled([rules]).plan
    coverage = assess_coverage(plan, {("security", 4624): {"LogonType", "TargetUserName"}})
    layer = coverage_layer(coverage, "the test hospital")
    assert layer["versions"]["layer"] == "4.5" and layer["domain"] == "enterprise-attack"
    cells = {t["techniqueID"]: t for t in layer["techniques"]}
    assert cells["T1078"]["score"] == 1
    assert cells["T1105"]["score"] == 0 and cells["T1105"]["comment"].startswith("blind")
    assert cells["T1003"]["showSubtechniques"] is True  # the parent of a scored sub-technique
    assert "1 of 4 rules can fire" in layer["description"]


def test_coverage_command_on_a_folder_of_logs(rules: Path, logs: Path, tmp_path: Path) -> None:
    layer = tmp_path / "coverage.json"
    got = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "coverage", "-r", str(rules),
         "--layer", str(layer), str(logs)],
        capture_output=True, text=True, timeout=120, check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert "1 of 4 rules can fire on 10 events of 1 files" in got.stdout
    assert "Security 4688 with CommandLine" in got.stdout
    assert orjson.loads(layer.read_bytes())["name"].startswith("Sentinelle coverage of")
    as_json = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "coverage", "-r", str(rules),
         "--format", "json", str(logs)],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    record = orjson.loads(as_json.stdout)
    assert record["can_fire"] == 1 and record["rules"] == 4
    assert {"source": "Sysmon", "rules": 3} in record["missing"]


SEED = """
import sys
from pathlib import Path
from sentinelle.web import configure
configure(Path(sys.argv[1]), migrate=True)
from sentinelle.web.watch.models import SeenFields
SeenFields.objects.create(channel="security", event_id=4624, fields=["LogonType"], events=7)
"""


def test_coverage_command_from_the_service_store(rules: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        )  # fmt: skip

    empty = run("-m", "sentinelle.cli.main", "coverage", "-r", str(rules),
                "--data-dir", str(tmp_path / "none"))  # fmt: skip
    assert empty.returncode == 2 and "no service data in" in empty.stderr
    data = tmp_path / "data"
    seeded = run("-c", SEED, str(data))
    assert seeded.returncode == 0, seeded.stderr
    got = run("-m", "sentinelle.cli.main", "coverage", "-r", str(rules), "--data-dir", str(data))
    assert got.returncode == 0, got.stderr
    assert "1 of 4 rules can fire on 7 events received in 1 kinds" in got.stdout
    later = run("-m", "sentinelle.cli.main", "coverage", "-r", str(rules), "--data-dir",
                str(data), "--since", "2999-01-01")  # fmt: skip
    assert later.returncode == 2 and "nothing to judge coverage from" in later.stderr
