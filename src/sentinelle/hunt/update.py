"""``sentinelle rules update``: fetch the SigmaHQ rule package, check it, switch to it atomically.

Layout under ``data_dir()/sigmahq``::

    versions/<UTC time>-<sha256 prefix>/rules/...      one unpacked package
    versions/<...>/rejected/...                        its rule files a hunt could not run
    versions/<...>/manifest.json                       where it came from, its rules and hashes
    current -> versions/<...>                          the set ``--rules sigmahq`` names

The archive comes from the network, so it is treated as hostile: the whole download is bounded
in time and size, every member is checked before anything is written (name: no absolute path,
drive, ``..``, link, duplicate, over-long path, nor a file where another member needs a folder;
no encryption and only the compression methods Python reads; at most ``Limits.rule_files`` rule
files of at most ``Limits.rule_file_bytes`` each), the unpacked size is capped by the bytes
actually written, and the set is compiled exactly as a hunt compiles it (``compile_paths``)
before the ``current`` link moves. A rule file the hunt would reject is set aside in
``rejected/`` (named in the report and the manifest), so that ``hunt --rules sigmahq`` runs
clean; a package with no rule left, or past a limit, is refused whole. Any failure leaves the
previous set in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import stat
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from sentinelle.errors import Location, RuleError, SentinelleError
from sentinelle.paths import data_dir
from sentinelle.sigma.files import MAX_RULE_FILE_BYTES, RULE_SUFFIXES

DEFAULT_URL = "https://github.com/SigmaHQ/sigma/releases/latest/download/sigma_all_rules.zip"
URL_ENV = "SENTINELLE_SIGMA_URL"

MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
# SigmaHQ's full package holds about 4,000 rule files and as many rules: five times that.
MAX_RULE_FILES = 20_000
MAX_RULES = 20_000
DEFAULT_TIMEOUT = 300.0  # seconds for the whole download (SigmaHQ's package is about 10 MB)
KEPT_VERSIONS = 2  # current and the one before, so a bad release can be compared with the last
# Longest member path and path component written (Linux: 4,096 and 255 bytes).
MAX_PATH_CHARS = 1024
MAX_NAME_BYTES = 255
# Compression methods Python's zipfile reads (stored, deflate, bzip2, lzma); other methods a
# package may name, for the refusal.
READABLE_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_METHOD_NAMES = {6: "Implode", 9: "Deflate64", 93: "Zstandard", 95: "XZ", 98: "PPMd", 99: "AES"}

_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 16


class UpdateError(SentinelleError):
    """The rule package could not be fetched, was unsafe, or held no usable rule."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What a package may hold; past any of these it is refused whole."""

    download_bytes: int = MAX_DOWNLOAD_BYTES
    unpacked_bytes: int = MAX_UNPACKED_BYTES
    members: int = MAX_MEMBERS
    rule_files: int = MAX_RULE_FILES
    rule_file_bytes: int = MAX_RULE_FILE_BYTES
    rules: int = MAX_RULES


@dataclass(slots=True)
class RuleChange:
    key: str  # rule id, or "path:<file>" for a rule without one
    title: str
    path: str


@dataclass(slots=True)
class UpdateReport:
    """What was installed. ``errors`` are the rejections of the package's rules, whose files
    were set aside in ``set_aside`` rather than installed."""

    url: str
    sha256: str
    directory: Path
    rules: int
    correlations: int
    filters: int
    errors: list[RuleError]
    previous: Path | None
    set_aside: list[str] = field(default_factory=list)  # rule files moved to ``rejected/``
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
    timeout: float = DEFAULT_TIMEOUT,
    cache_dir: Path | None = None,
) -> UpdateReport:
    """Download, verify and switch to the rule package at ``url``; report what changed.

    The verified set is also stored in the rule cache (``cache_dir``, else the user's)."""
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
            report = _verify(final, url, digest, root, limits, cache_dir)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        _switch(root, final)
        _prune(versions, keep={final, report.previous.parent if report.previous else final})
        return report


