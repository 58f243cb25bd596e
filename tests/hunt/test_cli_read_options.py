"""The hunt takes the readers' options as `events` does: symbolic links leaving the input
folder are reported and not followed unless `--follow-symlinks`, and `--read-limit` changes a
reader limit; the options reach forked workers too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hunt.helpers import ENCODED_POWERSHELL as RULE
from tests.hunt.helpers import hunt_env, run_hunt, security_4688


@pytest.fixture
def case(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A log folder whose only attack sits outside it, reached through a symbolic link."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    target = outside / "security.jsonl"
    target.write_text(
        json.dumps(security_4688(1, "ws-ane-07", "powershell -enc SQBFAFgA")) + "\n",
        encoding="utf-8",
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "linked.jsonl").symlink_to(target)
    (logs / "local.jsonl").write_text(
        json.dumps(security_4688(2, "ws-ane-07", "whoami")) + "\n", encoding="utf-8"
    )
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "encoded.yml").write_text(RULE, encoding="utf-8")
    return logs, rules, hunt_env(tmp_path / "home", COLUMNS="200")


def test_a_link_leaving_the_folder_is_reported_unless_followed(
    case: tuple[Path, Path, dict[str, str]],
) -> None:
    logs, rules, env = case
    base = ("--rules", str(rules), "-f", "jsonl", str(logs))
    refused = run_hunt(env, *base)
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout.strip() == ""
    assert "linked.jsonl" in refused.stderr and "link" in refused.stderr
    followed = run_hunt(env, "--follow-symlinks", *base)
    assert followed.returncode == 0, followed.stderr
    detections = [json.loads(line) for line in followed.stdout.splitlines()]
    assert [d["rule_title"] for d in detections] == ["Encoded PowerShell"]


def test_read_limits_reach_the_readers(case: tuple[Path, Path, dict[str, str]]) -> None:
    logs, rules, env = case
    local = logs / "local.jsonl"
    event = security_4688(3, "ws-ane-07", "powershell -enc AAAA")
    event["Event"]["EventData"].update({f"Extra{i}": str(i) for i in range(40)})
    local.write_text(json.dumps(event) + "\n", encoding="utf-8")
    base = ("--rules", str(rules), "-f", "jsonl", str(local))
    plain = run_hunt(env, *base)
    assert plain.returncode == 0, plain.stderr
    assert "fields" not in plain.stderr
    capped = run_hunt(env, "--read-limit", "max_fields=8", *base)
    assert capped.returncode == 0, capped.stderr
    assert "fields" in capped.stderr  # the read issue says fields were dropped
    wrong = run_hunt(env, "--read-limit", "max_feilds=8", *base)
    assert wrong.returncode == 2 and "--read-limit" in wrong.stderr


def test_forked_workers_read_with_the_hunt_options(
    case: tuple[Path, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file per task and two workers: the link is followed in a worker process too."""
    import io

    from sentinelle.engine import load_compiled
    from sentinelle.hunt import run
    from sentinelle.hunt.outputs.jsonl import JsonlWriter
    from sentinelle.hunt.summary import HuntSummary
    from sentinelle.readers import expand_paths, read_file

    logs, rules, env = case
    monkeypatch.setattr(run, "TASK_FILES", 1)
    compiled = load_compiled([rules], cache_dir=Path(env["SENTINELLE_CACHE_DIR"]))
    files = expand_paths([logs], follow_symlinks=True)
    assert len(run.plan_tasks(files)) == 2

    def hunt_with(read: run.ReadOptions) -> str:
        out = io.StringIO()
        summary = HuntSummary()
        run.run_hunt(files, compiled, read_file, [JsonlWriter(out)], summary, jobs=2, read=read)
        return out.getvalue()

    assert hunt_with(run.ReadOptions()) == ""
    followed = hunt_with(run.ReadOptions(follow_symlinks=True))
    assert "Encoded PowerShell" in followed


def test_stats_name_every_loss_the_summary_names(
    case: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """``--stats`` is for scripts: each loss comes with where and why, as the summary shows it
    (a refused link, a rejected rule, detections an output could not place), not as a bare
    count."""
    logs, rules, env = case
    (logs / "local.jsonl").write_text(
        json.dumps(security_4688(2, "ws-ane-07", "powershell -enc AAAA")).replace("2026-", "99999-")
        + "\n",
        encoding="utf-8",
    )
    (rules / "broken.yml").write_text(RULE.replace("condition: sel", "condition: nosuch"))
    stats = tmp_path / "stats.json"
    proc = run_hunt(
        env, "--rules", str(rules), "-f", "timesketch", "-o", str(tmp_path / "ts.jsonl"),
        "--stats", str(stats), str(logs),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr  # a rule was rejected
    found = json.loads(stats.read_text())
    listed = {(i["location"], i["kind"]): i["reason"] for i in found["read_issues_listed"]}
    assert "link" in listed[(str(logs / "linked.jsonl"), "file")]
    assert any(loc.startswith(str(logs / "local.jsonl")) for loc, _ in listed)
    assert found["read_issues"] == len(found["read_issues_listed"])
    assert len(found["rule_errors_listed"]) == found["rule_errors"] == 1
    assert "broken.yml" in found["rule_errors_listed"][0]
    # the detection on the event whose time no calendar holds: left out of Timesketch, said so
    assert found["detections"] == 1
    assert any("without a usable time" in note for note in found["output_notes"])
