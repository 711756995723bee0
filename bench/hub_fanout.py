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
- ``naive``: the seed's ``for c in conns: await c.send_text(message)``. With every client healthy,
  hub and naive run on the same sockets, alternating publish by publish (and which goes first),
  so that the rest of the machine's load falls on both alike.
- ``stalled``: 1% of the clients never drain (their ``send`` never returns). The naive loop
  blocks at the first one: each publish is bounded by ``--timeout`` and reported as such, with
  the share of healthy clients it reached. The hub keeps delivering to the healthy 99%.

Latency = from just before ``publish`` (or the loop) starts until the last healthy client's
``send`` completed; publishes are sequential (the next starts after the previous arrived
everywhere). p50/p99 over ``--repeat`` publishes after ``--warmup``.

``--real`` measures on real servers instead (bench/fanout_servers.py), each in its own process
pinned to CPU 0, with N raw-socket WebSocket clients in this process, pinned to the other CPU,
that only count frames: the sockjet Hub on uvicorn (all clients healthy, then 1% that never read,
their sockets filled first), Starlette's naive loop on uvicorn, and ``websockets.broadcast()`` on
websockets' own server. ``--rounds`` rounds, each visiting every configuration in turn with a
fresh server; ratios are taken within a round and reported as medians with their range::

    flock /tmp/sockjet-bench.lock python bench/hub_fanout.py --real --rounds 3 --repeat 30 --write docs/hub.md
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shutil
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.frames import Frame, Opcode

from sockjet import Hub
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


async def bench_pair(clients: int, *, repeat: int, warmup: int, timeout: float) -> tuple[Result, Result]:
    """All clients healthy: hub and naive loop on the same sockets, publish by publish, alternating
    which goes first, so that whatever else the machine does falls on both alike."""
    bench = Bench(clients, 0.0)
    await bench.accept_all()
    conns = [s.websocket for s in bench.sockets]
    async with Hub(max_queue=1024) as hub:
        joins = [hub.join(ROOM, s.websocket) for s in bench.sockets]
        for join in joins:
            await join.__aenter__()

        async def hub_publish(text: str) -> None:
            await hub.publish(ROOM, text)

        async def naive_publish(text: str) -> None:
            for c in conns:
                await c.send_text(text)

        samples: dict[str, list[float]] = {"hub": [], "naive": []}
        for i in range(warmup + repeat):
            order = [("hub", hub_publish), ("naive", naive_publish)]
            for mode, publish in order if i % 2 else reversed(order):
                (sample,), _, _ = await bench.run(publish, repeat=1, warmup=0, timeout=timeout)
                if i >= warmup:
                    samples[mode].append(sample)
        for join in joins:
            await join.__aexit__(None, None, None)
    return Result("hub", clients, 0, samples["hub"]), Result("naive", clients, 0, samples["naive"])


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


# -- --real: a server process serving the room, N raw-socket clients in this process ---------------
# The servers are in bench/fanout_servers.py. Each stamps a message with the monotonic clock just
# before its fan-out; clients note the same clock (CLOCK_MONOTONIC is system-wide) when the frame
# arrives. The clients are minimal asyncio protocols that count fixed-size frames, so their cost
# per message is small, but it is part of what is measured (the same for every server).

