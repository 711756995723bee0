"""Fan-out benchmark: time from one publish until every client has the message.

    python bench/hub_fanout.py                       # N = 1000 and 5000, writes nothing
    python bench/hub_fanout.py --write docs/hub.md   # also replaces the results section of docs/hub.md

What it measures (one process, one event loop, nothing leaves the process):

- N clients in one room, each a raw-ASGI WebSocket (sockjet's own ``WebSocket`` state machine)
  over an in-process ``send`` that costs what uvicorn's websockets-sansio ``send`` costs when
  the socket is writable: websockets' sans-I/O frame serialisation plus a copy into the write
  buffer, without yielding to the event loop (``--send-yields`` adds one yield per send, as a
  server whose ``send`` always awaits would).
- ``hub``: ``Hub()`` (memory backend, default limits), every client joined with ``hub.join``,
  then ``await hub.publish(room, text)``.
- ``naive``: the seed's ``for c in conns: await c.send_text(message)``.
- ``stalled``: 1% of the clients never drain (their ``send`` never returns). The naive loop
  blocks at the first one: each publish is bounded by ``--timeout`` and reported as such, with
  the share of healthy clients it reached. The hub keeps delivering to the healthy 99%.

Latency = from just before ``publish`` (or the loop) starts until the last healthy client's
``send`` completed; publishes are sequential (the next starts after the previous arrived
everywhere). p50/p99 over ``--repeat`` publishes after ``--warmup``.

``--real`` measures the healthy case on a real server instead: ``uvicorn bench.hub_fanout:app``
(this module; ``HUB_FANOUT_MODE`` picks hub or naive) in its own process pinned to CPU 0, and N
raw-socket WebSocket clients in this process, pinned to the other CPU, that only count frames.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.frames import Frame, Opcode

from sockjet import App, Hub
from sockjet.types import Message
from sockjet.websockets import WebSocket

ROOM = "bench"
PAYLOAD = 64  # bytes per message


class Tally:
    """Counts arrivals of each publish; resolves when every healthy client has it."""

    def __init__(self, healthy: int) -> None:
        self.healthy = healthy
        self.count = 0
        self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def arrived(self) -> None:
        self.count += 1
        if self.count == self.healthy and not self.done.done():
            self.done.set_result(time.perf_counter())


class BenchSocket:
    """The server side of one connection: a WebSocket over an in-process transport."""

    def __init__(self, bench: Bench, stalled: bool) -> None:
        self.bench = bench
        self.stalled = stalled
        self.buffer = bytearray()
        self.never = bench.never
        self.websocket = WebSocket(
            {"type": "websocket", "path": "/ws", "headers": [], "query_string": b"", "client": ["127.0.0.1", 1]},
            self._receive,
            self._send,
        )

    async def _receive(self) -> Message:
        return {"type": "websocket.connect"}

    async def _send(self, message: Message) -> None:
        if message["type"] != "websocket.send":
            return
        if self.stalled:
            await self.never.wait()
        # What uvicorn's websockets-sansio send does when the transport is writable: websockets'
        # sans-I/O frame serialisation, then transport.write (here: append to the write buffer).
        # It does not yield to the event loop.
        self.buffer += Frame(Opcode.TEXT, message["text"].encode()).serialize(mask=False, extensions=[])
        if len(self.buffer) > 65536:
            self.buffer.clear()
        self.bench.tally.arrived()
        if self.bench.send_yields:
            await asyncio.sleep(0)


@dataclass
class Result:
    mode: str
    clients: int
    stalled: int
    samples: list[float]
    timeouts: int = 0
    reached: float = 1.0  # share of healthy clients that got each message (naive + stalled)

    def p(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Bench:
    send_yields = False

    def __init__(self, clients: int, stalled_share: float) -> None:
        self.never = asyncio.Event()
        stalled_every = round(1 / stalled_share) if stalled_share else 0
        self.sockets = [
            BenchSocket(self, stalled=bool(stalled_every) and i % stalled_every == stalled_every // 2)
            for i in range(clients)
        ]
        self.healthy = sum(not s.stalled for s in self.sockets)
        self.tally = Tally(self.healthy)

    async def accept_all(self) -> None:
        for sock in self.sockets:
            await sock.websocket.accept()

    async def run(
        self, publish: Callable[[str], Awaitable[None]], *, repeat: int, warmup: int, timeout: float
    ) -> tuple[list[float], int, float]:
        samples: list[float] = []
        timeouts = 0
        reached: list[float] = []
        for i in range(warmup + repeat):
            self.tally = Tally(self.healthy)
            text = f"{i:08d}".ljust(PAYLOAD, "x")
            start = time.perf_counter()
            task = asyncio.ensure_future(publish(text))
            try:
                end = await asyncio.wait_for(asyncio.shield(self.tally.done), timeout)
            except asyncio.TimeoutError:
                end = start + timeout
                timeouts += i >= warmup
            if not task.done():  # the naive loop, stuck on a stalled client
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if i >= warmup:
                samples.append(end - start)
                reached.append(self.tally.count / self.healthy)
            if timeouts >= 3:  # every further publish would time out the same way
                break
        return samples, timeouts, statistics.mean(reached)


async def bench_hub(clients: int, stalled_share: float, **run: Any) -> Result:
    bench = Bench(clients, stalled_share)
    await bench.accept_all()
    async with Hub(max_queue=1024) as hub:
        joins = [hub.join(ROOM, s.websocket) for s in bench.sockets]
        for join in joins:
            await join.__aenter__()

        async def publish(text: str) -> None:
            await hub.publish(ROOM, text)

        samples, timeouts, reached = await bench.run(publish, **run)
        bench.never.set()  # let the stalled ones go so shutdown is quick
        for join in joins:
            await join.__aexit__(None, None, None)
    stalled = clients - bench.healthy
    return Result("hub", clients, stalled, samples, timeouts, reached)


async def bench_naive(clients: int, stalled_share: float, **run: Any) -> Result:
    bench = Bench(clients, stalled_share)
    await bench.accept_all()
    conns = [s.websocket for s in bench.sockets]

    async def publish(text: str) -> None:
        for c in conns:
            await c.send_text(text)

    samples, timeouts, reached = await bench.run(publish, **run)
    bench.never.set()
    return Result("naive", clients, clients - bench.healthy, samples, timeouts, reached)


# -- --real: a uvicorn process serving the room, N raw-socket clients in this process --------------
# The server (this module, as `uvicorn bench.hub_fanout:app`) stamps each message with the
# monotonic clock just before publishing; clients note the same clock (CLOCK_MONOTONIC is
# system-wide) when the frame arrives. The clients are minimal asyncio protocols that count
# fixed-size frames, so their cost per message is small, but it is part of what is measured.

SERVER_MODE = os.environ.get("HUB_FANOUT_MODE", "hub")
real_hub = Hub(max_queue=1024)
app = App(lifespan=real_hub.lifespan)
naive_conns: list[WebSocket] = []


@app.websocket("/ws")
async def fanout_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    if SERVER_MODE == "hub":
        async with real_hub.join(ROOM, websocket):
            await websocket.receive()  # the client never sends: this returns at disconnect
        return
    naive_conns.append(websocket)
    try:
        await websocket.receive()
    finally:
        naive_conns.remove(websocket)


@app.get("/count")
async def fanout_count() -> dict[str, int]:
    return {"n": real_hub.local_count(ROOM) if SERVER_MODE == "hub" else len(naive_conns)}


@app.post("/publish")
async def fanout_publish(seq: int) -> dict[str, bool]:
    text = f"{seq:08d}{time.monotonic_ns():020d}".ljust(PAYLOAD, "x")
    if SERVER_MODE == "hub":
        await real_hub.publish(ROOM, text)
    else:
        for c in list(naive_conns):
            await c.send_text(text)
    return {"ok": True}


class RealTally:
    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.counts: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.sent_at: dict[int, int] = {}
        self.done: dict[int, asyncio.Future[None]] = {}

    def expect(self, seq: int) -> asyncio.Future[None]:
        future = self.done[seq] = asyncio.get_running_loop().create_future()
        return future

    def arrived(self, seq: int, sent_at: int) -> None:
        now = time.monotonic_ns()
        count = self.counts[seq] = self.counts.get(seq, 0) + 1
        self.last[seq] = now
        self.sent_at[seq] = sent_at
        future = self.done.get(seq)
        if count == self.clients and future is not None and not future.done():
            future.set_result(None)


class RawClient(asyncio.Protocol):
    """A WebSocket client that only reads: handshake, then frames of under 126 bytes."""

    def __init__(self, tally: RealTally, port: int) -> None:
        self.tally = tally
        self.port = port
        self.buffer = bytearray()
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass
        transport.write(  # type: ignore[attr-defined]
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(buffer[:80]).decode(errors="replace")))
                return
            del buffer[: end + 4]
            self.open = True
            self.ready.set_result(None)
        while len(buffer) >= 2:
            size = buffer[1] & 0x7F
            if len(buffer) < 2 + size:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[2 : 2 + size])
            del buffer[: 2 + size]
            if opcode == 0x1:
                self.tally.arrived(int(payload[:8]), int(payload[8:28]))
            elif opcode == 0x9 and self.transport is not None:  # ping: a masked pong (zero mask)
                self.transport.write(bytes([0x8A, 0x80 | size, 0, 0, 0, 0]) + payload)


async def http(port: int, method: str, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    body = await reader.read()
    writer.close()
    await writer.wait_closed()
    return body


async def bench_real(mode: str, clients: int, *, repeat: int, warmup: int, timeout: float) -> Result:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests.e2e.servers
    from tests.e2e.servers import free_port, start_process, stop_process

    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.hub_fanout:app", "--port", str(port), "--host", "127.0.0.1"]
    argv += ["--ws", "websockets-sansio", "--log-level", "warning", "--backlog", "8192"]
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "0", *argv]
    server = start_process(argv, port, env={"HUB_FANOUT_MODE": mode})
    loop = asyncio.get_running_loop()
    tally = RealTally(clients)
    transports: list[asyncio.BaseTransport] = []
    try:
        for start in range(0, clients, 250):
            batch = [
                await loop.create_connection(lambda: RawClient(tally, port), "127.0.0.1", port)
                for _ in range(min(250, clients - start))
            ]
            transports += [t for t, _ in batch]
            await asyncio.wait_for(asyncio.gather(*(c.ready for _, c in batch)), 30)
        deadline = time.monotonic() + 30
        while json.loads((await http(port, "GET", "/count")).split(b"\r\n\r\n", 1)[1])["n"] != clients:
            assert time.monotonic() < deadline, "the server never saw every client"
            await asyncio.sleep(0.05)
        samples: list[float] = []
        timeouts = 0
        for seq in range(warmup + repeat):
            done = tally.expect(seq)
            await http(port, "POST", f"/publish?seq={seq}")
            try:
                await asyncio.wait_for(done, timeout)
            except asyncio.TimeoutError:
                timeouts += 1
                continue
            if seq >= warmup:
                samples.append((tally.last[seq] - tally.sent_at[seq]) / 1e9)
        return Result(f"{mode} (uvicorn)", clients, 0, samples, timeouts)
    finally:
        for transport in transports:
            transport.close()
        stop_process(server.process)
        if server.process.stdout is not None:
            server.process.stdout.close()


async def main_real(args: argparse.Namespace) -> list[Result]:
    os.sched_setaffinity(0, {(os.cpu_count() or 1) - 1})  # the server has CPU 0
    results = []
    run = {"repeat": args.repeat, "warmup": args.warmup, "timeout": args.timeout}
    for clients in args.clients:
        for mode in ("hub", "naive"):
            result = await bench_real(mode, clients, **run)
            print(f"{result.mode} N={clients} p50={ms(result.p(0.5))}ms p99={ms(result.p(0.99))}ms", file=sys.stderr)
            results.append(result)
    return results


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def table(results: list[Result], timeout: float) -> str:
    rows = [
        "| clients | stalled | fan-out | p50 ms | p99 ms | publishes | healthy clients reached | naive p50 / hub p50 |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    by_key = {(r.mode.split()[0], r.clients, r.stalled > 0): r for r in results}
    for r in results:
        hub = by_key.get(("hub", r.clients, r.stalled > 0))
        ratio = f"{r.p(0.5) / hub.p(0.5):.2f}" if hub is not None and r.mode.startswith("naive") else ""
        p50 = ms(r.p(0.5)) if not r.timeouts else f"≥ {ms(timeout)} (timeout)"
        p99 = ms(r.p(0.99)) if not r.timeouts else f"≥ {ms(timeout)} (timeout)"
        if r.timeouts and hub is not None:
            ratio = f"> {timeout / hub.p(0.5):.0f}"
        rows.append(
            f"| {r.clients} | {r.stalled} | {r.mode} | {p50} | {p99} | {len(r.samples)} | {r.reached:.1%} | {ratio} |"
        )
    return "\n".join(rows)


def machine() -> str:
    import os

    loop = type(asyncio.get_event_loop_policy()).__module__.split(".")[0]
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    return f"Python {platform.python_version()} ({loop} loop), {system}"


def write_section(path: Path, text: str, variant: str = "") -> None:
    """Replace the text between this variant's markers (or append them)."""
    start_marker = f"<!-- bench/hub_fanout.py{variant} results: start -->"
    end_marker = f"<!-- bench/hub_fanout.py{variant} results: end -->"
    doc = path.read_text()
    if start_marker in doc and end_marker in doc:
        before, rest = doc.split(start_marker, 1)
        _, after = rest.split(end_marker, 1)
        doc = f"{before}{start_marker}\n{text}\n{end_marker}{after}"
    else:
        doc = f"{doc.rstrip()}\n\n{start_marker}\n{text}\n{end_marker}\n"
    path.write_text(doc)


