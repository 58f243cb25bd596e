"""``rules update`` against a real HTTP server on 127.0.0.1 serving packages built here."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinelle.hunt.update import (
    Limits,
    UpdateError,
    current_sigmahq,
    member_path,
    update_rules,
)

pytestmark = [pytest.mark.corpus, pytest.mark.network]

SUBSET = "windows/builtin/security/account_management"


class _Server:
    """Serves whatever bytes ``packages[path]`` holds; 404 otherwise."""

    def __init__(self) -> None:
        self.packages: dict[str, bytes] = {}
        packages = self.packages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = packages.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _rules_from(shared_data: Path, subset: str) -> dict[str, bytes]:
    base = shared_data / "sigma" / "rules"
    return {
        f"rules/{p.relative_to(base).as_posix()}": p.read_bytes()
        for p in sorted((base / subset).rglob("*.yml"))
    }


def test_update_installs_then_reports_added_removed_changed(
    server: _Server, shared_data: Path, tmp_path: Path
) -> None:
    root = tmp_path / "sigmahq"
    first = _rules_from(shared_data, SUBSET)
    assert len(first) > 5
    server.packages["/v1.zip"] = _zip(first)
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
    second.update(_rules_from(shared_data, "windows/builtin/security/object_access"))
    payload = _zip(second)
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
    server: _Server, shared_data: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data" / "sigmahq"
    good = _rules_from(shared_data, SUBSET)
    server.packages["/good.zip"] = _zip(good)
    update_rules(server.url("/good.zip"), root=root)
    before = current_sigmahq(root)

    hostile = dict(good)
    hostile["rules/../../../escaped.yml"] = b"title: x\n"
    server.packages["/evil.zip"] = _zip(hostile)
    with pytest.raises(UpdateError, match="leaves the package") as info:
        update_rules(server.url("/evil.zip"), root=root)
    assert info.value.location is not None and "evil.zip" in info.value.location.source
    assert current_sigmahq(root) == before
    assert not list(tmp_path.rglob("escaped.yml"))
    assert not [p for p in (root / "versions").iterdir() if p.name.startswith(".partial")]


def test_symlink_member_is_rejected(server: _Server, tmp_path: Path) -> None:
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
    server: _Server, shared_data: Path, tmp_path: Path
) -> None:
    root = tmp_path / "s"
    payload = _zip(_rules_from(shared_data, SUBSET))
    server.packages["/p.zip"] = payload
    with pytest.raises(UpdateError, match="sha256 mismatch"):
        update_rules(server.url("/p.zip"), sha256="00" * 32, root=root)
    with pytest.raises(UpdateError, match="allowed"):
        update_rules(server.url("/p.zip"), root=root, limits=Limits(download_bytes=1000))
    with pytest.raises(UpdateError, match="allowed"):
        update_rules(server.url("/p.zip"), root=root, limits=Limits(unpacked_bytes=2000))
    server.packages["/empty.zip"] = _zip({"README.md": b"no rules here"})
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