REAL_CONFIGS = ("hub", "hub-stalled", "naive", "websockets")
"""hub: sockjet App + Hub on uvicorn; hub-stalled: the same with 1% of the clients never reading
(their sockets filled first); naive: Starlette's ``for ws in room: await ws.send_text()`` on
uvicorn; websockets: ``websockets.broadcast()`` on websockets' own server, no ASGI."""
FLOOD = (100, 64 * 1024)  # what each stalled client is sent (and never reads) before the measurement


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
    """A WebSocket client that only reads: handshake, then frames of under 126 bytes.

    ``stall=True``: after the handshake it never reads again (its kernel buffers fill, then the server's).
    """

    def __init__(self, tally: RealTally, port: int, *, stall: bool = False) -> None:
        self.tally = tally
        self.port = port
        self.stall = stall
        self.buffer = bytearray()
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass
        path = "/ws?stall=1" if self.stall else "/ws"
        transport.write(  # type: ignore[attr-defined]
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
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
            if self.stall and self.transport is not None:
                self.transport.pause_reading()
                return
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


async def _connect(port: int, tally: RealTally, stall: bool) -> tuple[asyncio.BaseTransport, RawClient]:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    if stall:  # a small receive buffer (set before connecting, so TCP honours it): the stall bites sooner
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    return await loop.create_connection(lambda: RawClient(tally, port, stall=stall), sock=sock)


def _server_argv(config: str, port: int) -> list[str]:
    if config == "websockets":
        argv = [sys.executable, "-m", "bench.fanout_servers", "--port", str(port)]
    else:
        app = "bench.fanout_servers:naive_app" if config == "naive" else "bench.fanout_servers:hub_app"
        argv = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--host", "127.0.0.1"]
        argv += ["--ws", "websockets-sansio", "--log-level", "warning", "--backlog", "8192"]
    return ["taskset", "-c", "0", *argv] if shutil.which("taskset") else argv


@dataclass
class Visit:
    """One configuration measured once (one server process, fresh)."""

    config: str
    clients: int
    stalled: int
    samples: list[float]
    timeouts: int
    rss_growth_kib: int = 0
    server_ms: float = 0.0
    """Median time the server spent in the fan-out call itself (its loop, or publish, or broadcast)."""
    cpu_samples: list[float] = field(default_factory=list)
    """CPU time of each such call: what the fan-out costs, whatever else the machine runs."""
    gc_pauses: str = ""
    """The server's cyclic-collector pauses during the measured publishes."""

    def p(self, q: float) -> float:
        return _quantile(self.samples, q)

    def cpu(self, q: float) -> float:
        return _quantile(self.cpu_samples, q)


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def visit_real(config: str, clients: int, *, repeat: int, warmup: int, timeout: float) -> Visit:
    """Start ``config``'s server, connect ``clients``, time ``repeat`` publishes, stop it."""
    from websockets.asyncio.client import connect

    from tests.servers.servers import free_port, start_process, stop_process

    stalled = clients // 100 if config == "hub-stalled" else 0
    port = free_port()
    server = start_process(_server_argv(config, port), port)
    tally = RealTally(clients - stalled)
    stall_every = clients // stalled if stalled else 0
    transports: list[asyncio.BaseTransport] = []
    try:
        for start in range(0, clients, 250):
            batch = [
                await _connect(port, tally, bool(stall_every) and i % stall_every == stall_every // 2)
                for i in range(start, min(start + 250, clients))
            ]
            transports += [t for t, _ in batch]
            await asyncio.wait_for(asyncio.gather(*(c.ready for _, c in batch)), 30)
        async with connect(f"ws://127.0.0.1:{port}/control", max_size=None, ping_interval=None) as control:

            async def ask(command: str) -> str:
                await control.send(command)
                return str(await control.recv())

            deadline = time.monotonic() + 30
            while int(await ask("count")) != clients:
                assert time.monotonic() < deadline, "the server never saw every client"
                await asyncio.sleep(0.05)
            rss_before = int(await ask("rss"))
            if stalled:
                await ask(f"flood {FLOOD[0]} {FLOOD[1]}")
                await asyncio.sleep(0.5)  # let the writers reach the full sockets
                busy = int(await ask("busy"))
                assert busy == stalled, f"{busy} of the {stalled} stalled members have a full socket"
            await ask("gc")  # start counting the collector's pauses now
            samples: list[float] = []
            server_ns: list[int] = []
            server_cpu_ns: list[int] = []
            timeouts = 0
            for seq in range(warmup + repeat):
                done = tally.expect(seq)
                await control.send(f"publish {seq}")
                try:
                    await asyncio.wait_for(done, timeout)
                except asyncio.TimeoutError:
                    timeouts += 1
                    await control.recv()
                    continue
                _, wall_ns, cpu_ns = str(await control.recv()).split()
                if seq >= warmup:
                    samples.append((tally.last[seq] - tally.sent_at[seq]) / 1e9)
                    server_ns.append(int(wall_ns))
                    server_cpu_ns.append(int(cpu_ns))
            rss_growth = int(await ask("rss")) - rss_before
            gc_pauses = await ask("gc")
        server_ms = statistics.median(server_ns) / 1e6
        cpu_samples = [ns / 1e9 for ns in server_cpu_ns]
        return Visit(config, clients, stalled, samples, timeouts, rss_growth, server_ms, cpu_samples, gc_pauses)
    finally:
        for transport in transports:
            transport.close()
        stop_process(server.process)
        if server.process.stdout is not None:
            server.process.stdout.close()


async def main_real(args: argparse.Namespace) -> list[Visit]:
    """Rounds; each round visits every configuration in turn (A B C D, A B C D, ...) at each N."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: bench and tests.e2e
    from bench._system import raise_open_files

    os.sched_setaffinity(0, {(os.cpu_count() or 1) - 1})  # the servers have CPU 0
    raise_open_files()
    gc.disable()  # this process only: the load generator's own pauses must not count against a server
    visits = []
    run = {"repeat": args.repeat, "warmup": args.warmup, "timeout": args.timeout}
    configs = args.configs or REAL_CONFIGS
    for round_ in range(args.rounds):
        for clients in args.clients:
            for config in configs:
                visit = await visit_real(config, clients, **run)
                gc.collect()
                print(
                    f"round {round_ + 1} {config:11} N={clients:5} p50={ms(visit.p(0.5))}ms "
                    f"p99={ms(visit.p(0.99))}ms server={visit.server_ms:.2f}ms "
                    f"cpu={ms(visit.cpu(0.5))}/{ms(visit.cpu(0.99))}ms "
                    f"timeouts={visit.timeouts} "
                    f"rss+={visit.rss_growth_kib} KiB {visit.gc_pauses}",
                    file=sys.stderr,
                    flush=True,
                )
                visits.append(visit)
    return visits


def _median_range(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))} to {fmt.format(max(values))})"


def real_table(visits: list[Visit]) -> str:
    """Medians over rounds (range in brackets); ratios are taken within a round, against the naive loop."""
    rows = [
        "| N | fan-out | p50 ms | p99 ms | p50 / naive p50 | p99 / naive p99 | p50 / websockets p50 "
        "| server CPU p50 / p99 ms | CPU p50, p99 / naive's | server RSS growth |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_round: dict[tuple[int, str], list[Visit]] = {}
    for visit in visits:
        by_round.setdefault((visit.clients, visit.config), []).append(visit)
    for clients in sorted({v.clients for v in visits}):
        naive = by_round.get((clients, "naive"), [])
        peer = by_round.get((clients, "websockets"), [])
        for config in REAL_CONFIGS:
            mine = by_round.get((clients, config), [])
            if not mine:
                continue

            def ratios(others: list[Visit], q: float, mine: list[Visit] = mine) -> list[float]:
                return [m.p(q) / o.p(q) for m, o in zip(mine, others, strict=False) if m.samples and o.samples]

            def cpu_ratios(q: float, mine: list[Visit] = mine, naive: list[Visit] = naive) -> list[float]:
                return [m.cpu(q) / o.cpu(q) for m, o in zip(mine, naive, strict=False) if m.cpu_samples]

            cpu50 = _median_range([v.cpu(0.5) * 1000 for v in mine if v.cpu_samples], "{:.1f}")
            cpu99 = _median_range([v.cpu(0.99) * 1000 for v in mine if v.cpu_samples], "{:.1f}")
            cpu_vs_naive = f"{_median_range(cpu_ratios(0.5))}, {_median_range(cpu_ratios(0.99))}"

            name = {
                "hub": "sockjet Hub",
                "hub-stalled": "sockjet Hub, 1% stalled",
                "naive": "naive loop (Starlette)",
                "websockets": "websockets.broadcast()",
            }[config]
            growth = statistics.median(v.rss_growth_kib for v in mine) / 1024
            rows.append(
                f"| {clients} | {name} | {_median_range([v.p(0.5) * 1000 for v in mine if v.samples])} "
                f"| {_median_range([v.p(0.99) * 1000 for v in mine if v.samples])} "
                f"| {_median_range(ratios(naive, 0.5)) if config != 'naive' else ''} "
                f"| {_median_range(ratios(naive, 0.99)) if config != 'naive' else ''} "
                f"| {_median_range(ratios(peer, 0.5)) if config != 'websockets' else ''} "
                f"| {cpu50} / {cpu99} "
                f"| {cpu_vs_naive if config != 'naive' else ''} "
                f"| {growth:.1f} MiB |"
            )
    return "\n".join(rows)


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
    """``--rounds`` rounds, each running every configuration in turn; samples are pooled per configuration."""
    pooled: dict[tuple[str, int, int], Result] = {}
    run = {"repeat": args.repeat, "warmup": args.warmup, "timeout": args.timeout}
    for _ in range(args.rounds):
        for clients in args.clients:
            for stalled_share in (0.0, 0.01):
                gc.collect()
                if stalled_share:
                    pair = (
                        await bench_hub(clients, stalled_share, **run),
                        await bench_naive(clients, stalled_share, **run),
                    )
                else:
                    pair = await bench_pair(clients, **run)
                for result in pair:
                    print(
                        f"{result.mode:5} N={clients:5} stalled={result.stalled:3} p50={ms(result.p(0.5))}ms "
                        f"p99={ms(result.p(0.99))}ms timeouts={result.timeouts} reached={result.reached:.1%}",
                        file=sys.stderr,
                    )
                    key = (result.mode, clients, result.stalled)
                    if key not in pooled:
                        pooled[key] = result
                        continue
                    into = pooled[key]
                    rounds = len(into.samples) // max(1, len(result.samples))
                    into.reached = (into.reached * rounds + result.reached) / (rounds + 1)
                    into.samples += result.samples
                    into.timeouts += result.timeouts
    return list(pooled.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=100, help="publishes measured per configuration")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1.0, help="bound on one publish, seconds")
    parser.add_argument("--send-yields", action="store_true", help="every send yields to the event loop once")
    parser.add_argument("--real", action="store_true", help="real server processes and raw-socket clients instead")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running every configuration in turn")
    parser.add_argument("--configs", nargs="+", choices=REAL_CONFIGS, help="--real: only these configurations")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument("--write", type=Path, help="replace the results section of this Markdown file")
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    Bench.send_yields = args.send_yields
    started = time.perf_counter()
    if args.real:
        visits = asyncio.run(main_real(args))
        command = (
            f"python bench/hub_fanout.py --real --rounds {args.rounds} --repeat {args.repeat} "
            f"--clients {' '.join(map(str, args.clients))}"
        )
        text = (
            f"Measured with `{command}` ({machine()}; {time.perf_counter() - started:.0f} s in all).\n\n"
            f"{real_table(visits)}"
        )
        print(text)
        if args.write:
            write_section(args.write, text, " --real")
        return 0
    results = asyncio.run(main_async(args))
    variant = " --send-yields" if args.send_yields else ""
    text = (
        f"Measured with `python bench/hub_fanout.py --rounds {args.rounds} --repeat {args.repeat} "
        f"--timeout {args.timeout:g}{variant}` "
        f"({machine()}; {time.perf_counter() - started:.0f} s in all).\n\n{table(results, args.timeout)}"
    )
    print(text)
    if args.write:
        write_section(args.write, text, variant)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