def download(url: str, dest: Path, max_bytes: int, timeout: float) -> str:
    """Stream ``url`` into ``dest``, refusing more than ``max_bytes``; return its sha256.

    ``timeout`` bounds the whole transfer, headers included: a watchdog shuts the connection's
    socket down when it passes, so a server that drips a byte now and then cannot hold the
    update open (a per-read timeout never fires on such a server).
    """
    # Imported here: every hunt reads this module (current_sigmahq), few download (~12 ms).
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    where = Location(url)
    try:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
    except ValueError as exc:  # http://[::1
        raise UpdateError(f"not a valid URL: {exc}", where) from None
    if scheme not in ("https", "http", "file"):
        raise UpdateError(f"unsupported URL scheme {scheme!r}", where)
    if not timeout > 0:
        raise UpdateError(f"the timeout must be a positive number of seconds, not {timeout}")
    digest = hashlib.sha256()
    size = 0
    watchdog = _Watchdog()
    opener = urllib.request.build_opener(
        _tracked_handler(urllib.request.HTTPHandler, watchdog),
        _tracked_handler(urllib.request.HTTPSHandler, watchdog),
    )
    timer = threading.Timer(timeout, watchdog.expire)
    timer.daemon = True
    timer.start()
    try:
        with opener.open(url, timeout=timeout) as resp, dest.open("wb") as out:
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdecimal() and int(length) > max_bytes:
                raise UpdateError(
                    f"package is {int(length)} bytes, more than the {max_bytes} allowed", where
                )
            while chunk := resp.read(_CHUNK):
                if watchdog.expired:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise UpdateError(f"package exceeds the {max_bytes} bytes allowed", where)
                digest.update(chunk)
                out.write(chunk)
    except UpdateError:
        raise
    except urllib.error.HTTPError as exc:
        raise UpdateError(f"download failed: HTTP {exc.code} {exc.reason}", where) from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError, EOFError) as exc:
        # Also what a socket shut down by the watchdog raises (reset, incomplete read, a
        # status line cut short), and what a server that is not HTTP sends.
        if not watchdog.expired:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise UpdateError(f"download failed: {reason}", where) from exc
    finally:
        timer.cancel()
    if watchdog.expired:
        raise UpdateError(f"download took longer than the {timeout:g} s allowed", where)
    if size == 0:
        raise UpdateError("download is empty", where)
    return digest.hexdigest()


class _Watchdog:
    """The sockets of one download; ``expire`` shuts them down, now and as they open."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: it wakes a thread blocked reading the socket, which close does not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _tracked_handler(base: type[Any], watchdog: _Watchdog) -> Any:
    """An HTTP(S) handler whose connections hand every socket they open to ``watchdog``."""

    class Handler(base):  # type: ignore[misc]
        def do_open(self, http_class: type[Any], req: Any, **kwargs: Any) -> Any:
            class Connection(http_class):  # type: ignore[misc]
                def __init__(self, *args: Any, **kw: Any) -> None:
                    super().__init__(*args, **kw)
                    create: Any = getattr(self, "_create_connection")  # noqa: B009

                    def tracked(*a: Any, **k: Any) -> socket.socket:
                        sock: socket.socket = create(*a, **k)
                        watchdog.track(sock)  # the raw socket, before any TLS handshake
                        return sock

                    self._create_connection = tracked

            return super().do_open(Connection, req, **kwargs)

    return Handler()


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
    shown = name if len(name) <= 80 else name[:80] + "..."
    if len(normalised) > MAX_PATH_CHARS:
        raise UpdateError(
            f"member path of {len(normalised)} characters (at most {MAX_PATH_CHARS}): {shown!r}"
        )
    if any(len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for p in parts):
        raise UpdateError(f"member path with a name of more than {MAX_NAME_BYTES} bytes: {shown!r}")
    return PurePosixPath(*parts)


def extract_safely(archive: Path, target: Path, limits: Limits, where: Location) -> int:
    """Unpack ``archive`` into ``target`` after checking every member; return bytes written."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UpdateError(f"not a zip archive: {exc}", where) from exc
    with zf:
        plan = _plan(zf.infolist(), limits, where)
        target.mkdir(parents=True)
        base = target.resolve()
        written = 0
        for info, rel in plan:
            dest = target.joinpath(*rel.parts)
            try:
                if not dest.resolve().is_relative_to(base):  # belt and braces after member_path
                    raise UpdateError(f"member path leaves the package: {info.filename!r}", where)
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                cap = limits.rule_file_bytes if _is_rule_file(rel) else None
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, dest.open("xb") as out:
                    size = 0
                    while chunk := src.read(_CHUNK):
                        size += len(chunk)
                        written += len(chunk)
                        if written > limits.unpacked_bytes:
                            raise UpdateError(
                                f"unpacks to more than the {limits.unpacked_bytes} bytes allowed",
                                where,
                            )
                        if cap is not None and size > cap:
                            raise UpdateError(_rule_file_too_big(info, cap, None), where)
                        out.write(chunk)
            except UpdateError:
                raise
            except (
                zipfile.BadZipFile,
                zipfile.LargeZipFile,
                NotImplementedError,  # a method or feature zipfile does not read
                RuntimeError,  # zipfile's "encrypted, password required"
                ValueError,
                EOFError,
                OSError,
            ) as exc:
                raise UpdateError(f"{info.filename}: cannot unpack: {exc}", where) from exc
        return written


