"""History benchmark: what positions and recovery cost, next to the same hub without them.

    python bench/hub_history.py                       # prints the tables
    python bench/hub_history.py --write docs/hub.md   # also replaces the results section there

Always run under ``flock /tmp/sockjet-bench.lock`` on a shared machine. One process, one event
loop; Redis is a ``redis-server`` this script starts on a free 127.0.0.1 port (nothing on disk)
and stops. Two measurements, every configuration interleaved round by round so that machine
noise hits them alike, reported as medians with their range and as ratios within a round:

1. **Publish -> delivered**: ``--members`` members in one room (a sockjet ``WebSocket`` over an
   in-process ``send`` that records the arrival and never yields), sequential publishes, time
   from just before ``await hub.publish`` until the last member's ``send`` ran. Per backend
   (memory, Redis) two hubs run side by side, ``history_size=0`` and ``history_size=1000``, and
   publishes alternate between them one by one, so that load on the machine hits both alike.
2. **Mass recovery**: ``--reconnects`` members re-join at once, each with ``since=`` a position
   ``--missed`` messages back; time from starting every join until every member has received
   all it missed (memory and Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sockjet import Hub, Position
from sockjet.types import Message
from sockjet.websockets import WebSocket

ROOM = "bench"
PAYLOAD = "x" * 64
START = "<!-- bench/hub_history.py results: start -->"
END = "<!-- bench/hub_history.py results: end -->"


class Arrivals:
    """Counts deliveries; ``wait(n)`` resolves when ``n`` more have arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done: asyncio.Future[float] | None = None

    def arrived(self) -> None:
        self.count += 1
        if self.done is not None and self.count >= self.target and not self.done.done():
            self.done.set_result(time.perf_counter())

    def expect(self, more: int) -> asyncio.Future[float]:
        self.target = self.count + more
        self.done = asyncio.get_running_loop().create_future()
        return self.done


def bench_socket(arrivals: Arrivals) -> WebSocket:
    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            arrivals.arrived()

    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b"", "client": ["127.0.0.1", 1]}
    return WebSocket(scope, receive, send)


async def connected(arrivals: Arrivals) -> WebSocket:
    websocket = bench_socket(arrivals)
    await websocket.accept()
    return websocket


# -- redis-server of our own ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install redis-server")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


# -- 1. publish -> delivered ----------------------------------------------------------------------------
async def latency_round(url: str | None, members: int, publishes: int, warmup: int) -> dict[int, list[float]]:
    """Per-publish latencies (ms) of a hub without and a hub with history, publishing in turn."""
    samples: dict[int, list[float]] = {0: [], 1000: []}
    hubs: dict[int, tuple[Hub, Arrivals, list[Any]]] = {}
    for history in samples:
        hub = Hub(url, history_size=history, prefix=f"bench-{uuid.uuid4().hex[:8]}:", max_queue=publishes + warmup + 10)
        await hub.start()
        arrivals = Arrivals()
        joins = [hub.join(ROOM, await connected(arrivals)) for _ in range(members)]
        for join in joins:
            await join.__aenter__()
        hubs[history] = (hub, arrivals, joins)
    gc.collect()
    for i in range(warmup + publishes):
        for history, (hub, arrivals, _) in hubs.items():
            done = arrivals.expect(members)
            started = time.perf_counter()
            await hub.publish(ROOM, PAYLOAD)
            finished = await asyncio.wait_for(done, 10)
            if i >= warmup:
                samples[history].append((finished - started) * 1000)
    for hub, _, joins in hubs.values():
        for join in joins:
            await join.__aexit__(None, None, None)
        await hub.aclose()
    return samples


# -- 2. mass recovery ------------------------------------------------------------------------------------
async def recovery_round(url: str | None, reconnects: int, missed: int) -> float:
    """Seconds from starting ``reconnects`` joins with ``since`` until each got its ``missed`` messages."""
    arrivals = Arrivals()
    hub = Hub(url, history_size=max(1000, missed), prefix=f"bench-{uuid.uuid4().hex[:8]}:", max_queue=missed + 10)
    async with hub:
        first = await hub.publish(ROOM, PAYLOAD)
        assert first is not None
        for _ in range(missed):
            await hub.publish(ROOM, PAYLOAD)
        since = Position(first.epoch, first.offset)  # every member saw only the first message
        sockets = [await connected(arrivals) for _ in range(reconnects)]
        done = arrivals.expect(reconnects * missed)
        joins = [hub.join(ROOM, websocket, since=since) for websocket in sockets]
        gc.collect()
        started = time.perf_counter()
        members = await asyncio.gather(*(join.__aenter__() for join in joins))
        finished = await asyncio.wait_for(done, 60)
        assert all(member.recovered for member in members)
        for join in joins:
            await join.__aexit__(None, None, None)
    return finished - started