async def main_async(args: argparse.Namespace) -> list[Result]:
    results = []
    run = {"repeat": args.repeat, "warmup": args.warmup, "timeout": args.timeout}
    for clients in args.clients:
        for stalled_share in (0.0, 0.01):
            for bench in (bench_hub, bench_naive):
                gc.collect()
                result = await bench(clients, stalled_share, **run)
                print(
                    f"{result.mode:5} N={clients:5} stalled={result.stalled:3} p50={ms(result.p(0.5))}ms "
                    f"p99={ms(result.p(0.99))}ms timeouts={result.timeouts} reached={result.reached:.1%}",
                    file=sys.stderr,
                )
                results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=100, help="publishes measured per configuration")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1.0, help="bound on one publish, seconds")
    parser.add_argument("--send-yields", action="store_true", help="every send yields to the event loop once")
    parser.add_argument("--real", action="store_true", help="a uvicorn process and raw-socket clients instead")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument("--write", type=Path, help="replace the results section of this Markdown file")
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    Bench.send_yields = args.send_yields
    started = time.perf_counter()
    results = asyncio.run(main_real(args) if args.real else main_async(args))
    variant = " --real" if args.real else " --send-yields" if args.send_yields else ""
    text = (
        f"Measured with `python bench/hub_fanout.py --repeat {args.repeat} --timeout {args.timeout:g}{variant}` "
        f"({machine()}; {time.perf_counter() - started:.0f} s in all).\n\n{table(results, args.timeout)}"
    )
    print(text)
    if args.write:
        write_section(args.write, text, variant)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
