"""Which files under a folder are rule files: what ``Path.rglob`` filtered by suffix and
``is_file`` gives, in the same order, whatever links, hidden names and odd suffixes hold."""

from __future__ import annotations

from pathlib import Path

from sentinelle.sigma.files import RULE_SUFFIXES, rule_files


def _by_rglob(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())


def test_rule_files_are_those_rglob_finds_in_its_order(tmp_path: Path) -> None:
    top = tmp_path / "rules"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "elsewhere.yml").write_text("x")
    names = [
        "a.yml",
        "B.yaml",
        "c.YML",  # suffixes are compared as written
        ".yml",  # a hidden name has no suffix
        ".hidden.yml",
        "x.tar.yml",
        "notes.txt",
        "trailing.",
        "d.yml/inner.yml",  # a folder named like a rule file is walked
        "z/deep/er/rule.yaml",
        "z/a b/é.yml",
        "Z/upper.yml",
        "m/x.yml",
        "m-n/x.yml",  # by parts "m" comes first; as text "m-n/" would ('-' sorts before '/')
    ]
    for name in names:
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text("x")
    (top / "linked.yml").symlink_to(outside / "elsewhere.yml")  # a link to a file: listed
    (top / "linked-folder").symlink_to(outside)  # a link to a folder: not walked
    (top / "dangling.yml").symlink_to(tmp_path / "missing.yml")  # a dangling link: not a file
    found, errors = rule_files([top])
    assert errors == []
    assert found == _by_rglob(top)
    assert top / "linked.yml" in found and top / "a.yml" in found
    assert not any("elsewhere" in str(p) or "dangling" in str(p) for p in found)
    # Named through a link to it, a folder is walked as rglob walks it.
    (tmp_path / "via-link").symlink_to(top)
    assert rule_files([tmp_path / "via-link"])[0] == _by_rglob(tmp_path / "via-link")
