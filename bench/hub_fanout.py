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
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def table(results: list[Result], timeout: float) -> str:
    rows = [
        "| clients | stalled | fan-out | p50 ms | p99 ms | publishes | healthy clients reached | naive p50 / hub p50 |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    by_key = {(r.mode, r.clients, r.stalled > 0): r for r in results}
    for r in results:
        hub = by_key.get(("hub", r.clients, r.stalled > 0))
        ratio = f"{r.p(0.5) / hub.p(0.5):.2f}" if hub is not None and r.mode == "naive" else ""
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
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument("--write", type=Path, help="replace the results section of this Markdown file")
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    Bench.send_yields = args.send_yields
    started = time.perf_counter()
    results = asyncio.run(main_async(args))
    text = (
        f"Measured with `python bench/hub_fanout.py --repeat {args.repeat} --timeout {args.timeout:g}"
        f"{' --send-yields' if args.send_yields else ''}` "
        f"({machine()}; {time.perf_counter() - started:.0f} s in all).\n\n{table(results, args.timeout)}"
    )
    print(text)
    if args.write:
        write_section(args.write, text, " --send-yields" if args.send_yields else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
