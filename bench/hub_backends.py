"""Publish latency and throughput of the Hub's backends: memory, Redis (single, behind Sentinel, a
three-master Cluster) and NATS, history off and on.

    python bench/hub_backends.py                       # prints the table
    python bench/hub_backends.py --write docs/hub.md   # also replaces its section in docs/hub.md

Starts its own redis-server, a Sentinel topology (master, replica, Sentinel), a three-master
Redis Cluster and nats-server -js (free ports on 127.0.0.1, nothing kept) and stops them at the end
(the topologies are the tests' own, ``tests/servers/``). Two processes, as two workers: this one publishes, a subscriber
process has one member in the room (a sockjet ``WebSocket`` over an in-process transport whose
``send`` notes the arrival time). The memory backend cannot span processes: there the member
is in the publishing process.

- ``latency``: arrival in the subscriber minus the moment just before ``publish`` (both
  ``time.monotonic_ns``, one clock for every process of the machine), publishes one at a time;
- ``publish``: how long ``await hub.publish`` took (the backend has the message: Redis replied,
  NATS confirmed, JetStream stored it);
- ``sequential/s``: publishes per second, one at a time; ``concurrent/s``: with 16 tasks
  publishing at once to the one room (for NATS with history: each lost race for the room's next
  offset costs a read and a retry, counted in ``retries``).

- ``many rooms``: 16 tasks publishing at once, each message to the next of 256 rooms (history
  on, nobody subscribed), single Redis against the cluster; with the publisher's CPU time per
  publish, to show whether Redis or the Python publisher is the bound.

Configs are interleaved and repeated (``--rounds``); the table gives medians with the range.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROOM = "bench"
CONCURRENCY = 16

SUBSCRIBER = r"""
import asyncio, json, sys, time
from sockjet import Hub
from sockjet.websockets import WebSocket

