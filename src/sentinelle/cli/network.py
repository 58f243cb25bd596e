"""``sentinelle network``: flow collection and network detection (floods, scans, exfiltration).

``network detect PATH...`` reads flow captures (pcap, pcapng, RFC 5655 IPFIX files) and, through
the readers, firewall syslog and Zeek ``conn.log`` files, all into one detector, in the order
given (give files in time order). ``network collect`` listens for NetFlow/IPFIX on UDP.
``network config`` prints the effective settings. Detections go out as JSON Lines (the hunt
timeline format); counters and problems go to stderr, or as JSON to ``--stats``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import typer

from sentinelle.detections import Detection
from sentinelle.errors import Location, ReadError, SentinelleError
from sentinelle.events import ReadIssue
from sentinelle.network.capture import CaptureStats, read_capture, sniff_capture
from sentinelle.network.collector import FlowCollector, parse_listen
from sentinelle.network.config import NetworkConfig, dump_config, load_config
from sentinelle.network.detect import NetworkDetector
from sentinelle.network.flow import (
    ConversionStats,
    FlowRecord,
    flows_from_batches,
    merge_by_time,
)
from sentinelle.network.losses import named_losses
from sentinelle.network.netflow import FlowDecoder
from sentinelle.network.places import ModelPlaces
from sentinelle.terminal import printable

network_app = typer.Typer(
    name="network",
    help="Flow collection and network detection: floods, scans, exfiltration.",
    no_args_is_help=True,
)

_CONFIG = typer.Option(None, "--config", "-c", help="YAML settings (defaults when absent).")
_OUTPUT = typer.Option(None, "--output", "-o", help="Write detections here (JSONL); else stdout.")
_HOSPITAL = typer.Option(
    None, "--hospital", help="Hospital model (YAML): rates also per site and per service."
)
_PATHS = typer.Argument(..., help="Flow captures, firewall logs, Zeek conn.log.")
_STATS = typer.Option(None, "--stats", help="Write counters and problems here as JSON.")


def register(app: typer.Typer) -> None:
    app.add_typer(network_app)


class _Run:
    """One detector with its decoder and counters, and where detections go."""

    def __init__(self, config: NetworkConfig, stream: TextIO, hospital: Path | None) -> None:
        self.decoder = FlowDecoder(config.decoder)
        self.detector = NetworkDetector(config, _locator(hospital))
        self.capture = CaptureStats()
        self.events = ConversionStats()
        self.stream = stream
        self.written = 0
        self.failed_files: list[str] = []
        self.empty_files: list[dict[str, str]] = []

    def emit(self, detections: list[Detection]) -> None:
        from sentinelle.hunt.outputs.jsonl import detection_record, dumps

        for det in detections:
            self.stream.write(dumps(detection_record(det)) + "\n")
            self.written += 1
        if detections:
            self.stream.flush()

    def summary(self) -> dict[str, Any]:
        issues: list[ReadIssue] = [*self.capture.issues, *self.decoder.stats.issues]
        issues.extend(self.events.issues)
        out: dict[str, Any] = {
            "detections": self.written,
            "failed_files": self.failed_files,
            "files_without_flows": self.empty_files,
            "capture": {k: getattr(self.capture, k) for k in _CAPTURE_COUNTERS},
            "decoder": self.decoder.stats.as_dict(),
            "events": {
                "events": self.events.events,
                "flows": self.events.flows,
                "skipped": self.events.skipped,
                "read_issues": self.events.read_issues,
            },
            **self.detector.summary(),
            "issues": [str(issue) for issue in issues],
        }
        out["losses"] = named_losses(out)
        return out

    def report(self, stats_path: Path | None) -> None:
        summary = self.summary()
        if stats_path is not None:
            stats_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        decoder = summary["decoder"]
        detector = summary["detector"]
        _say(
            f"{summary['detections']} detections; "
            f"{decoder['messages']} flow messages, {decoder['records']} NetFlow records, "
            f"{summary['events']['flows']} flows from events; "
            f"{detector['flows']} flows analysed, {detector['late_flows']} late"
        )
        lost = [f"{n} {name}" for name, n in summary["losses"].items() if n]
        if lost:
            _say("set aside, refused or lost: " + ", ".join(lost))
            for issue in summary["issues"][:10]:
                typer.echo(f"  {printable(issue)}", err=True)
        if gaps := decoder["sequence_gaps"]:
            _say(f"{gaps} sequence gaps: {decoder['sequence_lost']} missing from the exporters")

    def file_done(self, path: Path, flows: int, before: dict[str, int]) -> None:
        """Say why a file gave no flow at all, from what its reading counted."""
        if flows:
            return
        after = self.counters()
        reason = _no_flows_reason({k: after[k] - before.get(k, 0) for k in after})
        if len(self.empty_files) < 1_000:
            self.empty_files.append({"path": str(path), "reason": reason})
        _say(f"{path}: no flows: {reason}")

    def counters(self) -> dict[str, int]:
        counts = {f"capture.{k}": getattr(self.capture, k) for k in _CAPTURE_COUNTERS}
        decoded = self.decoder.stats.as_dict()
        counts.update({f"decoder.{k}": v for k, v in decoded.items() if isinstance(v, int)})
        counts["events.events"] = self.events.events
        counts["events.skipped"] = self.events.skipped
        counts["events.read_issues"] = self.events.read_issues
        return counts


def _say(text: str) -> None:
    """A line on stderr; file names and reasons come from input: shown, never obeyed."""
    typer.echo(f"sentinelle network: {printable(text)}", err=True)


def _no_flows_reason(delta: dict[str, int]) -> str:
    """Why a file gave nothing, from what reading it counted."""
    if delta["capture.packets"] or delta["capture.messages"]:
        parts = [f"{delta['capture.packets']} packets"] if delta["capture.packets"] else []
        for key, name in (
            ("capture.skipped_link", "on a link type not supported"),
            ("capture.skipped_not_udp", "not UDP"),
            ("capture.skipped_port", "to other ports"),
            ("capture.skipped_fragment", "fragmented"),
        ):
            if delta[key]:
                parts.append(f"{delta[key]} {name}")
        messages = delta["decoder.messages"]
        parts.append(f"{messages} flow messages" if messages else "no flow message")
        for key, name in (
            ("decoder.unsupported_version", "not NetFlow/IPFIX"),
            ("decoder.malformed", "malformed"),
            ("decoder.truncated", "truncated"),
            ("decoder.unknown_template_sets", "data sets for unknown templates"),
            ("decoder.far_from_header", "records far from their export time"),
            ("decoder.non_flow_records", "records without addresses"),
        ):
            if delta[key]:
                parts.append(f"{delta[key]} {name}")
        return ", ".join(parts)
    if delta["events.events"]:
        skipped = delta["events.skipped"]
        return f"{delta['events.events']} events, none a usable flow ({skipped} set aside)"
    if delta["events.read_issues"]:
        return f"nothing read ({delta['events.read_issues']} read issues)"
    return "the file holds no packet, message or event"


_CAPTURE_COUNTERS = (
    "packets",
    "messages",
    "skipped_link",
    "skipped_not_udp",
    "skipped_port",
    "skipped_fragment",
    "truncated",
)


def _locator(hospital: Path | None) -> Callable[[str], dict[str, Any] | None] | None:
    """``locate(ip)`` from a hospital model: the site, services, asset and zone of an address."""
    if hospital is None:
        return None
    from sentinelle.hospital import load_model

    return ModelPlaces(load_model(hospital))


def _flows_of_file(path: Path, run: _Run) -> Iterator[list[FlowRecord]]:
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise ReadError(f"cannot open: {exc.strerror}", Location(str(path))) from exc
    if sniff_capture(head) is not None:
        for message in read_capture(path, run.capture):
            yield run.decoder.decode(message.payload, message.exporter, message.time, message.where)
        return
    try:
        from sentinelle.readers import read_file  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        raise ReadError(
            "not a flow capture, and the log readers are not available", Location(str(path))
        ) from exc
    yield from flows_from_batches(read_file(path), run.events)


def _open_output(output: Path | None) -> TextIO:
    if output is None:
        return sys.stdout
    return output.open("w", encoding="utf-8")


@network_app.command("detect")
def detect_command(
    paths: list[Path] = _PATHS,
    config: Path | None = _CONFIG,
    output: Path | None = _OUTPUT,
    stats: Path | None = _STATS,
    hospital: Path | None = _HOSPITAL,
) -> None:
    """Detect floods, scans and unusual outbound volume in flow and firewall files.

    The files are read side by side and their flows merged by time, so that a firewall log
    and a Zeek log of the same night make one picture.
    """
    settings = load_config(config)
    stream = _open_output(output)
    run = _Run(settings, stream, hospital)
    try:
        streams = (_guarded(path, run) for path in _expand(paths))
        merged = merge_by_time(streams, settings.max_jump_seconds)
        chunk: list[FlowRecord] = []
        for flow in merged:
            chunk.append(flow)
            if len(chunk) >= _DELIVERY:
                run.emit(run.detector.feed(chunk))
                chunk = []
        run.emit(run.detector.feed(chunk))
        run.emit(run.detector.finish())
    finally:
        if stream is not sys.stdout:
            stream.close()
    run.report(stats)
    if run.failed_files:
        raise typer.Exit(1)


# Flows handed to the detector at a time: one delivery, in the sense of its clock's agreement
# (a file's flows far ahead of the clock move it after agreement_deliveries of these).
_DELIVERY = 512


def _expand(paths: list[Path]) -> list[Path]:
    """Files under the given paths: directories are walked (in sorted order)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            out.append(path)
    return out


