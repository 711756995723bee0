"""Mass recovery over real WebSockets: 1,000 clients reconnect at once, each 100 messages behind.

    flock /tmp/sockjet-heavy.lock python -m bench.channels_recovery            # prints the table
    python -m bench.channels_recovery --clients 50 --missed 10 --rounds 1      # a quick look

One uvicorn process (bench/channels_recovery_app.py, memory Hub, pinned to core 0) and this
process (every client, and a TCP proxy in front of the server, pinned to core 1). Per round, for
each of the two ways in, interleaved:

- **plain Hub**: raw ``websockets`` clients on ``/hub/<room>`` that keep the last position and
  re-join with ``?since=`` (the 69-line client of issue 18, reduced to what is measured);
- **channels**: ``sockjet.client.Client`` s subscribed to ``bench:<room>``, which do it by themselves.

Every client receives one message; the proxy then cuts every connection and refuses new ones
while the server publishes ``--missed`` more; the clock starts when the proxy accepts again and
stops when every client holds all ``1 + missed`` messages, once and in order (checked). Both
kinds retry with the same full-jitter delays (``[0, 5 ms]``), so what is timed is the reconnect
storm, the resubscriptions and the replays, not the backoff.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench._system import pin_to_cpu, raise_open_files
from bench.harness import ROOT, _env, _stop, _wait_listening, free_port
from sockjet.client import Client, ClientState, Message
from tests.servers.tcp_proxy import tcp_proxy

RETRY = 0.005


@dataclass
class Target:
    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """The server's user plus system CPU time so far, from /proc."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    seconds: float
    server_cpu: float
    client_cpu: float


@contextmanager
def server() -> Iterator[Target]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.channels_recovery_app:app", "--port", str(port)]
    argv += ["--log-level", "warning", "--ws", "websockets-sansio", "--backlog", "4096"]
    process = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(process.pid, {0})
        _wait_listening(port, process)
        yield Target(port, process.pid)
    finally:
        _stop(process)
        if process.stdout is not None:
            process.stdout.close()


