"""Probes at scale: 10,000 checks a minute on this machine, and memory over an hour of schedule.

1. **Real time** (``--seconds``, 60 by default): ``--probes`` probes (10,000) of a one-minute
   interval run by the service's scheduler on one asyncio loop. A sample of them (``--real``,
   500) are real TCP and HTTP checks against loopback servers run by a child process; the rest
   are checks that take 1 to 50 ms of simulated network time (an ``asyncio.sleep``). Printed:
   checks started, and the p50/p99/worst scheduling delay (start minus due time), against a
   baseline measured in the same run: the same due times as bare ``loop.call_at`` timers (the
   lateness of the event loop itself under the same load).
2. **Simulated hour**: the same probes for an hour of simulated time (the scheduler's clock is
   simulated; checks answer at once), results fed to the probe book and drained every five
   simulated seconds as the service does. Printed: traced memory at each ten minutes; flat means
   the last is within 20 % of the first.

    python bench/probes.py [--probes 10000] [--seconds 60] [--real 500]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import multiprocessing
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentinelle.hospital.probes import ProbeKind, ProbeSpec
from sentinelle.watch.checks import Prober
from sentinelle.watch.outcome import Result, Status
from sentinelle.watch.scheduler import DelayHistogram, Scheduler, phase
from sentinelle.watch.state import ProbeBook


def _serve(ports: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    """Loopback servers in a child process: a TCP acceptor and a minimal HTTP responder."""

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
        await writer.drain()
        writer.close()

    async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        a = await asyncio.start_server(http, "127.0.0.1", 0, backlog=1024)
        b = await asyncio.start_server(tcp, "127.0.0.1", 0, backlog=1024)
        ports.put((a.sockets[0].getsockname()[1], b.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


def make_specs(count: int, real: int, http_port: int, tcp_port: int) -> list[ProbeSpec]:
    out = []
    for i in range(count):
        if i < real // 2:
            spec = ProbeSpec(f"h{i}", ProbeKind.HTTP, "web", "cen",
                             f"http://127.0.0.1:{http_port}/", "127.0.0.1", http_port,
                             interval=60.0, timeout=5.0)  # fmt: skip
        elif i < real:
            spec = ProbeSpec(f"t{i}", ProbeKind.TCP, "web", "cen", f"127.0.0.1:{tcp_port}",
                             "127.0.0.1", tcp_port, interval=60.0, timeout=5.0)  # fmt: skip
        else:
            spec = ProbeSpec(f"s{i}", ProbeKind.TCP, "web", "cen", "simulated:1", "simulated",
                             1, interval=60.0, timeout=5.0)  # fmt: skip
        out.append(spec)
    return out


async def real_time(specs: list[ProbeSpec], seconds: float) -> tuple[Scheduler, int, int]:
    book = ProbeBook.for_probes(specs)
    rng = random.Random(1)
    down = 0
    async with Prober(max_connections=200) as prober:

        async def check(spec: ProbeSpec) -> Result:
            if spec.host == "simulated":
                await asyncio.sleep(rng.uniform(0.001, 0.05))
                return Result(spec.id, Status.UP, "simulated", time.time(), 0.01)
            return await prober.check(spec)

        def on_result(spec: ProbeSpec, result: Result) -> None:
            nonlocal down
            down += result.status is not Status.UP
            book.feed(result)

        scheduler = Scheduler(specs, check, on_result)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(seconds)
        scheduler.stop()
        await task
    real = sum(1 for s in specs if s.host != "simulated")
    return scheduler, real, down


async def baseline(specs: list[ProbeSpec], seconds: float) -> DelayHistogram:
    """The same due times as bare timers: how late the loop itself runs a callback."""
    loop = asyncio.get_running_loop()
    histogram = DelayHistogram()
    start = loop.time()
    done = asyncio.Event()
    pending = 0

    def fire(due: float) -> None:
        nonlocal pending
        histogram.add(loop.time() - due)
        pending -= 1
        if not pending:
            done.set()

    for spec in specs:
        due = start + phase(spec.id, spec.interval)
        while due < start + seconds:
            loop.call_at(due, fire, due)
            pending += 1
            due += spec.interval
    await done.wait()
    return histogram


class SimulatedClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_800_000_000.0 + self.t

    async def sleep(self, seconds: float) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        self.t += max(seconds, 0.0)


async def simulated_hour(specs: list[ProbeSpec]) -> list[tuple[int, float]]:
    clock = SimulatedClock()
    book = ProbeBook.for_probes(specs)
    samples: list[tuple[int, float]] = []
    next_drain = 5.0
    next_sample = 600.0

    async def check(spec: ProbeSpec) -> Result:
        status = Status.DOWN if (hash(spec.id) + int(clock.t) // 600) % 50 == 0 else Status.UP
        return Result(spec.id, status, "simulated", clock.wall(), 0.01)

    def on_result(spec: ProbeSpec, result: Result) -> None:
        nonlocal next_drain, next_sample
        book.feed(result)
        if clock.t >= next_drain:
            book.drain()
            next_drain += 5.0
        if clock.t >= next_sample:
            gc.collect()
            samples.append((int(clock.t // 60), tracemalloc.get_traced_memory()[0] / 2**20))
            next_sample += 600.0

    simulated = [dataclasses.replace(s, host="simulated") for s in specs]
    scheduler = Scheduler(simulated, check, on_result, clock=clock)
    tracemalloc.start()
    await scheduler.run(until=3600.0 + 1)
    tracemalloc.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--real", type=int, default=500)
    args = parser.parse_args()
    queue: multiprocessing.SimpleQueue = multiprocessing.get_context("spawn").SimpleQueue()  # type: ignore[type-arg]
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(queue,), daemon=True)
    server.start()
    http_port, tcp_port = queue.get()
    specs = make_specs(args.probes, args.real, http_port, tcp_port)
    try:
        base = asyncio.run(baseline(specs, args.seconds))
        started = time.perf_counter()
        cpu = time.process_time()
        scheduler, _real, down = asyncio.run(real_time(specs, args.seconds))
        took = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        server.terminate()
        server.join()
    d = scheduler.delays
    ms = 1000
    per_minute = scheduler.started / took * 60
    print(f"probes: {args.probes:,} of 60 s ({args.real} real on loopback), {args.seconds:g} s")
    print(f"  checks started: {scheduler.started:,} ({per_minute:,.0f} a minute)")
    print(f"  real ones not up: {down}; skipped (still running): {scheduler.skipped}")
    p50, p99 = d.quantile(0.5) * ms, d.quantile(0.99) * ms
    print(f"  scheduling delay p50 {p50:.0f} ms, p99 {p99:.0f} ms, worst {d.worst * ms:.0f} ms")
    b99 = base.quantile(0.99) * ms
    print(f"  baseline (bare loop timers, same due times): p99 {b99:.0f} ms,")
    print(f"    worst {base.worst * ms:.0f} ms")
    print(f"  CPU of the probing process: {cpu:.1f} s in {took:.0f} s ({cpu / took * 100:.0f} %")
    print("    of one core; the loopback servers run in another process)")
    ratio = d.quantile(0.99) / max(base.quantile(0.99), DelayHistogram.STEP)
    print(f"  p99 ratio scheduler / bare timers: {ratio:.1f}")
    samples = asyncio.run(simulated_hour(specs))
    print(
        "simulated hour (traced memory, MiB): " + ", ".join(f"{m} min {v:.1f}" for m, v in samples)
    )
    if samples:
        growth = samples[-1][1] / samples[0][1] - 1
        print(f"  growth from the first to the last sample: {growth * 100:+.1f} %")


if __name__ == "__main__":
    main()