async def main(url, prefix, history, count):
    arrivals = []
    done = asyncio.Event()

    async def receive():
        await asyncio.Event().wait()

    async def send(message):
        text = message.get("text")
        if text is None:
            return
        arrivals.append(time.monotonic_ns() - int(text.split("|", 1)[0]))
        if len(arrivals) >= count:
            done.set()

    scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b"", "client": ["127.0.0.1", 1]}
    queue = [{"type": "websocket.connect"}]

    async def first_receive():
        return queue.pop(0) if queue else await receive()

    websocket = WebSocket(scope, first_receive, send)
    await websocket.accept()
    async with Hub(url, prefix=prefix, history_size=history, max_queue=100000) as hub:
        async with hub.join("bench", websocket):
            print("ready", flush=True)
            try:
                await asyncio.wait_for(done.wait(), 120)
            except asyncio.TimeoutError:
                pass
    print(json.dumps(arrivals), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


PUBLISHER = r"""
import asyncio, json, sys, time
from sockjet import Hub

async def main(url, prefix, count):
    async with Hub(url, prefix=prefix, history_size=100) as hub:
        await hub.publish("warm-" + prefix, "x")
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        for i in range(count):
            await hub.publish("bench", f"{i}")
        elapsed = time.perf_counter() - started
        streams = getattr(hub._backend, "streams", None)
        print(json.dumps({"elapsed": elapsed, "retries": getattr(streams, "contended", 0)}), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def contention(url: str, processes: int, messages: int) -> dict[str, float]:
    """``processes`` publishers, each in its own process, publishing ``messages`` to one room with history."""
    prefix = f"bench-{os.getpid()}-{time.monotonic_ns()}:"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    argv = [sys.executable, "-c", PUBLISHER, url, prefix, str(messages)]
    children = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        assert (await asyncio.to_thread(child.stdout.readline)).strip() == "ready"
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outs = [json.loads((await asyncio.to_thread(child.communicate, timeout=120))[0].strip()) for child in children]
    elapsed = time.perf_counter() - started
    return {"rate": processes * messages / elapsed, "retries": sum(o["retries"] for o in outs) / (processes * messages)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {port}")


async def many_rooms(url: str, messages: int, rooms: int = 256) -> dict[str, float]:
    """``CONCURRENCY`` tasks publishing ``messages`` in all, round robin over ``rooms`` rooms, history on."""
    from sockjet import Hub

    prefix = f"bench-{os.getpid()}-{time.monotonic_ns()}:"
    async with Hub(url, prefix=prefix, history_size=100) as hub:
        for room in range(rooms):
            await hub.publish(f"room-{room}", "warm")

        async def publisher(first: int) -> None:
            for i in range(first, messages, CONCURRENCY):
                await hub.publish(f"room-{i % rooms}", "x" * 48)

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(publisher(first) for first in range(CONCURRENCY)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"rate": messages / elapsed, "cpu_us": cpu / messages * 1e6, "cpu_share": cpu / elapsed}


@contextmanager
def servers() -> Iterator[dict[str, str]]:
    redis = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    nats = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/bin:/usr/sbin")
    if redis is None or nats is None:
        raise SystemExit("needs redis-server and nats-server (apt-get install redis-server nats-server)")
    rport, nport = free_port(), free_port()
    store = tempfile.TemporaryDirectory(prefix="sockjet-bench-nats-")
    processes = [
        subprocess.Popen([redis, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen([nats, "-a", "127.0.0.1", "-p", str(nport), "-js", "-sd", store.name],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    sys.path.insert(0, str(ROOT))
    from tests.servers.redis_cluster import running_cluster
    from tests.servers.redis_sentinel import running_sentinel

    try:
        wait_port(rport)
        wait_port(nport)
        with running_sentinel() as sentinel, running_cluster() as cluster:
            yield {
                "memory": "memory://",
                "redis": f"redis://127.0.0.1:{rport}/0",
                "redis+sentinel": sentinel.url,
                "redis+cluster": cluster.url,
                "nats": f"nats://127.0.0.1:{nport}",
            }
    finally:
        for process in processes:
            process.kill()
            process.wait()
        store.cleanup()


async def run_config(url: str, history: int, messages: int) -> dict[str, float]:
    from sockjet import Hub

    prefix = f"bench-{os.getpid()}-{time.monotonic_ns()}:"
    payload = "x" * 48
    arrivals: list[int] = []
    subscriber: subprocess.Popen[str] | None = None
    async with Hub(url, prefix=prefix, history_size=history, max_queue=100000) as hub:
        if url == "memory://":
            from sockjet.websockets import WebSocket

            queue: list[dict[str, Any]] = [{"type": "websocket.connect"}]

            async def receive() -> dict[str, Any]:
                if queue:
                    return queue.pop(0)
                await asyncio.Event().wait()
                raise AssertionError

            async def send(message: MutableMapping[str, Any]) -> None:
                if message.get("text"):
                    arrivals.append(time.monotonic_ns() - int(message["text"].split("|", 1)[0]))

            scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b"", "client": ["127.0.0.1", 1]}
            websocket = WebSocket(scope, receive, send)
            await websocket.accept()
            join = hub.join(ROOM, websocket, max_queue=100000)
            await join.__aenter__()
        else:
            total = messages + messages  # the sequential run, then the concurrent one
            argv = [sys.executable, "-c", SUBSCRIBER, url, prefix, str(history), str(total)]
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            subscriber = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
            assert subscriber.stdout is not None
            assert (await asyncio.to_thread(subscriber.stdout.readline)).strip() == "ready"
        publish_ns: list[int] = []
        started = time.perf_counter()
        for _ in range(messages):
            before = time.monotonic_ns()
            await hub.publish(ROOM, f"{before}|{payload}")
            publish_ns.append(time.monotonic_ns() - before)
            await asyncio.sleep(0)  # let the member's writer run (memory)
        sequential = messages / (time.perf_counter() - started)

        async def publisher(n: int) -> None:
            for _ in range(n):
                await hub.publish(ROOM, f"{time.monotonic_ns()}|{payload}")

        started = time.perf_counter()
        await asyncio.gather(*(publisher(messages // CONCURRENCY) for _ in range(CONCURRENCY)))
        concurrent = (messages // CONCURRENCY) * CONCURRENCY / (time.perf_counter() - started)
        streams = getattr(hub._backend, "streams", None)
        retries = float(getattr(streams, "contended", 0))
        if subscriber is not None:
            sent = (messages // CONCURRENCY) * CONCURRENCY
            if sent < messages:  # the subscriber waits for 2 * messages
                for _ in range(messages - sent):
                    await hub.publish(ROOM, f"{time.monotonic_ns()}|{payload}")
            out, _ = await asyncio.to_thread(subscriber.communicate, timeout=120)
            arrivals = json.loads(out.strip().splitlines()[-1])
        else:
            await asyncio.sleep(0.05)
    latencies = [ns / 1e6 for ns in arrivals[:messages]]
    return {
        "latency_p50": statistics.median(latencies),
        "latency_p99": statistics.quantiles(latencies, n=100)[98],
        "publish_p50": statistics.median(publish_ns) / 1e6,
        "sequential": sequential,
        "concurrent": concurrent,
        "retries": retries,
    }


def fmt(values: list[float], digits: int = 2) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(results: dict[tuple[str, int], list[dict[str, float]]], rounds: int, messages: int) -> str:
    lines = [
        f"Measured with `python bench/hub_backends.py --rounds {rounds} --messages {messages}` "
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, nats-server and redis-server on the same machine; "
        "median (range) of the rounds).",
        "",
        "| backend | history | latency p50 ms | latency p99 ms | publish p50 ms | sequential/s | concurrent/s "
        "| retries | p50 latency vs Redis |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (backend, history), runs in results.items():
        redis = results.get(("redis", history))
        ratio = ""
        if redis is not None:
            mine = statistics.median(r["latency_p50"] for r in runs)
            theirs = statistics.median(r["latency_p50"] for r in redis)
            ratio = f"{mine / theirs:.2f}"
        row = [
            backend,
            f"{history}" if history else "off",
            fmt([r["latency_p50"] for r in runs]),
            fmt([r["latency_p99"] for r in runs]),
            fmt([r["publish_p50"] for r in runs]),
            fmt([r["sequential"] for r in runs], 0),
            fmt([r["concurrent"] for r in runs], 0),
            fmt([r["retries"] for r in runs], 0),
            ratio,
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", metavar="MARKDOWN", default=None)
    args = parser.parse_args(argv)
    backends = ("memory", "redis", "redis+sentinel", "redis+cluster", "nats")
    configs = [(backend, history) for history in (0, 100) for backend in backends]
    results: dict[tuple[str, int], list[dict[str, float]]] = {config: [] for config in configs}
    with servers() as urls:
        for round_ in range(args.rounds):
            for backend, history in configs if round_ % 2 == 0 else reversed(configs):
                results[(backend, history)].append(await run_config(urls[backend], history, args.messages))
                print(f"round {round_ + 1} {backend} history={history}: done", file=sys.stderr)
        spread: dict[str, list[dict[str, float]]] = {"redis": [], "redis+cluster": []}
        for round_ in range(args.rounds):
            for backend in spread if round_ % 2 == 0 else reversed(list(spread)):
                spread[backend].append(await many_rooms(urls[backend], args.messages * 5))
        shared: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for processes in (1, 2):
                for backend in ("redis", "nats"):
                    shared.setdefault((backend, processes), []).append(
                        await contention(urls[backend], processes, args.messages)
                    )
    report = table(results, args.rounds, args.messages)
    report += (
        "\n\nOne room with history (`history_size=100`), publishers in 1 or 2 processes at once, "
        f"{args.messages} publishes each, one at a time per process:\n\n"
        "| backend | processes | publishes/s, all processes | retries per publish |\n|---|---:|---:|---:|\n"
    )
    for (backend, processes), runs in shared.items():
        rate, retries = fmt([r["rate"] for r in runs], 0), fmt([r["retries"] for r in runs])
        report += f"| {backend} | {processes} | {rate} | {retries} |\n"
    report += (
        f"\n{CONCURRENCY} tasks in one process publishing {args.messages * 5} messages round robin to 256 rooms "
        "(history on, nobody subscribed):\n\n"
        "| backend | publishes/s | vs single Redis | publisher CPU per publish, µs | publisher CPU busy |\n"
        "|---|---:|---:|---:|---:|\n"
    )
    single = statistics.median(r["rate"] for r in spread["redis"])
    for backend, runs in spread.items():
        rate = statistics.median(r["rate"] for r in runs)
        busy = fmt([r["cpu_share"] * 100 for r in runs], 0)
        report += f"| {backend} | {fmt([r['rate'] for r in runs], 0)} | {rate / single:.2f} | "
        report += f"{fmt([r['cpu_us'] for r in runs], 0)} | {busy}% |\n"
    print(report)
    if args.write:
        path = Path(args.write)
        text = path.read_text()
        start, end = "<!-- bench/hub_backends.py results: start -->", "<!-- bench/hub_backends.py results: end -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        path.write_text(f"{head}{start}\n{report}\n{end}{tail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