def _plan(
    infos: list[zipfile.ZipInfo], limits: Limits, where: Location
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every member checked before anything is written; the package refused on the first fault."""
    if len(infos) > limits.members:
        raise UpdateError(f"{len(infos)} members, more than the {limits.members} allowed", where)
    plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    files: dict[str, str] = {}  # folded path -> member name
    folders: dict[str, str] = {}  # folded folder path -> a member name that needs it
    declared = 0
    rule_files = 0
    for info in infos:
        try:
            rel = member_path(info.filename)
        except UpdateError as exc:
            raise UpdateError(exc.message, where) from None
        name = repr(info.filename[:80])
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UpdateError(f"symbolic link in package: {name}", where)
        if info.flag_bits & 0x1:
            raise UpdateError(f"encrypted member: {name}", where)
        if not info.is_dir() and info.compress_type not in READABLE_METHODS:
            method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise UpdateError(f"{name}: compression {method} is not supported", where)
        key = str(rel).lower()  # case-insensitive filesystems would merge these
        parents = [str(p).lower() for p in rel.parents if str(p) != "."]
        if info.is_dir():
            parents.append(key)
        elif key in files:
            raise UpdateError(f"duplicate member: {name}", where)
        elif key in folders:
            raise UpdateError(
                f"a file and a folder of the same name: {name} and {folders[key]!r}", where
            )
        else:
            files[key] = info.filename
        for folder in parents:
            if folder in files:
                raise UpdateError(
                    f"a file and a folder of the same name: {files[folder]!r} and {name}", where
                )
            folders.setdefault(folder, info.filename)
        if not info.is_dir() and _is_rule_file(rel):
            rule_files += 1
            if rule_files > limits.rule_files:
                raise UpdateError(
                    f"more than {limits.rule_files} rule files (a package of rules is refused "
                    "past that)",
                    where,
                )
            if info.file_size > limits.rule_file_bytes:
                raise UpdateError(
                    _rule_file_too_big(info, limits.rule_file_bytes, info.file_size), where
                )
        declared += info.file_size
        plan.append((info, rel))
    if declared > limits.unpacked_bytes:
        raise UpdateError(
            f"unpacks to {declared} bytes, more than the {limits.unpacked_bytes} allowed", where
        )
    return plan


def _is_rule_file(rel: PurePosixPath) -> bool:
    return rel.suffix in RULE_SUFFIXES


def _rule_file_too_big(info: zipfile.ZipInfo, cap: int, size: int | None) -> str:
    told = f"{size} bytes" if size is not None else "more than that"
    return (
        f"rule file {info.filename[:80]!r} unpacks to {told}; a rule file may hold at most "
        f"{cap} bytes"
    )


def _verify(
    version: Path, url: str, digest: str, root: Path, limits: Limits, cache_dir: Path | None
) -> UpdateReport:
    """Compile the unpacked set as a hunt will, set aside the files of rejected rules, report.

    Setting a file aside can make another rule fail (a correlation naming a rule of that
    file), so the set is compiled again until nothing is rejected; each pass sets at least one
    file aside, and a rejection tied to no file of the package refuses it.
    """
    from sentinelle.engine import compile_paths, remember_compiled

    rules_dir = (version / "rules").resolve()
    aside = version / "rejected"
    rejected: list[RuleError] = []
    moved: list[str] = []
    while True:
        ruleset, compiled = compile_paths([rules_dir], max_rules=limits.rules)
        if ruleset.stopped is not None:
            raise UpdateError(f"package refused: {ruleset.stopped.message}", Location(url))
        errors = compiled.rejections()
        if not errors:
            break
        files = {_package_file(e, rules_dir) for e in errors}
        if None in files:
            stray = next(e for e in errors if _package_file(e, rules_dir) is None)
            raise UpdateError(f"the package cannot be checked: {stray}", Location(url))
        for rel in sorted(f for f in files if f is not None):
            dest = aside / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            (rules_dir / rel).rename(dest)
            moved.append(rel)
        rejected.extend(errors)
    if not compiled.rules and not compiled.correlations:
        raise UpdateError(
            f"package holds no loadable Sigma rule ({len(rejected)} rejected)", Location(url)
        )
    entries = _entries(compiled, ruleset, rules_dir)
    manifest: dict[str, Any] = {
        "url": url,
        "sha256": digest,
        "downloaded": datetime.now(tz=UTC).isoformat(),
        "rules": len(compiled.rules),
        "correlations": len(compiled.correlations),
        "filters": len(ruleset.filters),
        "errors": len(rejected),
        "rejected": [{"path": _package_file(e, rules_dir), "reason": str(e)} for e in rejected],
        "entries": entries,
    }
    (version / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    # The first `hunt --rules sigmahq` then finds the set compiled, with its matchers built.
    remember_compiled([rules_dir], compiled, cache_dir=cache_dir)
    previous_rules = current_sigmahq(root)
    before = _read_entries(previous_rules.parent) if previous_rules else {}
    report = UpdateReport(
        url=url,
        sha256=digest,
        directory=rules_dir,
        rules=len(compiled.rules),
        correlations=len(compiled.correlations),
        filters=len(ruleset.filters),
        errors=rejected,
        previous=previous_rules,
        set_aside=moved,
    )
    for key in sorted(entries.keys() - before.keys()):
        report.added.append(RuleChange(key, entries[key]["title"], entries[key]["path"]))
    for key in sorted(before.keys() - entries.keys()):
        report.removed.append(RuleChange(key, before[key]["title"], before[key]["path"]))
    for key in sorted(entries.keys() & before.keys()):
        if entries[key]["sha256"] != before[key]["sha256"]:
            report.changed.append(RuleChange(key, entries[key]["title"], entries[key]["path"]))
    return report


def _package_file(error: RuleError, rules_dir: Path) -> str | None:
    """The package-relative path of the rule file an error is about, if it is one of them."""
    if error.location is None:
        return None
    path = Path(error.location.source)
    if not path.is_relative_to(rules_dir) or not path.is_file():
        return None
    return path.relative_to(rules_dir).as_posix()


def _entries(compiled: Any, ruleset: Any, rules_dir: Path) -> dict[str, dict[str, str]]:
    """What the manifest records of each installed rule and correlation, by id."""
    entries: dict[str, dict[str, str]] = {}
    items: list[tuple[str | None, str, str]] = [
        (r.id if not r.id.startswith(r.path + ":") else None, r.title, r.path)
        for r in compiled.rules
    ]
    items += [
        (
            str(c.id) if c.id is not None else None,
            str(c.title),
            str(c.source.path) if c.source is not None and c.source.path is not None else "",
        )
        for c in compiled.correlations
    ]
    for ident, title, path in items:
        rel = Path(path).relative_to(rules_dir).as_posix() if path else ""
        content = ruleset.files.get(path, b"")
        entries[ident if ident is not None else f"path:{rel}"] = {
            "title": title,
            "path": rel,
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    return entries


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
