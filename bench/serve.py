"""``sentinelle serve`` end to end (issue 18): what it sustains, how late its alerts are, whether
its memory stays flat, how fast it is back after ``kill -9``.

Every part runs the real service (a ``sentinelle serve`` process with every SigmaHQ Windows
rule, fsync on every grouped commit) and real clients on loopback:

1. **Sustained events/s**, through HTTP bulk (NDJSON, four keep-alive clients, 1,000 events a
   request) with the mitre EVTX corpus's events as JSON documents, and through TCP syslog (four
   connections) with Linux lines: from the first byte sent to the detector's checkpoint past
   the last event (accepted, journaled, matched, stored). Against the hunt pipeline
   (``run_hunt``, one process) over the same events written to a file, in the same run.
   Beside the wall-clock rates, the CPU seconds each side spent (the service's two processes
   apart): on a shared machine the wall-clock ratio follows the load of the moment, the CPU
   seconds say where the work is.
2. **Latency** at half the sustained HTTP rate: one event in twenty carries its sending time
   and is matched by a rule of its own; from sending to the alert stored (its row's
   ``created``): p50 and p99.
3. **Peak RSS** of the service's processes (the serving one, the detector, its store) over a
   run and over one ten times longer.
4. **Restart** after ``kill -9`` with a journal of ``--journal-gb`` GB: from the new process to
   ``/readyz`` answering 200.

Usage: ``.venv/bin/python bench/serve.py [--events 50000] [--parts throughput,latency,rss,restart]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson

from _common import mitre_evtx_files, ratio
from sentinelle.paths import shared_data_dir

LATENCY_RULE = """
title: Bench latency marker
id: 5f0a8c3e-0000-4000-8000-0000000b3ac7
status: test
level: low
logsource: {product: windows, category: process_creation}
detection:
  selection: {CommandLine|contains: sentinelle-bench-latency}
  condition: selection
"""
LATENCY_RULE_ID = "5f0a8c3e-0000-4000-8000-0000000b3ac7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def corpus_documents() -> list[bytes]:
    """The mitre EVTX corpus's events as flat JSON documents (what a shipper would send)."""
    from sentinelle.readers import read_file

    docs: list[bytes] = []
    for path in mitre_evtx_files():
        for batch in read_file(path, batch_size=2048):
            for event in batch.events:
                doc = {str(k): v for k, v in event.fields.items()}
                if event.timestamp is not None:
                    doc["@timestamp"] = datetime.fromtimestamp(event.timestamp, UTC).isoformat()
                docs.append(orjson.dumps(doc, default=str))
    return docs


def quiet_documents(docs: list[bytes], rules: list[Path]) -> list[bytes]:
    """The documents no rule detects: a hospital's ordinary traffic, where alerts are rare
    (the attack corpus alerts on one event in six, and storing alerts is most of the work)."""
    from sentinelle.engine import load_compiled
    from sentinelle.events import Event, EventBatch
    from sentinelle.readers.jsonl import normalise_document

    compiled = load_compiled(rules)
    quiet = []
    for i in range(0, len(docs), 2000):
        part = docs[i : i + 2000]
        events = []
        for n, doc in enumerate(part):
            fields, ts, _flags = normalise_document(orjson.loads(doc))
            events.append(Event(fields, ts, "bench", n))
        hit = {d.event.record for d in compiled.match_batch(EventBatch("bench", events)) if d.event}
        quiet += [doc for n, doc in enumerate(part) if n not in hit]
    return quiet


