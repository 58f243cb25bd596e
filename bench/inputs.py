"""Syslog over TCP: the asyncio listener against a thread-per-connection one, same work.

Both frame, check and batch the same way (``SyslogFramer``, ``check_message``, one submission
per read) into a sink that accepts at once, so the difference is the I/O model alone: an
asyncio protocol per connection on one loop (what ``service.inputs.stream`` does) or a thread
per connection blocking in ``recv``. Senders write LF-framed lines as fast as they
can (separate processes, as real senders are). Prints messages/s of each and their ratio.

    .venv/bin/python bench/inputs.py [--connections 4] [--messages 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

from _common import ratio
from sentinelle.service.inputs import InputLimits
from sentinelle.service.inputs.framing import SyslogFramer, check_message
from sentinelle.service.inputs.stream import StreamServer
from sentinelle.service.records import Record, RecordKind


class CountingSink:
    """Accepts at once and counts (the journal's cost is not what is compared here)."""

    def __init__(self) -> None:
        self.count = 0
        self.done = threading.Event()
        self.expected = 0
        self._lock = threading.Lock()

    def submit(self, records: Sequence[Record]) -> Future[int]:
        with self._lock:
            self.count += len(records)
            if self.count >= self.expected:
                self.done.set()
        future: Future[int] = Future()
        future.set_result(self.count)
        return future


def send(address: tuple[str, int], payload: bytes) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(payload)


def payload(messages: int, sender: int) -> bytes:
    return b"".join(
        b"<134>1 2024-05-01T10:00:00Z fw1 filterlog - - - sender=%d n=%d proto=tcp dst=10.0.0.1\n"
        % (sender, n)
        for n in range(messages)
    )


def run_senders(address: tuple[str, int], payloads: list[bytes], sink: CountingSink) -> float:
    # Senders are processes, as real senders are: in this process they would compete with the
    # listener for the GIL and measure the interpreter's scheduling instead.
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    senders = [context.Process(target=send, args=(address, p)) for p in payloads]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert sink.done.wait(60), f"only {sink.count} of {sink.expected} messages arrived"
    return time.perf_counter() - started


def asyncio_listener(payloads: list[bytes], total: int) -> float:
    sink = CountingSink()
    sink.expected = total
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    # One source (loopback) sends everything: its caps would set the figure, not the I/O.
    limits = InputLimits(source_rate=1e9, source_burst=10**9, max_connections_per_source=4096)
    server = StreamServer("syslog-tcp", ("127.0.0.1", 0), sink, limits)
    address = asyncio.run_coroutine_threadsafe(server.start(), loop).result()
    try:
        return run_senders(address, payloads, sink)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(5), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def thread_listener(payloads: list[bytes], total: int) -> float:
    sink = CountingSink()
    sink.expected = total
    limits = InputLimits()
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()[:2]

    def serve(conn: socket.socket, peer: str) -> None:
        framer = SyslogFramer(limits.max_message_bytes)
        with conn:
            while True:
                data = conn.recv(256 * 1024)
                frames = framer.feed(data) if data else framer.close()
                records = []
                received = time.time()
                for frame in frames:
                    if isinstance(frame, bytes):
                        message, _ = check_message(frame)
                        if message is not None:
                            records.append(
                                Record("syslog-tcp", peer, RecordKind.SYSLOG, message, received)
                            )
                if records:
                    sink.submit(records).result()
                if not data:
                    return

    def accept() -> None:
        for _ in payloads:
            conn, peer = listener.accept()
            threading.Thread(target=serve, args=(conn, peer[0]), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        return run_senders(address, payloads, sink)
    finally:
        listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--messages", type=int, default=50_000, help="per connection")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    payloads = [payload(args.messages, n) for n in range(args.connections)]
    total = args.connections * args.messages
    best = {"asyncio": float("inf"), "threads": float("inf")}
    for _ in range(args.rounds):  # alternated, best of each: the machine is shared and noisy
        best["asyncio"] = min(best["asyncio"], asyncio_listener(payloads, total))
        best["threads"] = min(best["threads"], thread_listener(payloads, total))
    for name, seconds in best.items():
        print(f"{name:8s} {total / seconds:>12,.0f} messages/s ({seconds:.2f} s)")
    speed = ratio(best["threads"], best["asyncio"])
    print(f"asyncio / threads: {speed:.2f} (above 1: asyncio faster)")


if __name__ == "__main__":
    main()