# -- the run ------------------------------------------------------------------------------------------------
def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f} to {max(values):.3f})"


async def run(args: argparse.Namespace, redis_url: str) -> str:
    configs = [("memory", None, 0), ("memory", None, 1000), ("redis", redis_url, 0), ("redis", redis_url, 1000)]
    p50: dict[tuple[str, int], list[float]] = {(name, h): [] for name, _, h in configs}
    p99: dict[tuple[str, int], list[float]] = {(name, h): [] for name, _, h in configs}
    ratios: dict[str, list[float]] = {"memory": [], "redis": []}
    started = time.monotonic()
    for round_ in range(args.rounds):
        got: dict[tuple[str, int], float] = {}
        backends: list[tuple[str, str | None]] = [("memory", None), ("redis", redis_url)]
        for name, url in backends if round_ % 2 == 0 else backends[::-1]:
            pair = await latency_round(url, args.members, args.publishes, args.warmup)
            for history, samples in pair.items():
                ordered = sorted(samples)
                got[(name, history)] = statistics.median(samples)
                p50[(name, history)].append(statistics.median(samples))
                p99[(name, history)].append(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))])
        for name in ratios:
            ratios[name].append(got[(name, 1000)] / got[(name, 0)])
        print(f"latency round {round_ + 1}/{args.rounds}: " + ", ".join(f"{k}={v:.3f}" for k, v in got.items()))
    recovery: dict[str, list[float]] = {"memory": [], "redis": []}
    for round_ in range(args.recovery_rounds):
        pair: list[tuple[str, str | None]] = [("memory", None), ("redis", redis_url)]
        for name, url in pair if round_ % 2 == 0 else pair[::-1]:
            seconds = await recovery_round(url, args.reconnects, args.missed)
            recovery[name].append(seconds * 1000)
            print(f"recovery round {round_ + 1}: {name} {seconds * 1000:.1f} ms")
    elapsed = time.monotonic() - started
    lines = [
        f"Measured with `python bench/hub_history.py --rounds {args.rounds} --members {args.members} "
        f"--publishes {args.publishes} --reconnects {args.reconnects} --missed {args.missed}` "
        f"(Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {elapsed:.0f} s in all). Medians over rounds, range in brackets.",
        "",
        f"Publish -> delivered to all {args.members} members of one room, ms:",
        "",
        "| backend | history | p50 | p99 | history on / off (p50, same round) |",
        "|---|---|---:|---:|---:|",
    ]
    for name, _, history in configs:
        ratio = median_range(ratios[name]) if history else ""
        label = "on (1000)" if history else "off"
        key = (name, history)
        lines.append(f"| {name} | {label} | {median_range(p50[key])} | {median_range(p99[key])} | {ratio} |")
    lines += [
        "",
        f"{args.reconnects} members re-joining at once with `since=` {args.missed} messages back, "
        "ms until every member has all it missed:",
        "",
        "| backend | time to recover all | per member |",
        "|---|---:|---:|",
    ]
    for name, values in recovery.items():
        per = [v / args.reconnects * 1000 for v in values]
        lines.append(f"| {name} | {median_range(values)} | {statistics.median(per):.1f} µs |")
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    document = path.read_text()
    if START not in document:
        raise SystemExit(f"{path} has no {START!r} marker")
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--publishes", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--reconnects", type=int, default=1000)
    parser.add_argument("--missed", type=int, default=100)
    parser.add_argument("--recovery-rounds", type=int, default=3)
    parser.add_argument("--write", type=Path, help="replace the results section of this Markdown file")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    with redis_server() as url:
        text = runner(run(args, url))
    print(text)
    if args.write:
        write(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
