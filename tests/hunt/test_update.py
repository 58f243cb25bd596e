"""``rules update`` against a real HTTP server on 127.0.0.1 serving packages built here."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socketserver
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from sentinelle.engine import compile_paths, load_compiled
from sentinelle.hunt.update import (
    Limits,
    UpdateError,
    current_sigmahq,
    member_path,
    update_rules,
)
from tests.hunt.helpers import PackageServer, rules_from, zip_bytes

SUBSET = "windows/builtin/security/account_management"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An update stores the set it verified in the rule cache: the test's own, not the user's."""
    monkeypatch.setenv("SENTINELLE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.corpus
@pytest.mark.network
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


@pytest.mark.corpus
@pytest.mark.network
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


@pytest.mark.network
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


@pytest.mark.corpus
@pytest.mark.network
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


# ---------------------------------------------------------------- hostile packages, no corpus

GOOD_RULE = """\
title: Failed logon {n}
id: 7e000000-0000-4000-8000-00000000000{n}
name: failed_logon_{n}
logsource: {{product: windows, service: security}}
detection:
    sel: {{EventID: 4625}}
    condition: sel
level: medium
"""
GOOD = {f"rules/security/failed_{n}.yml": GOOD_RULE.format(n=n).encode() for n in range(1, 4)}
UNDEFINED = b"""\
title: Names a selection it lacks
id: 7e000000-0000-4000-8000-0000000000a1
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 4624}
    condition: sel and filter
level: high
"""
CORRELATION = b"""\
title: Spray on the undefined rule
correlation:
    type: event_count
    rules: [7e000000-0000-4000-8000-0000000000a1]
    group-by: [IpAddress]
    timespan: 5m
    condition: {gte: 5}
level: high
"""


@pytest.fixture
def installed(server: PackageServer, tmp_path: Path) -> tuple[Path, Path]:
    """A data folder with a good set installed; (root, its rules folder)."""
    root = tmp_path / "sigmahq"
    server.packages["/good.zip"] = zip_bytes(GOOD)
    report = update_rules(server.url("/good.zip"), root=root)
    assert report.rules == 3 and not report.errors
    return root, report.directory


@pytest.mark.network
def test_rules_a_hunt_would_reject_are_set_aside_and_counted_truly(
    server: PackageServer, installed: tuple[Path, Path], tmp_path: Path
) -> None:
    """The verification compiles the set as a hunt does: a condition naming an undefined
    selection is a rejection (pySigma parses conditions late, so loading alone passed it), and
    a correlation on that rule falls with it, in a second pass."""
    root, before = installed
    package = {
        **GOOD,
        "rules/security/undefined.yml": UNDEFINED,
        "rules/security/spray.yml": CORRELATION,
    }
    server.packages["/next.zip"] = zip_bytes(package)
    report = update_rules(server.url("/next.zip"), root=root)
    assert (report.rules, report.correlations) == (3, 0)
    assert report.set_aside == ["rules/security/spray.yml", "rules/security/undefined.yml"]
    reasons = [str(e) for e in report.errors]
    assert any("undefined.yml:6:" in r and "filter" in r for r in reasons), reasons
    assert any("spray.yml:1:" in r for r in reasons), reasons
    assert not report.added and not report.changed and not report.removed
    installed_rules = current_sigmahq(root)
    assert installed_rules == report.directory and installed_rules != before
    # What `hunt --rules sigmahq` reads now compiles clean, and its cache entry is ready.
    _, compiled = compile_paths([installed_rules])
    assert len(compiled.rules) == 3 and not compiled.rejections()
    entries = set((tmp_path / "cache").glob("rules-*.pickle"))
    assert len(load_compiled([installed_rules]).rules) == 3
    assert set((tmp_path / "cache").glob("rules-*.pickle")) == entries != set()  # a hit
    assert (installed_rules.parent / "rejected/rules/security/undefined.yml").is_file()
    manifest = json.loads((installed_rules.parent / "manifest.json").read_text())
    assert manifest["rules"] == 3 and len(manifest["rejected"]) == 2


@pytest.mark.network
def test_a_package_whose_rules_all_fail_is_refused_and_the_set_kept(
    server: PackageServer, installed: tuple[Path, Path]
) -> None:
    root, before = installed
    server.packages["/bad.zip"] = zip_bytes({"rules/undefined.yml": UNDEFINED})
    with pytest.raises(UpdateError, match="no loadable Sigma rule"):
        update_rules(server.url("/bad.zip"), root=root)
    assert current_sigmahq(root) == before


@pytest.mark.network
def test_bomb_rules_in_a_package_are_set_aside_quickly(
    server: PackageServer, installed: tuple[Path, Path]
) -> None:
    root, _ = installed
    package = {
        **GOOD,
        "rules/number.yml": GOOD_RULE.format(n=7).replace("4625", "1" * 5000).encode(),
        "rules/regex.yml": GOOD_RULE.format(n=8)
        .replace("EventID: 4625", "CommandLine|re: '" + "(" * 5000 + "a" + ")" * 5000 + "'")
        .encode(),
        "rules/windash.yml": GOOD_RULE.format(n=9)
        .replace("EventID: 4625", "CommandLine|windash|contains: '" + " -a" * 12 + "'")
        .encode(),
    }
    server.packages["/bombs.zip"] = zip_bytes(package)
    report = update_rules(server.url("/bombs.zip"), root=root)
    assert report.set_aside == ["rules/number.yml", "rules/regex.yml"]
    assert report.rules == 4  # the three good ones and the windash rule, compiled linearly


def _members(*names: str) -> bytes:
    return zip_bytes({**GOOD, **dict.fromkeys(names, b"title: x\n")})


def _patched(data: bytes, *, method: int | None = None, flags: int | None = None) -> bytes:
    """A stored one-member archive with its compression method or flag bits rewritten in both
    the local and the central header (zipfile writes neither a Deflate64 nor an encrypted
    member itself)."""
    out = bytearray(data)
    local, central = out.find(b"PK\x03\x04"), out.find(b"PK\x01\x02")
    if method is not None:
        out[local + 8 : local + 10] = method.to_bytes(2, "little")
        out[central + 10 : central + 12] = method.to_bytes(2, "little")
    if flags is not None:
        out[local + 6 : local + 8] = flags.to_bytes(2, "little")
        out[central + 8 : central + 10] = flags.to_bytes(2, "little")
    return bytes(out)


def _one_stored(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


HOSTILE_PACKAGES = {
    "deflate64": (
        _patched(_one_stored("rules/a.yml", GOOD["rules/security/failed_1.yml"]), method=9),
        "compression Deflate64 is not supported",
    ),
    "encrypted": (_patched(_one_stored("rules/a.yml", b"title: x\n"), flags=1), "encrypted member"),
    "file and folder": (
        _members("rules/a.yml/b.yml", "rules/a.yml"),
        "a file and a folder of the same name",
    ),
    "folder then file": (_members("rules/x/", "rules/X"), "a file and a folder of the same name"),
    "5,000-character name": (
        _members("rules/" + "a" * 4990 + ".yml"),
        "member path of 5000 characters",
    ),
    "long component": (_members("rules/" + "a" * 300 + ".yml"), "a name of more than 255 bytes"),
    "2 MiB rule file": (
        zip_bytes({**GOOD, "rules/big.yml": b"#" * (2 * 1024 * 1024)}),
        "a rule file may hold at most 1048576 bytes",
    ),
}


@pytest.mark.network
@pytest.mark.parametrize("case", list(HOSTILE_PACKAGES))
def test_odd_archives_are_refused_with_a_reason_and_the_set_kept(
    server: PackageServer, installed: tuple[Path, Path], case: str
) -> None:
    root, before = installed
    payload, reason = HOSTILE_PACKAGES[case]
    server.packages["/odd.zip"] = payload
    with pytest.raises(UpdateError, match=re.escape(reason)):
        update_rules(server.url("/odd.zip"), root=root)
    assert current_sigmahq(root) == before
    assert sorted(p.name for p in (root / "versions").iterdir()) == [before.parent.name]


@pytest.mark.network
def test_package_limits_on_rule_files_and_rules(
    server: PackageServer, installed: tuple[Path, Path]
) -> None:
    root, before = installed
    server.packages["/many.zip"] = zip_bytes(GOOD)
    with pytest.raises(UpdateError, match="more than 2 rule files"):
        update_rules(server.url("/many.zip"), root=root, limits=Limits(rule_files=2))
    three = b"---\n".join(GOOD.values())
    server.packages["/collection.zip"] = zip_bytes({"rules/all.yml": three})
    with pytest.raises(UpdateError, match="more than 2 rules"):
        update_rules(server.url("/collection.zip"), root=root, limits=Limits(rules=2))
    assert current_sigmahq(root) == before


def test_a_url_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="not a valid URL"):
        update_rules("http://[::1", root=tmp_path / "s")


class DripServer:
    """A real TCP server on 127.0.0.1 that answers HTTP one byte at a time, ``pause`` apart:
    ``headers`` drips the status line too, otherwise the headers come at once."""

    def __init__(self, pause: float, headers: bool) -> None:
        self.served = threading.Event()
        served = self.served

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                body = b"x" * 1000
                try:
                    if not headers:
                        self.request.sendall(head)
                    for byte in (head if headers else b"") + body:
                        self.request.sendall(bytes([byte]))
                        time.sleep(pause)
                except OSError:
                    served.set()  # the client went away: what the test waits for

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/sigma.zip"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.network
@pytest.mark.parametrize("headers", [False, True], ids=["body", "status-line"])
def test_the_timeout_bounds_the_whole_download(tmp_path: Path, headers: bool) -> None:
    """A server dripping a byte every 0.2 s (200 s for its 1,000 bytes) is cut at 1 s."""
    drip = DripServer(pause=0.2, headers=headers)
    try:
        started = time.monotonic()
        with pytest.raises(UpdateError, match="took longer than the 1 s allowed"):
            update_rules(drip.url, root=tmp_path / "s", timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        drip.close()
    assert elapsed < 10, elapsed  # not the 200 s the server would take, nor per-read timeouts
    assert current_sigmahq(tmp_path / "s") is None


@pytest.mark.network
def test_rules_update_command_refuses_with_exit_2(tmp_path: Path) -> None:
    """The command's own exit status and message, for a URL and a slow server."""
    env = {**os.environ, "SENTINELLE_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "sentinelle.cli.main", "rules", "update"]
    bad = subprocess.run(
        [*command, "--url", "http://[::1"], capture_output=True, text=True, env=env, check=False
    )
    assert bad.returncode == 2, bad.stderr
    assert "not a valid URL" in bad.stderr
    drip = DripServer(pause=0.5, headers=False)
    try:
        slow = subprocess.run(
            [*command, "--url", drip.url, "--timeout", "2"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
    finally:
        drip.close()
    assert slow.returncode == 2, slow.stderr
    assert "took longer than the 2 s allowed" in slow.stderr
