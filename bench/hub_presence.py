"""Presence benchmark on Redis (a redis-server of its own on a free port, nothing else touched).

    python bench/hub_presence.py                       # prints the results
    python bench/hub_presence.py --write docs/hub.md   # also replaces the results section of docs/hub.md

What it measures, in one process (four ``Hub`` instances on one Redis stand for four workers):

- **A 10,000-connection room**: every connection joins with ``presence={"user": ..., "name": ...}``
  (7,000 distinct users: some have several tabs), spread over the four hubs. Then
  ``presence_stats(room)`` (``--repeat`` calls) and ``presence(room)`` (``--repeat // 10``
  calls), p50/p99 each, measured from another hub than the ones holding the connections.
- **Join/leave throughput**: how many ``hub.join`` + leave per second, one after another and
  100 at a time, with ``presence`` and without (the join then costs what it cost before presence).
- **Churn**: a member with ``presence_events=True`` while 1,000 joins and 1,000 leaves a second hit
  its room for ``--churn-seconds``: how many presence frames it got, against how many changes.

Every connection is a raw-ASGI sockjet ``WebSocket`` whose ``send`` only counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from sockjet import Hub
from sockjet.types import Message
from sockjet.websockets import WebSocket

ROOM = "bench-presence"
START, END = "<!-- bench/hub_presence.py results: start -->", "<!-- bench/hub_presence.py results: end -->"


class CountingSocket:
    """The server side of one connection; ``send`` counts presence frames and returns at once."""

    def __init__(self) -> None:
        self.presence_frames = 0
        self.listed = 0
        scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b"", "client": ["127.0.0.1", 1]}
        self.websocket = WebSocket(scope, self._receive, self._send)

    async def _receive(self) -> Message:
        return {"type": "websocket.connect"}

    async def _send(self, message: Message) -> None:
        text = message.get("text") or ""
        if text.startswith('{"type":"presence"'):
            self.presence_frames += 1
            self.listed += text.count('{"id":')


async def accepted() -> CountingSocket:
    sock = CountingSocket()
    await sock.websocket.accept()
    return sock


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install redis-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(10)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(calls: int, make: Any) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await make()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@contextlib.asynccontextmanager
async def hubs(url: str, count: int, **options: Any) -> AsyncIterator[list[Hub]]:
    prefix = f"bench-{os.getpid()}-{time.monotonic_ns()}:"
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(Hub(url, prefix=prefix, **options)) for _ in range(count)]


async def big_room(url: str, connections: int, repeat: int) -> dict[str, Any]:
    async with hubs(url, 5) as (*workers, reader):
        started = time.perf_counter()
        joins = []
        for n in range(connections):
            sock = await accepted()
            join = workers[n % len(workers)].join(
                ROOM, sock.websocket, presence={"user": f"u{n % 7000}", "name": f"User {n}"}
            )
            await join.__aenter__()
            joins.append(join)
        filled = time.perf_counter() - started
        stats = await reader.presence_stats(ROOM)
        assert stats == (connections, min(connections, 7000)), stats
        assert len(await reader.presence(ROOM)) == connections
        stats_ms = await timed(repeat, lambda: reader.presence_stats(ROOM))
        presence_ms = await timed(max(1, repeat // 10), lambda: reader.presence(ROOM))
        for join in joins:
            await join.__aexit__(None, None, None)
        return {"fill_s": filled, "stats": stats_ms, "presence": presence_ms, "connections": connections}


async def throughput(url: str | None, count: int, concurrency: int, presence: bool) -> float:
    """Joins + leaves per second (each connection joins once and leaves once)."""
    async with Hub(url, prefix=f"bench-tp-{time.monotonic_ns()}:") as hub:
        await hub.start()
        sockets = [await accepted() for _ in range(count)]
        keeper = await accepted()  # keeps the room subscribed, as in a busy room
        async with hub.join(ROOM, keeper.websocket):

            async def one(n: int) -> None:
                info = {"user": f"u{n}"} if presence else None
                async with hub.join(ROOM, sockets[n].websocket, presence=info):
                    pass

            started = time.perf_counter()
            for first in range(0, count, concurrency):
                await asyncio.gather(*(one(n) for n in range(first, min(count, first + concurrency))))
            took = time.perf_counter() - started
        return 2 * count / took


async def churn(url: str, rate: int, seconds: float, interval: float) -> dict[str, Any]:
    async with hubs(url, 2, presence_interval=interval) as (watching, churning):
        watcher = await accepted()
        async with watching.join(ROOM, watcher.websocket, presence_events=True):
            changes = 0
            started = time.perf_counter()
            n = 0
            while time.perf_counter() - started < seconds:
                tick = time.perf_counter()
                batch = [await accepted() for _ in range(rate // 20)]

                async def come_and_go(sock: CountingSocket, user: int) -> None:
                    async with churning.join(ROOM, sock.websocket, presence={"user": f"u{user}"}):
                        await asyncio.sleep(0.02)

                await asyncio.gather(*(come_and_go(s, n + i) for i, s in enumerate(batch)))
                n += len(batch)
                changes += 2 * len(batch)
                await asyncio.sleep(max(0.0, 0.05 - (time.perf_counter() - tick)))
            took = time.perf_counter() - started
            await asyncio.sleep(3 * interval + 0.2)
        return {
            "changes": changes,
            "seconds": took,
            "frames": watcher.presence_frames - 1,  # without the state frame
            "listed": watcher.listed,
            "interval": interval,
        }


def report(big: dict[str, Any], rates: list[tuple[str, float]], churned: list[dict[str, Any]], argv: list[str]) -> str:
    stats, listing = big["stats"], big["presence"]
    lines = [
        f"Measured with `python bench/hub_presence.py {' '.join(argv)}`".rstrip() + f" ({machine()}).",
        "",
        f"A room of {big['connections']:,} connections ({min(big['connections'], 7000):,} users) announced "
        f"from 4 hubs on one Redis in {big['fill_s']:.1f} s, read from a fifth:",
        "",
        "| call | calls | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| `presence_stats(room)` | {len(stats)} | {percentile(stats, 0.5):.2f} | {percentile(stats, 0.99):.2f} |",
        f"| `presence(room)` | {len(listing)} | {percentile(listing, 0.5):.2f} | {percentile(listing, 0.99):.2f} |",
        "",
        "Join + leave of one connection (a room that already has a member), per second:",
        "",
        "| backend | presence | one at a time | 100 at a time |",
        "|---|---|---:|---:|",
    ]
    table: dict[tuple[str, str], dict[str, float]] = {}
    for label, rate in rates:
        backend, presence, mode = label.split("/")
        table.setdefault((backend, presence), {})[mode] = rate
    for (backend, presence), row in table.items():
        lines.append(f"| {backend} | {presence} | {row['1']:,.0f} | {row['100']:,.0f} |")
    lines += [
        "",
        "Churn: one member with `presence_events=True` while another hub's connections join and leave:",
        "",
        "| presence_interval | changes | over | changes/s | frames to the member | frames/s | entries listed |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in churned:
        lines.append(
            f"| {c['interval'] * 1000:.0f} ms | {c['changes']:,} | {c['seconds']:.1f} s "
            f"| {c['changes'] / c['seconds']:,.0f} | {c['frames']:,} | {c['frames'] / c['seconds']:.1f} "
            f"| {c['listed']:,} |"
        )
    return "\n".join(lines)


def machine() -> str:
    loop = type(asyncio.get_event_loop_policy()).__module__.split(".")[0]
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    return f"Python {platform.python_version()} ({loop} loop), {system}"


def write_section(path: Path, text: str) -> None:
    doc = path.read_text()
    if START not in doc or END not in doc:
        raise SystemExit(f"{path} has no {START} ... {END} section")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")


async def main_async(args: argparse.Namespace) -> str:
    with redis_server() as url:
        big = await big_room(url, args.connections, args.repeat)
        rates = []
        for backend, target in (("redis", url), ("memory", None)):
            for presence in (True, False):
                for concurrency in (1, 100):
                    rate = await throughput(target, args.joins, concurrency, presence)
                    rates.append((f"{backend}/{'yes' if presence else 'no'}/{concurrency}", rate))
        churned = [await churn(url, args.churn_rate, args.churn_seconds, interval) for interval in (0.1, 0.0)]
    return report(big, rates, churned, args.argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--joins", type=int, default=2_000)
    parser.add_argument("--churn-rate", type=int, default=1_000, help="joins (and as many leaves) per second")
    parser.add_argument("--churn-seconds", type=float, default=3.0)
    parser.add_argument("--write", type=Path, help="replace the results section of this Markdown file")
    args = parser.parse_args(argv)
    args.argv = [a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("--write")]
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    text = asyncio.run(main_async(args))
    print(text)
    if args.write:
        write_section(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
