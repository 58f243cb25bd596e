"""The compiled-rules cache: reused when nothing changed, rebuilt when a rule file changes."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sentinelle.engine import load_compiled
from sentinelle.engine.bucket import Bucket
from sentinelle.events import event_from_mapping

RULE = """title: Whoami
id: 5a1e2b3c-0000-4000-8000-00000000000{n}
logsource: {{product: windows, category: process_creation}}
detection:
    sel: {{Image|endswith: '\\\\{name}'}}
    condition: sel
"""
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def test_cache_hit_and_invalidation(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(RULE.format(n=1, name="whoami.exe"), encoding="utf-8")
    cache = tmp_path / "cache"
    first = load_compiled([rules], cache_dir=cache)
    entries = list(cache.glob("rules-*.pickle"))
    assert len(entries) == 1
    second = load_compiled([rules], cache_dir=cache)
    assert [r.id for r in second.rules] == [r.id for r in first.rules]
    ev = event_from_mapping({"Channel": SYSMON, "EventID": 1, "Image": "C:\\x\\whoami.exe"})
    assert second.match(ev)
    (rules / "a.yml").write_text(RULE.format(n=1, name="net.exe"), encoding="utf-8")
    third = load_compiled([rules], cache_dir=cache)
    assert not third.match(ev)
    assert len(list(cache.glob("rules-*.pickle"))) == 2


def test_broken_cache_entry_is_replaced(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(RULE.format(n=2, name="whoami.exe"), encoding="utf-8")
    cache = tmp_path / "cache"
    load_compiled([rules], cache_dir=cache)
    (entry,) = cache.glob("rules-*.pickle")
    entry.write_bytes(b"not a pickle")
    again = load_compiled([rules], cache_dir=cache)
    assert len(again.rules) == 1
    assert isinstance(pickle.loads(entry.read_bytes()), type(again))


def _never_build(self: object, variants: object) -> None:
    raise AssertionError("a bucket was built instead of taken from the cache")


def test_a_cached_set_brings_its_buckets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(RULE.format(n=3, name="whoami.exe"), encoding="utf-8")
    cache = tmp_path / "cache"
    load_compiled([rules], cache_dir=cache)  # compiles, builds every bucket, stores them
    monkeypatch.setattr(Bucket, "__init__", _never_build)
    again = load_compiled([rules], cache_dir=cache)
    hit = event_from_mapping({"Channel": SYSMON, "EventID": 1, "Image": "C:\\x\\whoami.exe"})
    miss = event_from_mapping({"Channel": SYSMON, "EventID": 1, "Image": "C:\\x\\net.exe"})
    other = event_from_mapping({"Channel": "Security", "EventID": 4688, "Image": "whoami.exe"})
    assert [d.rule_id for d in again.match(hit)] == [again.rules[0].id]
    assert not again.match(miss)
    assert not again.match(other)


def test_a_damaged_cached_bucket_is_built_again(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(RULE.format(n=4, name="whoami.exe"), encoding="utf-8")
    compiled = load_compiled([rules], cache_dir=tmp_path / "cache")
    state = compiled.__getstate__()
    assert state["buckets"], "load_compiled stores the buckets it built"
    state["buckets"] = {keys: blob[: len(blob) // 2] for keys, blob in state["buckets"].items()}
    damaged = pickle.loads(pickle.dumps(compiled))
    damaged.__setstate__(state)
    ev = event_from_mapping({"Channel": SYSMON, "EventID": 1, "Image": "C:\\x\\whoami.exe"})
    assert [d.rule_id for d in damaged.match(ev)] == [compiled.rules[0].id]


def test_stamps_spare_reading_the_rules_and_never_hide_an_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from sentinelle.engine import cache as cache_module
    from sentinelle.sigma import files as files_module

    rules = tmp_path / "rules"
    rules.mkdir()
    rule = rules / "a.yml"
    rule.write_text(RULE.format(n=3, name="whoami.exe"), encoding="utf-8")
    cache = tmp_path / "cache"
    load_compiled([rules], cache_dir=cache)
    assert not list(cache.glob("stamps-*.key"))  # written this very second: not trusted yet
    monkeypatch.setattr(cache_module, "_SETTLED_NS", -(10**18))  # every stamp settled
    load_compiled([rules], cache_dir=cache)
    assert len(list(cache.glob("stamps-*.key"))) == 1

    def unread(path: Path, max_bytes: int = 0) -> bytes:
        raise AssertionError(f"{path} was read although its stamp was known")

    with monkeypatch.context() as m:
        m.setattr(files_module, "read_rule_file", unread)
        again = load_compiled([rules], cache_dir=cache)
    ev = event_from_mapping({"Channel": SYSMON, "EventID": 1, "Image": "C:\\x\\whoami.exe"})
    assert again.match(ev)
    # Same size, modification time put back: the change time still moves, so it is read.
    before = rule.stat()
    rule.write_text(RULE.format(n=3, name="whoaml.exe"), encoding="utf-8")
    os.utime(rule, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert rule.stat().st_size == before.st_size
    edited = load_compiled([rules], cache_dir=cache)
    assert not edited.match(ev)
