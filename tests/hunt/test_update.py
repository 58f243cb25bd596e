"""``rules update`` against a real HTTP server on 127.0.0.1 serving packages built here."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from sentinelle.hunt.update import (
    Limits,
    UpdateError,
    current_sigmahq,
    member_path,
    update_rules,
)
from tests.hunt.helpers import PackageServer, rules_from, zip_bytes

pytestmark = [pytest.mark.corpus, pytest.mark.network]

SUBSET = "windows/builtin/security/account_management"


def test_update_installs_then_reports_added_removed_changed(
    server: PackageServer, shared_data: Path, tmp_path: Path
) -> None:
    root = tmp_path / "sigmahq"
    first = rules_from(shared_data, SUBSET)
    assert len(first) > 5
    server.packages["/v1.zip"] = zip_bytes(first)
    report = update_rules(server.url("/v1.zip"), root=root)
    assert report.previous is None
    assert report.rules == len(first)  # one rule per SigmaHQ file
    assert len(report.added) == report.rules
    assert not report.removed and not report.changed and not report.errors
    installed = current_sigmahq(root)
    assert installed is not None and installed == report.directory.resolve()
    assert len(list(installed.rglob("*.yml"))) == len(first)

    # second release: one rule gone, one edited, a new folder of rules
    second = dict(first)
    gone, edited = sorted(second)[:2]
    del second[gone]
    second[edited] = second[edited].replace(b"title: ", b"title: Edited ", 1)
    second.update(rules_from(shared_data, "windows/builtin/security/object_access"))
    payload = zip_bytes(second)
    server.packages["/v2.zip"] = payload
    report2 = update_rules(
        server.url("/v2.zip"), sha256=hashlib.sha256(payload).hexdigest(), root=root
    )
    assert report2.previous == report.directory.resolve()
    assert [c.path for c in report2.removed] == [gone]
    assert [c.path for c in report2.changed] == [edited]
    assert report2.changed[0].title.startswith("Edited ")
    assert len(report2.added) == len(second) - len(first) + 1
    assert current_sigmahq(root) == report2.directory.resolve()
    # the version before is kept, older ones pruned
    assert len(list((root / "versions").iterdir())) == 2


def test_path_traversal_package_is_rejected_and_nothing_changes(
    server: PackageServer, shared_data: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data" / "sigmahq"
    good = rules_from(shared_data, SUBSET)
    server.packages["/good.zip"] = zip_bytes(good)
    update_rules(server.url("/good.zip"), root=root)
    before = current_sigmahq(root)

    hostile = dict(good)
    hostile["rules/../../../escaped.yml"] = b"title: x\n"
    server.packages["/evil.zip"] = zip_bytes(hostile)
    with pytest.raises(UpdateError, match="leaves the package") as info:
        update_rules(server.url("/evil.zip"), root=root)
    assert info.value.location is not None and "evil.zip" in info.value.location.source
    assert current_sigmahq(root) == before
    assert not list(tmp_path.rglob("escaped.yml"))
    assert not [p for p in (root / "versions").iterdir() if p.name.startswith(".partial")]


def test_symlink_member_is_rejected(server: PackageServer, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("rules/link.yml")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    server.packages["/link.zip"] = buf.getvalue()
    with pytest.raises(UpdateError, match="symbolic link"):
        update_rules(server.url("/link.zip"), root=tmp_path / "s")
    assert current_sigmahq(tmp_path / "s") is None


def test_checksum_size_and_content_checks(
    server: PackageServer, shared_data: Path, tmp_path: Path
) -> None:
    root = tmp_path / "s"
    payload = zip_bytes(rules_from(shared_data, SUBSET))
    server.packages["/p.zip"] = payload
    with pytest.raises(UpdateError, match="sha256 mismatch"):
        update_rules(server.url("/p.zip"), sha256="00" * 32, root=root)
    with pytest.raises(UpdateError, match="allowed"):
        update_rules(server.url("/p.zip"), root=root, limits=Limits(download_bytes=1000))
    with pytest.raises(UpdateError, match="allowed"):
        update_rules(server.url("/p.zip"), root=root, limits=Limits(unpacked_bytes=2000))
    server.packages["/empty.zip"] = zip_bytes({"README.md": b"no rules here"})
    with pytest.raises(UpdateError, match="no loadable Sigma rule"):
        update_rules(server.url("/empty.zip"), root=root)
    server.packages["/junk.zip"] = b"this is not a zip archive"
    with pytest.raises(UpdateError, match="not a zip"):
        update_rules(server.url("/junk.zip"), root=root)
    with pytest.raises(UpdateError, match="404"):
        update_rules(server.url("/missing.zip"), root=root)
    with pytest.raises(UpdateError, match="scheme"):
        update_rules("ftp://127.0.0.1/x.zip", root=root)
    assert current_sigmahq(root) is None
    assert [p.name for p in (root / "versions").iterdir()] == []


@pytest.mark.parametrize(
    "name",
    ["/etc/x.yml", "C:/x.yml", "a/../../x.yml", "..\\x.yml", "a\x00b.yml", "./"],
)
def test_member_path_refuses_escapes(name: str) -> None:
    with pytest.raises(UpdateError):
        member_path(name)


def test_member_path_keeps_ordinary_names() -> None:
    assert member_path("rules/windows/./a.yml").as_posix() == "rules/windows/a.yml"