def _guarded(path: Path, run: _Run) -> Iterator[FlowRecord]:
    """The flows of one file; a file that fails is reported and the others go on, and a file
    that gives no flow says why."""
    before = run.counters()
    count = 0
    try:
        for flows in _flows_of_file(path, run):
            count += len(flows)
            yield from flows
    except SentinelleError as exc:  # file boundary: one bad file must not stop the others
        run.failed_files.append(str(path))
        _say(f"{path}: {exc.message}")
        return
    run.file_done(path, count, before)


@network_app.command("collect")
def collect_command(
    listen: str = typer.Option("127.0.0.1:2055", "--listen", "-l", help="HOST:PORT to bind."),
    config: Path | None = _CONFIG,
    output: Path | None = _OUTPUT,
    stats: Path | None = _STATS,
    duration: float | None = typer.Option(None, help="Stop after this many seconds."),
    idle_timeout: float | None = typer.Option(
        None, "--idle-timeout", help="Stop after this many seconds without a datagram."
    ),
    max_messages: int | None = typer.Option(None, "--max-messages", help="Stop after N."),
    hospital: Path | None = _HOSPITAL,
) -> None:
    """Receive NetFlow v5/v9 and IPFIX on UDP and detect as flows arrive (Ctrl-C stops)."""
    settings = load_config(config)
    host, port = parse_listen(listen)
    stream = _open_output(output)
    run = _Run(settings, stream, hospital)
    detector = run.detector
    try:
        with FlowCollector(host, port) as collector:
            typer.echo(f"sentinelle network: listening on {host}:{collector.address[1]}", err=True)
            # Flow time moves on with the wall clock while exporters are silent, so that an
            # attack still ends when its traffic (and with it the flows) stops.
            quiet_since, quiet_base = time.monotonic(), detector.newest
            try:
                for message in collector.messages(duration, idle_timeout, max_messages):
                    if message is None:
                        if quiet_base > float("-inf"):
                            elapsed = time.monotonic() - quiet_since
                            run.emit(detector.advance(quiet_base + elapsed))
                        continue
                    flows = run.decoder.decode(
                        message.payload, message.exporter, message.time, message.where
                    )
                    run.emit(detector.feed(flows, message.time))
                    quiet_since, quiet_base = time.monotonic(), detector.newest
            except KeyboardInterrupt:
                typer.echo("sentinelle network: stopped", err=True)
        run.emit(detector.finish())
    finally:
        if stream is not sys.stdout:
            stream.close()
    run.report(stats)


@network_app.command("config")
def config_command(config: Path | None = _CONFIG) -> None:
    """Print the effective settings (the defaults, overridden by --config) as YAML."""
    typer.echo(dump_config(load_config(config)), nl=False)
