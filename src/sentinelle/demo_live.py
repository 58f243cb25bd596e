"""``make demo``: the two worked nights replayed, accelerated, into a running service and its web
app, so a newcomer watches alerts arrive and incidents form in the crisis room.

The service is ``sentinelle serve`` itself (a child process on a data folder under the demo's
output, the shipped rule pack, the worked hospital, loopback listeners), fed through its own
inputs: the firewalls' syslog over TCP, the Windows event files and the Zeek logs dropped into
its watched folder slice by slice. Each night is replayed in its own time order, ``speed``
times faster than it happened. Ctrl-C (or SIGTERM) stops the replay, then the service, which
drains and checkpoints as it always does.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from sentinelle.errors import SentinelleError
from sentinelle.hunt.rulesets import SHIPPED_RULES
from sentinelle.scenarios import generate_scenario
from sentinelle.service.runner import answers_ready

DEMO_USER = "demo"
# In the order they happened (December 2023, then March 2024): live detection's correlations
# follow one clock that never goes back, so a night replayed after a later one would have its
# windows judged at the later night's time (every burst at one instant, alerts dated 2024).
NIGHTS = ("ransomware", "nantes-2024")
_WINDOWS_TIME = re.compile(rb'"SystemTime":"([^"]+)"')
_SYSLOG_TIME = re.compile(rb"^<\d+>1 (\S+) ")


class DemoError(SentinelleError):
    """The live demo could not start or feed its service."""


@dataclass(slots=True)
class Night:
    """One scenario's records in time order, each with where it goes."""

    name: str
    records: list[tuple[float, str, bytes]] = field(default_factory=list)  # (time, target, line)
    headers: dict[str, list[bytes]] = field(default_factory=dict)  # Zeek headers per target

    @property
    def span(self) -> float:
        return self.records[-1][0] - self.records[0][0] if self.records else 0.0


def _iso(text: bytes) -> float:
    return datetime.fromisoformat(text.decode().replace("Z", "+00:00")).timestamp()


def load_night(name: str, folder: Path) -> Night:
    """The scenario's Windows events, firewall syslog and Zeek connections, in time order."""
    night = Night(name)
    for path in sorted(folder.glob("windows/*/*.jsonl")):
        target = f"windows:{path.parent.name}-{path.stem}"
        for line in path.read_bytes().splitlines():
            found = _WINDOWS_TIME.search(line)
            if found:
                night.records.append((_iso(found.group(1)), target, line))
    for path in sorted(folder.glob("firewall/*.log")):
        for line in path.read_bytes().splitlines():
            found = _SYSLOG_TIME.match(line)
            if found:
                night.records.append((_iso(found.group(1)), "syslog", line))
    for path in sorted(folder.glob("zeek/*/conn.log")):
        target = f"zeek:{path.parent.name}"
        header: list[bytes] = []
        for line in path.read_bytes().splitlines():
            if line.startswith(b"#"):
                if not line.startswith(b"#close"):
                    header.append(line)
                continue
            stamp = line.split(b"\t", 1)[0]
            try:
                night.records.append((float(stamp), target, line))
            except ValueError:
                continue
        night.headers[target] = header
    night.records.sort(key=lambda record: record[0])
    return night


class Feeder:
    """Hands a night's records to the service: syslog lines over one TCP connection, files as
    slices in the watched folder (written aside, then renamed, so none is read half-written)."""

    def __init__(self, watch: Path, syslog: tuple[str, int]) -> None:
        self.watch = watch
        self.syslog_address = syslog
        self._socket: socket.socket | None = None
        self.slices = 0
        self.sent = 0

    def _syslog(self) -> socket.socket:
        if self._socket is None:
            self._socket = socket.create_connection(self.syslog_address, timeout=30)
        return self._socket

    def feed(self, night: Night, batch: list[tuple[float, str, bytes]]) -> None:
        per_target: dict[str, list[bytes]] = defaultdict(list)
        for _when, target, line in batch:
            per_target[target].append(line)
        lines = per_target.pop("syslog", [])
        if lines:
            self._syslog().sendall(b"".join(line + b"\n" for line in lines))
        for target, rows in per_target.items():
            kind, _, name = target.partition(":")
            self.slices += 1
            folder = self.watch / night.name
            folder.mkdir(parents=True, exist_ok=True)
            if kind == "zeek":
                final = folder / f"{self.slices:06d}-{name}-conn.log"
                body = b"\n".join([*night.headers.get(target, []), *rows]) + b"\n"
            else:
                final = folder / f"{self.slices:06d}-{name}.jsonl"
                body = b"\n".join(rows) + b"\n"
            aside = folder / f".{final.name}"
            aside.write_bytes(body)
            aside.replace(final)
        self.sent += len(batch)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def replay(
    nights: list[Night],
    feeder: Feeder,
    speed: float,
    *,
    tick: float = 1.0,
    stopped: Callable[[], bool] = lambda: False,
    progress: Callable[[str], None] = lambda _text: None,
) -> None:
    """Each night in turn, ``speed`` times faster than it happened, one batch per ``tick``."""
    for night in nights:
        if not night.records:
            continue
        progress(
            f"replaying {night.name}: {len(night.records)} records over"
            f" {night.span / 3600:.1f} h, in {night.span / speed / 60:.1f} min"
        )
        first = night.records[0][0]
        began = time.monotonic()
        position = 0
        while position < len(night.records) and not stopped():
            reached = first + (time.monotonic() - began) * speed
            end = position
            while end < len(night.records) and night.records[end][0] <= reached:
                end += 1
            if end > position:
                feeder.feed(night, night.records[position:end])
                position = end
            time.sleep(tick)
        progress(f"{night.name}: {position} of {len(night.records)} records sent")


