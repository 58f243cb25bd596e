"""``sentinelle rules update``: fetch the SigmaHQ rule package, check it, switch to it atomically.

Layout under ``data_dir()/sigmahq``::

    versions/<UTC time>-<sha256 prefix>/rules/...      one unpacked package
    versions/<...>/manifest.json                       where it came from, its rules and hashes
    current -> versions/<...>                          the set ``--rules sigmahq`` names

The archive comes from the network, so it is treated as hostile: its size is capped while it
downloads, every member name is checked (no absolute path, drive, ``..``, link or duplicate)
before anything is written, the unpacked size is capped by the bytes actually written, and every
rule is loaded with the real loader before the ``current`` link moves. Any failure leaves the
previous set in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from sentinelle.errors import Location, RuleError, SentinelleError
from sentinelle.paths import data_dir

DEFAULT_URL = "https://github.com/SigmaHQ/sigma/releases/latest/download/sigma_all_rules.zip"
URL_ENV = "SENTINELLE_SIGMA_URL"

MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
KEPT_VERSIONS = 2  # current and the one before, so a bad release can be compared with the last

_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 16


class UpdateError(SentinelleError):
    """The rule package could not be fetched, was unsafe, or held no usable rule."""


@dataclass(frozen=True, slots=True)
class Limits:
    download_bytes: int = MAX_DOWNLOAD_BYTES
    unpacked_bytes: int = MAX_UNPACKED_BYTES
    members: int = MAX_MEMBERS


@dataclass(slots=True)
class RuleChange:
    key: str  # rule id, or "path:<file>" for a rule without one
    title: str
    path: str


@dataclass(slots=True)
class UpdateReport:
    url: str
    sha256: str
    directory: Path
    rules: int
    correlations: int
    filters: int
    errors: list[RuleError]
    previous: Path | None
    added: list[RuleChange] = field(default_factory=list)
    removed: list[RuleChange] = field(default_factory=list)
    changed: list[RuleChange] = field(default_factory=list)


def sigmahq_root() -> Path:
    return data_dir() / "sigmahq"


def current_sigmahq(root: Path | None = None) -> Path | None:
    """The rules directory of the downloaded SigmaHQ set, or None before the first update.

    The link is resolved here, so a hunt keeps reading one version even if an update switches
    ``current`` meanwhile (the version before the newest is kept for that reason too).
    """
    rules = (root or sigmahq_root()) / "current" / "rules"
    return rules.resolve() if rules.is_dir() else None


def resolve_url(url: str | None) -> str:
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def update_rules(
    url: str | None = None,
    sha256: str | None = None,
    root: Path | None = None,
    limits: Limits | None = None,
    timeout: float = 60.0,
) -> UpdateReport:
    """Download, verify and switch to the rule package at ``url``; report what changed."""
    url = resolve_url(url)
    root = root or sigmahq_root()
    limits = limits or Limits()
    versions = root / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%S%fZ")
        partial = versions / f".partial-{stamp}"
        partial.mkdir()
        try:
            archive = partial / "package.zip"
            digest = download(url, archive, limits.download_bytes, timeout)
            if sha256 is not None and digest != sha256.strip().lower():
                raise UpdateError(
                    f"sha256 mismatch: expected {sha256.strip().lower()}, got {digest}",
                    Location(url),
                )
            extract_safely(archive, partial / "rules", limits, Location(url))
            archive.unlink()
            final = versions / f"{stamp}-{digest[:12]}"
            partial.rename(final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        try:
            report = _verify(final, url, digest, root)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        _switch(root, final)
        _prune(versions, keep={final, report.previous.parent if report.previous else final})
        return report


def download(url: str, dest: Path, max_bytes: int, timeout: float) -> str:
    """Stream ``url`` into ``dest``, refusing more than ``max_bytes``; return its sha256."""
    # Imported here: every hunt reads this module (current_sigmahq), few download (~12 ms).
    import urllib.error
    import urllib.parse
    import urllib.request

    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("https", "http", "file"):
        raise UpdateError(f"unsupported URL scheme {scheme!r}", Location(url))
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as out:  # noqa: S310 (scheme checked above)
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise UpdateError(
                    f"package is {int(length)} bytes, more than the {max_bytes} allowed",
                    Location(url),
                )
            # The socket timeout bounds each read; this bounds the whole transfer, so a server
            # dripping a byte at a time cannot hold the update open forever.
            deadline = time.monotonic() + max(timeout * 10, 600.0)
            while chunk := resp.read(_CHUNK):
                if time.monotonic() > deadline:
                    raise UpdateError("download took too long", Location(url))
                size += len(chunk)
                if size > max_bytes:
                    raise UpdateError(
                        f"package exceeds the {max_bytes} bytes allowed", Location(url)
                    )
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise UpdateError(f"download failed: HTTP {exc.code} {exc.reason}", Location(url)) from exc
    except urllib.error.URLError as exc:
        raise UpdateError(f"download failed: {exc.reason}", Location(url)) from exc
    except (OSError, ValueError) as exc:
        raise UpdateError(f"download failed: {exc}", Location(url)) from exc
    if size == 0:
        raise UpdateError("download is empty", Location(url))
    return digest.hexdigest()


def member_path(name: str) -> PurePosixPath:
    """The relative path a zip member may be written to; UpdateError for anything else."""
    if "\x00" in name:
        raise UpdateError(f"member name with a NUL byte: {name!r}")
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or _DRIVE.match(normalised):
        raise UpdateError(f"absolute member path: {name!r}")
    parts = [p for p in normalised.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UpdateError(f"member path leaves the package: {name!r}")
    if not parts:
        raise UpdateError(f"empty member path: {name!r}")
    return PurePosixPath(*parts)


def extract_safely(archive: Path, target: Path, limits: Limits, where: Location) -> int:
    """Unpack ``archive`` into ``target`` after checking every member; return bytes written."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UpdateError(f"not a zip archive: {exc}", where) from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.members:
            raise UpdateError(
                f"{len(infos)} members, more than the {limits.members} allowed", where
            )
        plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        seen: set[str] = set()
        declared = 0
        for info in infos:
            try:
                rel = member_path(info.filename)
            except UpdateError as exc:
                raise UpdateError(exc.message, where) from None
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UpdateError(f"symbolic link in package: {info.filename!r}", where)
            key = str(rel).lower()  # case-insensitive filesystems would merge these
            if key in seen and not info.is_dir():
                raise UpdateError(f"duplicate member: {info.filename!r}", where)
            seen.add(key)
            declared += info.file_size
            plan.append((info, rel))
        if declared > limits.unpacked_bytes:
            raise UpdateError(
                f"unpacks to {declared} bytes, more than the {limits.unpacked_bytes} allowed",
                where,
            )
        target.mkdir(parents=True)
        base = target.resolve()
        written = 0
        for info, rel in plan:
            dest = target.joinpath(*rel.parts)
            if not dest.resolve().is_relative_to(base):  # belt and braces after member_path
                raise UpdateError(f"member path leaves the package: {info.filename!r}", where)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, dest.open("xb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > limits.unpacked_bytes:
                            raise UpdateError(
                                f"unpacks to more than the {limits.unpacked_bytes} bytes allowed",
                                where,
                            )
                        out.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
                raise UpdateError(f"{info.filename}: cannot unpack: {exc}", where) from exc
        return written


def _verify(version: Path, url: str, digest: str, root: Path) -> UpdateReport:
    from sentinelle.sigma.loader import load_rules

    rules_dir = version / "rules"
    ruleset = load_rules([rules_dir])
    if not ruleset.rules and not ruleset.correlations:
        raise UpdateError(
            f"package holds no loadable Sigma rule ({len(ruleset.errors)} errors)", Location(url)
        )
    entries: dict[str, dict[str, str]] = {}
    for item in [*ruleset.rules, *ruleset.correlations]:
        path = Path(str(item.source.path)) if item.source and item.source.path else None
        rel = path.relative_to(rules_dir).as_posix() if path else ""
        content = ruleset.files.get(str(path), b"") if path else b""
        key = str(item.id) if item.id is not None else f"path:{rel}"
        entries[key] = {
            "title": str(item.title),
            "path": rel,
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    manifest: dict[str, Any] = {
        "url": url,
        "sha256": digest,
        "downloaded": datetime.now(tz=UTC).isoformat(),
        "rules": len(ruleset.rules),
        "correlations": len(ruleset.correlations),
        "filters": len(ruleset.filters),
        "errors": len(ruleset.errors),
        "entries": entries,
    }
    (version / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    previous_rules = current_sigmahq(root)
    before = _read_entries(previous_rules.parent) if previous_rules else {}
    report = UpdateReport(
        url=url,
        sha256=digest,
        directory=rules_dir,
        rules=len(ruleset.rules),
        correlations=len(ruleset.correlations),
        filters=len(ruleset.filters),
        errors=list(ruleset.errors),
        previous=previous_rules,
    )
    for key in sorted(entries.keys() - before.keys()):
        report.added.append(RuleChange(key, entries[key]["title"], entries[key]["path"]))
    for key in sorted(before.keys() - entries.keys()):
        report.removed.append(RuleChange(key, before[key]["title"], before[key]["path"]))
    for key in sorted(entries.keys() & before.keys()):
        if entries[key]["sha256"] != before[key]["sha256"]:
            report.changed.append(RuleChange(key, entries[key]["title"], entries[key]["path"]))
    return report


def _read_entries(version: Path) -> dict[str, dict[str, str]]:
    try:
        data = orjson.loads((version / "manifest.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}  # a set from before manifests existed: everything counts as added
    entries = data.get("entries") if isinstance(data, dict) else None
    return entries if isinstance(entries, dict) else {}


def _switch(root: Path, version: Path) -> None:
    """Point ``current`` at ``version`` in one rename, so readers see the old or the new set."""
    link = root / "current"
    tmp = root / f".current-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(version.relative_to(root), target_is_directory=True)
    tmp.replace(link)


def _prune(versions: Path, keep: set[Path]) -> None:
    kept = {k.resolve() for k in keep}
    for entry in versions.iterdir():
        if entry.resolve() not in kept:
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One update at a time per data directory."""
    with (root / ".lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateError("another rules update is running", Location(str(root))) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