def syslog_lines(count: int) -> list[bytes]:
    shapes = (
        "<38>Nov 27 22:{m:02d}:{s:02d} srv{h:02d} sshd[{p}]: Failed password for user{u} from "
        "10.0.{a}.{b} port {port} ssh2",
        "<86>Nov 27 22:{m:02d}:{s:02d} srv{h:02d} sudo: user{u} : TTY=pts/0 ; PWD=/home/user{u} ;"
        " USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
        "<30>Nov 27 22:{m:02d}:{s:02d} fw{h:02d} kernel: IN=eth0 OUT= SRC=10.0.{a}.{b} "
        "DST=10.1.0.{h} PROTO=TCP SPT={port} DPT=445 SYN",
    )
    return [
        shapes[n % 3]
        .format(
            m=n // 60 % 60,
            s=n % 60,
            h=n % 17,
            p=1000 + n % 30000,
            u=n % 97,
            a=n % 250,
            b=n % 199,
            port=1024 + n % 60000,
        )
        .encode()
        for n in range(count)
    ]


# -- the hunt pipeline over the same events (the baseline) -----------------------------------


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the hunt's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used (``/proc/PID/stat``: user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hunt_rate(path: Path, rules: list[Path], count: int) -> tuple[float, int, float]:
    """Events/s of the hunt pipeline (readers, engine, correlation, no output) over ``path``,
    its detections and its CPU seconds."""
    from sentinelle.engine import load_compiled
    from sentinelle.hunt.run import run_hunt
    from sentinelle.hunt.summary import HuntSummary
    from sentinelle.readers import read_file

    compiled = load_compiled(rules)
    summary = HuntSummary(rules_loaded=len(compiled.rules))
    cpu = cpu_seconds()
    started = time.perf_counter()
    run_hunt([path], compiled, read_file, [], summary, jobs=1)
    seconds = time.perf_counter() - started
    assert summary.events == count, (summary.events, count)
    return count / seconds, summary.detections, cpu_seconds() - cpu


# -- the service -----------------------------------------------------------------------------