def publish(port: int, room: str, count: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/publish/{room}?count={count}", timeout=60) as response:
        json.load(response)


class HubClient:
    """A plain-Hub client: re-joins with ``?since=<last position>`` after every drop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.offsets: list[int] = []
        self.last: str | None = None
        self.connected = asyncio.Event()
        self.dropped = asyncio.Event()

    async def run(self) -> None:
        while True:
            url = self.url + (f"?since={self.last}" if self.last else "")
            try:
                async with connect(url, open_timeout=30, ping_interval=None, compression=None) as websocket:
                    self.connected.set()
                    async for raw in websocket:
                        frame: dict[str, Any] = json.loads(raw)
                        offset = frame["position"].rpartition(".")[2]
                        if not self.offsets or int(offset) > self.offsets[-1]:
                            self.offsets.append(int(offset))
                            self.last = frame["position"]
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                pass
            self.connected.clear()
            self.dropped.set()
            await asyncio.sleep(random.random() * RETRY)


async def hub_round(target: Target, proxy_port: int, proxy: Any, clients: int, missed: int, room: str) -> Sample:
    members = [HubClient(f"ws://127.0.0.1:{proxy_port}/hub/{room}") for _ in range(clients)]
    tasks = [asyncio.create_task(m.run()) for m in members]
    try:
        await asyncio.wait_for(asyncio.gather(*(m.connected.wait() for m in members)), 120)
        await asyncio.sleep(0.2)  # every join is registered before the first publish
        await asyncio.to_thread(publish, target.port, room, 1)
        await until(lambda: all(m.offsets for m in members))
        for m in members:
            m.dropped.clear()
        return await storm(
            target,
            proxy,
            room,
            missed,
            lambda: all(m.dropped.is_set() for m in members),
            lambda: all(len(m.offsets) == 1 + missed for m in members),
            lambda: all(m.offsets == list(range(1, missed + 2)) for m in members),
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def channels_round(target: Target, proxy_port: int, proxy: Any, clients: int, missed: int, room: str) -> Sample:
    url = f"ws://127.0.0.1:{proxy_port}/ws"
    options: dict[str, Any] = {"backoff_min": RETRY, "backoff_max": RETRY, "open_timeout": 30, "command_timeout": 120}
    everyone = [Client(url, **options) for _ in range(clients)]
    seen: list[list[int]] = [[] for _ in everyone]
    subscribed = [asyncio.Event() for _ in everyone]

    async def read(index: int, client: Client) -> None:
        sub = await client.subscribe(f"bench:{room}")
        subscribed[index].set()
        async for event in sub:
            if isinstance(event, Message) and event.position is not None:
                seen[index].append(event.position.offset)

    tasks: list[asyncio.Task[None]] = []
    try:
        for start in range(0, clients, 100):
            await asyncio.gather(*(c.connect() for c in everyone[start : start + 100]))
        tasks = [asyncio.create_task(read(i, c)) for i, c in enumerate(everyone)]
        await until(lambda: all(event.is_set() for event in subscribed))
        await asyncio.to_thread(publish, target.port, f"bench:{room}", 1)
        await until(lambda: all(seen))
        return await storm(
            target,
            proxy,
            f"bench:{room}",
            missed,
            lambda: all(c.state is ClientState.RECONNECTING for c in everyone),
            lambda: all(len(s) == 1 + missed for s in seen),
            lambda: all(s == list(range(1, missed + 2)) for s in seen),
        )
    finally:
        await asyncio.gather(*(c.close() for c in everyone))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def storm(
    target: Target, proxy: Any, room: str, missed: int, all_dropped: Any, all_have: Any, exact: Any
) -> Sample:
    proxy.refuse = True
    proxy.cut()
    await until(all_dropped)
    await asyncio.to_thread(publish, target.port, room, missed)
    cpu, own = target.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    proxy.refuse = False
    await until(all_have, poll=0.001)
    took = time.perf_counter() - started
    cpu, own = target.cpu_seconds() - cpu, time.process_time() - own
    await asyncio.sleep(0.2)
    if not exact():
        raise SystemExit("a client did not end with every message exactly once, in order")
    return Sample(took, cpu, own)


async def until(predicate: Any, timeout: float = 120.0, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the clients")
        await asyncio.sleep(poll)


async def run(args: argparse.Namespace) -> str:
    results: dict[str, list[Sample]] = {"plain Hub": [], "channels": []}
    started = time.monotonic()
    with server() as target:
        async with tcp_proxy(target.port) as proxy:
            for round_ in range(args.rounds):
                order = [("plain Hub", hub_round), ("channels", channels_round)]
                for name, measure in order if round_ % 2 == 0 else order[::-1]:
                    sample = await measure(target, proxy.port, proxy, args.clients, args.missed, f"r{round_}")
                    results[name].append(sample)
                    took, cpu, own = (1000 * x for x in (sample.seconds, sample.server_cpu, sample.client_cpu))
                    print(
                        f"round {round_ + 1}/{args.rounds}: {name} {took:.0f} ms, server CPU {cpu:.0f} ms, "
                        f"clients' CPU {own:.0f} ms",
                        flush=True,
                    )
    elapsed = time.monotonic() - started
    lines = [
        f"Measured with `python -m bench.channels_recovery --clients {args.clients} --missed {args.missed} "
        f"--rounds {args.rounds}` (Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {elapsed:.0f} s in all). Medians over rounds, range in brackets; the ratio is "
        "taken within each round.",
        "",
        f"{args.clients} clients reconnecting at once, {args.missed} messages behind each: ms until every client "
        "holds everything it missed, the server's CPU time meanwhile, and the CPU time of this process "
        "(every client and the proxy):",
        "",
        "| client | time to all recovered | channels / plain Hub | server CPU | channels / plain Hub | clients' CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, samples in results.items():
        times = [s.seconds * 1000 for s in samples]
        cpus = [s.server_cpu * 1000 for s in samples]
        own = [s.client_cpu * 1000 for s in samples]
        cells = [median_range(times, 0), "", median_range(cpus, 0), "", median_range(own, 0)]
        if name == "channels":
            pairs = list(zip(results["plain Hub"], samples, strict=True))
            cells[1] = median_range([c.seconds / h.seconds for h, c in pairs], 2)
            cells[3] = median_range([c.server_cpu / max(h.server_cpu, 1e-9) for h, c in pairs], 2)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def median_range(values: list[float], digits: int) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f} to {max(values):.{digits}f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--missed", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    raise_open_files(4 * args.clients + 256)
    if len(os.sched_getaffinity(0)) > 1:
        pin_to_cpu(1)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    print(runner(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
