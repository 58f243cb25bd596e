"""Archives and links an attacker shapes: bombs are refused quickly, tar archives are read with
the same limits as zip, links leaving the folder are reported and not followed. Each refusal
names its member; every other member is read."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from sentinelle.events import Event, ReadIssue
from sentinelle.readers import ReadLimits, expand_paths, read_file, read_paths

LINE = b"Mar  3 12:00:00 pacs sshd[7]: Failed password for admin from 192.0.2.9 port 22\n"


def read_all(path: Path, **options: object) -> tuple[list[Event], list[ReadIssue]]:
    events: list[Event] = []
    issues: list[ReadIssue] = []
    for batch in read_file(path, **options):  # type: ignore[arg-type]
        events += batch.events
        issues += batch.issues
    return events, issues


def test_a_gzip_bomb_is_refused_after_little_output(tmp_path: Path) -> None:
    # 10 GiB of one letter in 10 MB: gzip members of 1 MiB each, one after another.
    member = gzip.compress(b"a" * (1 << 20), compresslevel=9)
    bomb = tmp_path / "huge.log.gz"
    with bomb.open("wb") as out:
        for _ in range(10 * 1024):
            out.write(member)
    events, issues = read_all(bomb)
    assert events == []
    assert [(i.location, i.kind) for i in issues] == [(str(bomb), "file")]
    assert "decompression ratio of 200:1" in issues[0].reason


def test_a_zip_member_declaring_a_bomb_is_refused_before_it_is_spooled(tmp_path: Path) -> None:
    archive = tmp_path / "evidence.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        with out.open("Security.evtx", "w") as member:
            member.write(b"ElfFile\x00")
            for _ in range(100):
                member.write(bytes(1 << 20))  # 100 MiB of zeros: about 100 KiB compressed
        out.writestr("auth.log", LINE)
    events, issues = read_all(archive)
    assert [e.source for e in events] == [f"{archive}!auth.log"]
    assert [(i.location, i.kind) for i in issues] == [(f"{archive}!Security.evtx", "file")]
    assert "past the decompression ratio" in issues[0].reason


def test_the_spool_budget_is_shared_by_every_member(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for index in range(3):
            out.writestr(f"{index}.evtx", b"ElfFile\x00" + bytes(600))
    _, issues = read_all(archive, limits=ReadLimits(max_spool_bytes=1500))
    refused = [i.location for i in issues if "spool budget" in i.reason]
    assert refused == [f"{archive}!2.evtx"]  # two fit in 1,500 bytes, the third does not


def _tar(path: Path, mode: str) -> None:
    with tarfile.open(path, mode) as out:  # type: ignore[call-overload]

        def add(
            name: str, data: bytes = LINE, kind: bytes = tarfile.REGTYPE, link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            out.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("var/log/auth.log")
        add("../../etc/evil.log")  # never extracted: the name only names the member
        add("var/log/passwd", kind=tarfile.SYMTYPE, link="/etc/passwd")
        add("var/log/hard", kind=tarfile.LNKTYPE, link="var/log/auth.log")
        add("var/log/fifo", kind=tarfile.FIFOTYPE)
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as nested:
            nested.writestr("inner.log", LINE)
        add("var/log/nested.zip", inner.getvalue())


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz", ".tar.bz2"])
def test_tar_archives_are_read_with_the_zip_limits(tmp_path: Path, suffix: str) -> None:
    mode = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz", ".tar.bz2": "w:bz2"}[suffix]
    archive = tmp_path / f"server{suffix}"
    _tar(archive, mode)
    events, issues = read_all(archive)
    sources = sorted(
        e.source.rsplit("!", 2)[-1] if "nested" not in e.source else e.source.split("!", 1)[1]
        for e in events
    )
    assert sources == ["../../etc/evil.log", "var/log/auth.log", "var/log/nested.zip!inner.log"]
    reasons = {i.location.rsplit("!", 1)[-1]: i.reason for i in issues}
    assert set(reasons) == {"var/log/passwd", "var/log/hard", "var/log/fifo"}
    assert "not followed" in reasons["var/log/passwd"] and "not read" in reasons["var/log/fifo"]


def test_a_damaged_tar_keeps_what_was_read(tmp_path: Path) -> None:
    archive = tmp_path / "cut.tar"
    _tar(archive, "w")
    data = archive.read_bytes()
    archive.write_bytes(data[:1024] + b"\xff" * 1024)  # the first member, then garbage
    events, issues = read_all(archive)
    assert [e.source for e in events] == [f"{archive}!var/log/auth.log"]
    assert [i.kind for i in issues] == ["file"]


def test_tar_nesting_stops_at_the_archive_depth(tmp_path: Path) -> None:
    data = LINE
    name = "a.log"
    for level in range(5):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as out:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        data, name = buffer.getvalue(), f"level{level}.tar"
    archive = tmp_path / "deep.tar.gz"
    archive.write_bytes(gzip.compress(data))
    events, issues = read_all(archive)
    assert events == []
    assert [i.kind for i in issues] == ["file"] and "nested deeper" in issues[0].reason


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hostname").write_bytes(LINE)
    (outside / "more.log").write_bytes(LINE)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "auth.log").write_bytes(LINE)
    (logs / "to_etc.log").symlink_to(outside / "hostname")
    (logs / "current.log").symlink_to(logs / "auth.log")
    (logs / "folder").symlink_to(outside, target_is_directory=True)
    (logs / "loop").symlink_to(logs, target_is_directory=True)
    return logs


def test_links_leaving_the_folder_are_reported_not_followed(linked: Path) -> None:
    batches = list(read_paths([linked]))
    sources = sorted(e.source for b in batches for e in b.events)
    assert sources == [str(linked / "auth.log")] * 2  # current.log is read as its target
    issues = {i.location: i.reason for b in batches for i in b.issues}
    assert set(issues) == {str(linked / n) for n in ("folder", "loop", "to_etc.log")}
    assert "to a folder" in issues[str(linked / "folder")]
    assert "leaving the folder" in issues[str(linked / "to_etc.log")]


def test_follow_symlinks_follows_every_link_once(linked: Path) -> None:
    batches = list(read_paths([linked], follow_symlinks=True))
    names = sorted(Path(e.source).name for b in batches for e in b.events)
    assert names == ["auth.log", "current.log", "hostname", "more.log", "to_etc.log"]
    assert [i for b in batches for i in b.issues] == []
    assert len(expand_paths([linked], follow_symlinks=True)) == 5  # the loop is walked once


def test_events_command_flags(linked: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sentinelle.cli.main", "events", str(linked), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    plain, followed = run(), run("--follow-symlinks")
    assert plain.returncode == 1 and "leaving the folder read, not followed" in plain.stderr
    assert followed.returncode == 0 and followed.stdout.count("\n") == 5
    bad = run("--read-limit", "max_fieldz=3")
    assert bad.returncode == 2 and "unknown read limit" in bad.stderr
    capped = run("--read-limit", "max_fields=2")
    assert capped.returncode == 1 and "fields past the cap of 2 dropped" in capped.stderr


def test_expanded_files_handed_back_keep_their_links_refused(linked: Path) -> None:
    # The hunt expands the folder, then reads the list it got: the refusal must survive that.
    files = expand_paths([linked])
    batches = list(read_paths(files))
    assert sorted(e.source for b in batches for e in b.events) == [str(linked / "auth.log")] * 2
    refused = sorted(i.location for b in batches for i in b.issues)
    assert refused == sorted(str(linked / n) for n in ("folder", "loop", "to_etc.log"))