class Service:
    def __init__(self, work: Path, rules: Sequence[Path], cache: Path) -> None:
        self.data = work / "data"
        self.rules = rules
        self.cache = cache
        self.http = free_port()
        self.tcp = free_port()
        self.log = work / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it; seconds until ``/readyz`` answers 200."""
        env = dict(os.environ, SENTINELLE_CACHE_DIR=str(self.cache), SENTINELLE_LOG_LEVEL="INFO")
        args = [sys.executable, "-m", "sentinelle.cli.main", "serve", "--data-dir", str(self.data)]
        args += ["--http", f"127.0.0.1:{self.http}", "--syslog-tcp", f"127.0.0.1:{self.tcp}"]
        args += ["--syslog-udp", "off", "--netflow", "off"]
        for rule in self.rules:
            args += ["--rules", str(rule)]
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=env)
        while not self.ready():
            if self.proc.poll() is not None:
                sys.exit(f"the service died:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)
        return time.perf_counter() - started

    def ready(self) -> bool:
        from sentinelle.service.runner import answers_ready

        return answers_ready(f"http://127.0.0.1:{self.http}")

    def token(self) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "sentinelle.cli.main",
                "tokens",
                "create",
                "--data-dir",
                str(self.data),
                "--role",
                "ingest",
                "--name",
                "bench",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def position(self) -> int:
        try:
            with sqlite3.connect(self.data / "sentinelle.db", timeout=30) as conn:
                row = conn.execute(
                    "SELECT position FROM pipeline_checkpoint WHERE name='detector'"
                ).fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0]) if row else 0

    def journal_last(self) -> int:
        from sentinelle.service.journal import JournalReader

        reader = JournalReader(self.data / "journal")
        try:
            return reader.last_seq()
        finally:
            reader.close()

    def wait_matched(self, last: int, timeout: float = 3600) -> float:
        deadline = time.monotonic() + timeout
        while self.position() < last:
            if time.monotonic() > deadline:
                sys.exit(f"the detector did not reach {last}")
            time.sleep(0.05)
        return time.perf_counter()

    def pids(self) -> list[int]:
        """The serving process, the detector (matching) and its store process."""
        assert self.proc is not None
        text = self.log.read_text()
        spawned = re.findall(r"event=detector.spawned pid=(\d+)", text)
        store = re.findall(r"event=detector.store_spawned pid=(\d+)", text)
        return [self.proc.pid, *(int(p) for p in spawned[-1:] + store[-1:])]

    def cpu(self) -> list[float]:
        """CPU seconds used so far by the serving process, the detector and its store."""
        return [process_cpu(pid) for pid in self.pids()]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=300)


def peak_rss_mb(pid: int) -> float:
    with Path(f"/proc/{pid}/status").open() as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def post_all(port: int, secret: str, docs: Sequence[bytes], clients: int = 4) -> None:
    """NDJSON requests of 1,000 events from ``clients`` keep-alive connections."""
    bodies = [b"\n".join(docs[i : i + 1000]) for i in range(0, len(docs), 1000)]
    shares = [bodies[i::clients] for i in range(clients)]

    def send(share: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for body in share:
            while True:
                conn.request(
                    "POST",
                    "/api/v1/events",
                    body,
                    {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-ndjson"},
                )
                answer = conn.getresponse()
                answer.read()
                if answer.status == 200:
                    break
                time.sleep(float(answer.getheader("Retry-After") or 0.2))
        conn.close()

    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def send_lines(port: int, lines: Sequence[bytes], connections: int = 4) -> None:
    def send(share: Sequence[bytes]) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"\n".join(share) + b"\n")

    threads = [
        threading.Thread(target=send, args=(lines[i::connections],)) for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass(slots=True)
class Sustained:
    """One run through the service: events/s matched and stored, events/s accepted, and the
    CPU seconds of the serving process and of the detector over it."""

    matched: float
    accepted: float
    serving_cpu: float
    detector_cpu: float  # matching and storing together
    store_cpu: float  # of which storing (the store process)


def measured(service: Service, cpu: list[float]) -> tuple[float, float, float]:
    """CPU seconds since ``cpu``: serving, detector (both its processes), storing alone."""
    spent = [b - a for a, b in zip(cpu, service.cpu(), strict=True)]
    return spent[0], sum(spent[1:]), sum(spent[2:])


def sustained_http(service: Service, secret: str, docs: list[bytes]) -> Sustained:
    before = service.journal_last()
    cpu = service.cpu()
    started = time.perf_counter()
    post_all(service.http, secret, docs)
    accepted = time.perf_counter()
    done = service.wait_matched(before + len(docs))
    return Sustained(
        len(docs) / (done - started), len(docs) / (accepted - started), *measured(service, cpu)
    )


def sustained_tcp(service: Service, lines: list[bytes]) -> Sustained:
    before = service.journal_last()
    cpu = service.cpu()
    started = time.perf_counter()
    send_lines(service.tcp, lines)
    deadline = time.monotonic() + 600
    while service.journal_last() < before + len(lines):
        assert time.monotonic() < deadline, "syslog lines missing from the journal"
        time.sleep(0.05)
    accepted = time.perf_counter()
    done = service.wait_matched(before + len(lines))
    return Sustained(
        len(lines) / (done - started), len(lines) / (accepted - started), *measured(service, cpu)
    )


def report(name: str, got: Sustained, hunt: float, hunt_cpu: float) -> None:
    print(
        f"serve, {name}: {got.matched:,.0f} events/s matched and stored "
        f"({got.accepted:,.0f}/s accepted): {ratio(got.matched, hunt):.2f} of the hunt pipeline; "
        f"CPU serving {got.serving_cpu:.2f} s + detector {got.detector_cpu:.2f} s "
        f"(of which storing {got.store_cpu:.2f} s) (hunt {hunt_cpu:.2f} s)"
    )


def latency(
    service: Service, secret: str, docs: list[bytes], rate: float, seconds: float
) -> list[float]:
    """Send at ``rate`` events/s for ``seconds``; one in twenty is a marker whose alert's
    ``created`` minus its sending time is its latency."""
    conn = http.client.HTTPConnection("127.0.0.1", service.http, timeout=60)
    per_request = max(20, int(rate / 10))  # ten requests a second
    start = time.perf_counter()
    sent = 0
    marker = 0
    while time.perf_counter() - start < seconds:
        due = start + sent / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        batch = []
        for i in range(per_request):
            if (sent + i) % 20 == 0:
                marker += 1
                batch.append(
                    orjson.dumps(
                        {
                            "Channel": "Microsoft-Windows-Sysmon/Operational",
                            "EventID": 1,
                            "Computer": "bench01",
                            "CommandLine": f"cmd /c sentinelle-bench-latency {marker}",
                            "SentAt": time.time(),
                            "@timestamp": datetime.now(UTC).isoformat(),
                        }
                    )
                )
            else:
                batch.append(docs[(sent + i) % len(docs)])
        conn.request(
            "POST", "/api/v1/events", b"\n".join(batch), {"Authorization": f"Bearer {secret}"}
        )
        answer = conn.getresponse()
        answer.read()
        sent += per_request
    conn.close()
    service.wait_matched(service.journal_last())
    with sqlite3.connect(service.data / "sentinelle.db", timeout=30) as db:
        rows = db.execute(
            "SELECT created, event FROM alerts_alert WHERE rule_id = ?", (LATENCY_RULE_ID,)
        ).fetchall()
    out = []
    for created, event in rows:
        stored = datetime.fromisoformat(created)
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        out.append(stored.timestamp() - float(orjson.loads(event)["SentAt"]))
    return sorted(out)


def fill_journal(directory: Path, gigabytes: float) -> int:
    """A journal of about ``gigabytes`` GB of 1 KiB records (made through the journal)."""
    from sentinelle.service.journal import Journal, JournalLimits
    from sentinelle.service.records import Record, RecordKind

    journal = Journal(directory, JournalLimits(min_free_bytes=0, max_bytes=10 * 1024**3))
    payload = b"x" * 900
    total = int(gigabytes * 1024**3 / 1024)
    n = 0
    while n < total:
        records = [
            Record(
                "syslog-tcp",
                "10.0.0.1",
                RecordKind.SYSLOG,
                b"<13>%d " % (n + i) + payload,
                time.time(),
            )
            for i in range(20_000)
        ]
        journal.submit(records).result(timeout=600)
        n += len(records)
    journal.close()
    return n


def copies(docs: list[bytes], count: int) -> list[bytes]:
    """``count`` documents: ``docs`` again and again, each copy marked (``BenchCopy``) so that
    every event is distinct (a repeated document would be one event to the service)."""
    out = []
    for n in range(count):
        doc = docs[n % len(docs)]
        copy = n // len(docs)
        out.append(doc if copy == 0 else doc[:-1] + b',"BenchCopy":%d}' % copy)
    return out


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--parts", default="throughput,latency,rss,restart")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--journal-gb", type=float, default=1.0)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    windows = shared_data_dir() / "sigma" / "rules" / "windows"
    if not windows.is_dir():
        sys.exit(f"needs the SigmaHQ rules at {windows} (set SENTINELLE_SHARED_DATA)")
    work = Path(tempfile.mkdtemp(prefix="sentinelle-bench-serve-"))
    cache = work / "cache"
    os.environ["SENTINELLE_CACHE_DIR"] = str(cache)
    marker = work / "latency"
    marker.mkdir()
    (marker / "latency.yml").write_text(LATENCY_RULE)
    rules = [windows, marker]
    try:
        base = corpus_documents()
        quiet = copies(quiet_documents(base, rules), args.events)
        docs = copies(base, args.events)
        lines = syslog_lines(args.events)
        print(
            f"{len(docs)} events of the mitre corpus as JSON ({len(base)} distinct, each copy "
            f"marked), {len(quiet)} of them no rule detects, {len(lines)} syslog lines"
        )
        if parts & {"throughput", "latency"}:
            jsonl, log = work / "events.jsonl", work / "lines.log"
            quiet_file = work / "quiet.jsonl"
            jsonl.write_bytes(b"\n".join(docs) + b"\n")
            quiet_file.write_bytes(b"\n".join(quiet) + b"\n")
            log.write_bytes(b"\n".join(lines) + b"\n")
            base_http, found, cpu_http = hunt_rate(jsonl, rules, len(docs))
            base_quiet, _, cpu_quiet = hunt_rate(quiet_file, rules, len(quiet))
            base_tcp, _, cpu_tcp = hunt_rate(log, rules, len(lines))
            print(
                f"hunt pipeline: {base_http:,.0f} events/s (JSON, {found} detections), "
                f"{base_quiet:,.0f} events/s (JSON no rule detects), "
                f"{base_tcp:,.0f} lines/s (syslog)"
            )
            service = Service(work / "throughput", rules, cache)
            (work / "throughput").mkdir()
            service.start()
            secret = service.token()
            try:
                print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
                http = sustained_http(service, secret, docs)
                tcp = sustained_tcp(service, lines)
                calm = sustained_http(service, secret, quiet)
                report("HTTP bulk, events no rule detects", calm, base_quiet, cpu_quiet)
                report("HTTP bulk (one event in six alerts)", http, base_http, cpu_http)
                report("TCP syslog", tcp, base_tcp, cpu_tcp)
                print(f"load average {os.getloadavg()[0]:.1f}")
                if "latency" in parts:
                    half = http.matched / 2
                    got = latency(service, secret, docs, half, args.latency_seconds)
                    print(
                        f"latency at {half:,.0f} events/s ({len(got)} markers): "
                        f"p50 {percentile(got, 0.5):.3f} s, p99 {percentile(got, 0.99):.3f} s, "
                        f"max {got[-1] if got else float('nan'):.3f} s"
                    )
            finally:
                service.stop()
        if "rss" in parts:
            peaks = []
            for times in (1, 10):
                folder = work / f"rss{times}"
                folder.mkdir()
                service = Service(folder, rules, cache)
                service.start()
                secret = service.token()
                try:
                    for _ in range(times):
                        post_all(service.http, secret, docs)
                    service.wait_matched(service.journal_last())
                    peaks.append([peak_rss_mb(pid) for pid in service.pids()])
                finally:
                    service.stop()
            print(
                f"peak RSS (serving, detector, store) over {len(docs):,} events: "
                f"{', '.join(f'{mb:.0f} MB' for mb in peaks[0])}; over {10 * len(docs):,}: "
                f"{', '.join(f'{mb:.0f} MB' for mb in peaks[1])} "
                f"(x{ratio(sum(peaks[1]), sum(peaks[0])):.2f})"
            )
        if "restart" in parts:
            folder = work / "restart"
            folder.mkdir()
            started = time.perf_counter()
            count = fill_journal(folder / "data" / "journal", args.journal_gb)
            size = sum(p.stat().st_size for p in (folder / "data" / "journal").iterdir())
            print(
                f"journal of {size / 1024**3:.2f} GB ({count:,} records) made in "
                f"{time.perf_counter() - started:.0f} s"
            )
            empty = Service(work / "empty", rules, cache)
            (work / "empty").mkdir()
            empty.start()
            assert empty.proc is not None
            empty.proc.kill()
            empty.proc.wait()
            bare = empty.start()
            empty.proc.kill()
            empty.proc.wait()
            service = Service(folder, rules, cache)
            first = service.start()
            time.sleep(2)
            assert service.proc is not None
            service.proc.kill()
            service.proc.wait()
            again = service.start()
            service.proc.kill()  # the detector would now match the whole journal: not measured
            service.proc.wait()
            print(
                f"start with it: {first:.2f} s to ready; after kill -9: {again:.2f} s to ready "
                f"(an empty journal after kill -9: {bare:.2f} s)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