@dataclass(slots=True)
class Service:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def write_config(out: Path, http: str, syslog_tcp: str) -> Path:
    config = {
        "data_dir": str(out / "data"),
        "http": http,
        "syslog_tcp": syslog_tcp,
        "syslog_udp": "off",
        "syslog_tls": "off",
        "netflow": "off",
        "watch_folder": str(out / "watch"),
        "rules": [str(SHIPPED_RULES)],
        # The feeder renames each slice into place whole: no need to wait for it to settle,
        # and the Windows events reach the journal close behind the syslog of the same moment
        # (at 240 times real speed, each second of delay is four minutes of the night).
        "inputs": {"folder_poll_seconds": 0.25, "folder_stable_seconds": 0},
    }
    (out / "watch").mkdir(parents=True, exist_ok=True)
    path = out / "serve.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sentinelle.cli.main", *args]


def make_demo_user(out: Path) -> str:
    """The demo's analyst (made once per data folder); its password, kept beside the data."""
    secret_file = out / "demo-password.txt"
    if secret_file.exists():
        return secret_file.read_text(encoding="utf-8").strip()
    password = "demo-" + secrets.token_urlsafe(12)
    done = subprocess.run(
        _command(
            "users", "create", DEMO_USER, "--role", "analyst", "--data-dir", str(out / "data")
        ),
        input=password + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DemoError(f"cannot make the demo user: {done.stderr.strip()}")
    secret_file.write_text(password + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    return password


def start_service(out: Path, config: Path, http: str, timeout: float = 120.0) -> Service:
    log = out / "serve.log"
    handle = log.open("ab")
    env = {**os.environ, "SENTINELLE_LOG_LEVEL": os.environ.get("SENTINELLE_LOG_LEVEL", "WARNING")}
    process = subprocess.Popen(
        _command("serve", "--config", str(config)),
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C reaches the demo, which stops the service in order
    )
    handle.close()
    service = Service(process, f"http://{http}", log)
    deadline = time.monotonic() + timeout
    try:
        while not answers_ready(service.url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise DemoError(f"the service did not become ready; its log ends with:\n{tail}")
            time.sleep(0.3)
    except BaseException:  # Ctrl-C while waiting too: the service must not outlive the demo
        stop_service(service)
        raise
    return service


def stop_service(service: Service, timeout: float = 60.0) -> int:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
    return int(service.process.returncode or 0)


def generate_nights(out: Path, seed: int, scale: float) -> list[Path]:
    folders = []
    for name in NIGHTS:
        folder = out / "scenarios" / name
        if not (folder / "manifest.json").exists():
            generate_scenario(name, folder, seed=seed, scale=scale)
        folders.append(folder)
    return folders


@dataclass(slots=True)
class LiveDemo:
    out: Path
    http: str = "127.0.0.1:8080"
    syslog_tcp: str = "127.0.0.1:5514"
    speed: float = 240.0
    seed: int = 2024
    scale: float = 0.5
    stop_requested: bool = False

    def run(self, say: Callable[[str], None]) -> int:
        """Everything, until Ctrl-C; the service's exit status (130 if stopped before it ran)."""
        self.out.mkdir(parents=True, exist_ok=True)
        service: Service | None = None
        feeder: Feeder | None = None
        previous = signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        # Ctrl-C raises KeyboardInterrupt here even when this process was started with SIGINT
        # ignored (as everything a non-interactive shell starts with '&' is): Python then
        # leaves it ignored, and the demo, its service running, would never stop on it.
        previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            say(f"generating the two nights under {self.out / 'scenarios'} ...")
            folders = generate_nights(self.out, self.seed, self.scale)
            config = write_config(self.out, self.http, self.syslog_tcp)
            password = make_demo_user(self.out)
            for option, address in (("--http", self.http), ("--syslog-tcp", self.syslog_tcp)):
                check_free(option, address)
            say("starting sentinelle serve ...")
            service = start_service(self.out, config, self.http)
            running = service
            feeder = Feeder(self.out / "watch", _address(self.syslog_tcp))
            say("")
            say(f"The crisis room: {service.url}/   sign in as {DEMO_USER} / {password}")
            say(
                "Alerts arrive under Alerts, incidents form under Incidents; open the ransomware"
                " incident and simulate cutting the internet. Ctrl-C stops."
            )
            say("")
            nights = [load_night(n, f) for n, f in zip(NIGHTS, folders, strict=True)]

            def stopped() -> bool:
                return self.stop_requested or running.process.poll() is not None

            try:
                replay(nights, feeder, self.speed, stopped=stopped, progress=say)
            except OSError as exc:
                raise DemoError(f"cannot feed the service: {exc}") from exc
            if not stopped():
                say("both nights replayed; the service keeps running until Ctrl-C.")
            while not stopped():
                time.sleep(0.5)
            if service.process.poll() is not None:
                raise DemoError(f"the service stopped by itself; see {service.log}")
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
            if feeder is not None:
                feeder.close()
            status = 130
            if service is not None:
                say("stopping the service (it drains and checkpoints) ...")
                status = stop_service(service)
                say(f"stopped; the data folder stays at {self.out / 'data'}")
        return status

    def request_stop(self) -> None:
        self.stop_requested = True


def check_free(option: str, address: str) -> None:
    """Refuse to start beside another service on the same port (its /readyz would answer for
    ours)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(_address(address))
        except OSError as exc:
            raise DemoError(f"{option} {address}: {exc.strerror}; choose another") from exc


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def free_ports(count: int) -> Iterator[int]:
    """Free loopback TCP ports (for tests and a second demo beside a running service)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        yield from (int(s.getsockname()[1]) for s in sockets)
    finally:
        for s in sockets:
            s.close()
