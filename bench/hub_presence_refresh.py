"""What keeping presence alive costs: one process holding 10,000 connections, idle, on Redis and NATS.

    python bench/hub_presence_refresh.py                       # prints the table
    python bench/hub_presence_refresh.py --write docs/hub.md   # also replaces the results section there

Always run under ``flock /tmp/sockjet-heavy.lock`` on a shared machine. Starts its own
redis-server and ``nats-server -js -m`` on free 127.0.0.1 ports (nothing on disk but a temporary
JetStream directory) and stops them.

Per backend, room shape and ``presence_ttl``: one hub joins ``--connections`` connections, each
with ``presence={"user": ...}``, spread evenly over ``rooms`` rooms; then nothing happens for
``--cycles`` refresh cycles (``presence_ttl / 3`` each) while the hub keeps its counts and
presence alive (refresh, and the reaper looking for dead processes every second). Measured over
that window: this process's CPU time (``time.process_time``: the hub is all it runs), the
broker's CPU time (``/proc/<pid>/stat``), and what the broker saw: Redis ``INFO`` (commands run,
those inside scripts included, and script runs; bytes in and out), NATS ``/varz`` (messages and
bytes in and out).
Per refresh cycle = per second x ``presence_ttl / 3``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.hub_backends import free_port, wait_port
from bench.hub_presence import accepted
from sockjet import Hub

START = "<!-- bench/hub_presence_refresh.py results: start -->"
END = "<!-- bench/hub_presence_refresh.py results: end -->"
JOIN_BATCH = 200


@dataclass
class Broker:
    name: str
    url: str
    pid: int
    monitor: int = 0
    """NATS: the monitoring port (``/varz``)."""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def brokers() -> Iterator[list[Broker]]:
    redis = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    nats = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/bin:/usr/sbin")
    if redis is None or nats is None:
        raise SystemExit("needs redis-server and nats-server (apt-get install redis-server nats-server)")
    rport, nport, mport = free_port(), free_port(), free_port()
    store = tempfile.TemporaryDirectory(prefix="sockjet-bench-nats-")
    processes = [
        subprocess.Popen([redis, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen([nats, "-a", "127.0.0.1", "-p", str(nport), "-m", str(mport), "-js", "-sd", store.name],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        for port in (rport, nport, mport):
            wait_port(port)
        yield [
            Broker("redis", f"redis://127.0.0.1:{rport}/0", processes[0].pid),
            Broker("nats", f"nats://127.0.0.1:{nport}", processes[1].pid, mport),
        ]
    finally:
        for process in processes:
            process.kill()
            process.wait()
        store.cleanup()


async def broker_counters(broker: Broker) -> dict[str, float]:
    """Cumulative counters: CPU seconds, commands or messages, bytes in and out."""
    cpu = cpu_seconds(broker.pid)
    if broker.name == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(broker.url)
        try:
            info = await client.info("all")
        finally:
            await client.aclose()
        calls = sum(float(v["calls"]) for k, v in info.items() if k.startswith("cmdstat_"))
        scripts = sum(float(info.get(k, {}).get("calls", 0)) for k in ("cmdstat_evalsha", "cmdstat_eval"))
        return {
            "cpu": cpu,
            "commands": calls,
            "client_commands": scripts,
            "in": float(info["total_net_input_bytes"]),
            "out": float(info["total_net_output_bytes"]),
        }
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.monitor}/varz", timeout=5) as response:
        varz = json.loads(response.read())
    return {
        "cpu": cpu,
        "commands": float(varz["in_msgs"]),
        "client_commands": float(varz["out_msgs"]),
        "in": float(varz["in_bytes"]),
        "out": float(varz["out_bytes"]),
    }


async def measure(broker: Broker, connections: int, rooms: int, ttl: float, cycles: int) -> dict[str, float]:
    """Per second over an idle window of ``cycles`` refresh cycles, with the hub holding ``connections``."""
    hub = Hub(broker.url, presence_ttl=ttl, prefix=f"bench-{uuid.uuid4().hex[:8]}:")
    await hub.start()
    joins = []
    try:
        began = time.monotonic()
        for first in range(0, connections, JOIN_BATCH):
            batch = []
            for i in range(first, min(connections, first + JOIN_BATCH)):
                sock = await accepted()
                batch.append(hub.join(f"room-{i % rooms}", sock.websocket, presence={"user": f"u{i}"}))
            await asyncio.gather(*(join.__aenter__() for join in batch))
            joins += batch
        joined = time.monotonic() - began
        await asyncio.sleep(ttl / 3)  # the first refresh after the joins settles
        window = cycles * ttl / 3
        before, cpu = await broker_counters(broker), time.process_time()
        await asyncio.sleep(window)
        spent, after = time.process_time() - cpu, await broker_counters(broker)
    finally:
        for first in range(0, len(joins), JOIN_BATCH):
            await asyncio.gather(*(join.__aexit__(None, None, None) for join in joins[first : first + JOIN_BATCH]))
        await hub.aclose()
    per_second = {key: (after[key] - before[key]) / window for key in before}
    return {
        "joined": joined,
        "hub_cpu_ms": spent / window * 1000,
        "broker_cpu_ms": per_second["cpu"] * 1000,
        "commands": per_second["commands"],
        "client_commands": per_second["client_commands"],
        "in": per_second["in"],
        "out": per_second["out"],
        "cycle": ttl / 3,
    }


def machine() -> str:
    return f"Python {platform.python_version()}, {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"


def report(results: list[tuple[str, int, float, dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        f"Measured with `python bench/hub_presence_refresh.py --connections {args.connections} --rooms "
        f"{','.join(map(str, args.rooms))} --ttls {','.join(f'{t:g}' for t in args.ttls)} --cycles {args.cycles} "
        f"--backends {','.join(args.backends)}` "
        f"({machine()}; redis-server and nats-server on the same machine). One process holds "
        f"{args.connections:,} connections with presence, idle; per second of upkeep, and per refresh "
        "cycle (`presence_ttl / 3`):",
        "",
        "| backend | rooms | `presence_ttl` | hub CPU ms/s | hub CPU ms per cycle | broker CPU ms/s "
        "| broker work/s | KiB/s in | KiB/s out |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, rooms, ttl, row in results:
        if name == "redis":
            work = f"{row['commands']:,.0f} commands ({row['client_commands']:,.0f} script runs)"
        else:
            work = f"{row['commands']:,.0f} msgs in, {row['client_commands']:,.0f} out"
        lines.append(
            f"| {name} | {rooms:,} | {ttl:g} s | {row['hub_cpu_ms']:.1f} | {row['hub_cpu_ms'] * row['cycle']:.0f} | "
            f"{row['broker_cpu_ms']:.1f} | {work} | {row['in'] / 1024:,.1f} | {row['out'] / 1024:,.1f} |"
        )
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    document = path.read_text()
    if START not in document:
        raise SystemExit(f"{path} has no {START!r} marker")
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")


async def run(args: argparse.Namespace) -> str:
    results: list[tuple[str, int, float, dict[str, float]]] = []
    with brokers() as found:
        for broker in (b for b in found if b.name in args.backends):
            for rooms in args.rooms:
                for ttl in args.ttls:
                    row = await measure(broker, args.connections, rooms, ttl, args.cycles)
                    print(f"{broker.name} rooms={rooms} ttl={ttl:g}: {row}", flush=True)
                    results.append((broker.name, rooms, ttl, row))
    return report(results, args)


def numbers(kind: Any) -> Any:
    return lambda text: [kind(part) for part in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rooms", type=numbers(int), default=[1, 100, 10_000], help="comma-separated room counts")
    parser.add_argument("--ttls", type=numbers(float), default=[8.0, 30.0], help="comma-separated presence_ttl values")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--backends", type=lambda text: text.split(","), default=["redis", "nats"])
    parser.add_argument("--write", type=Path, help="replace the results section of this Markdown file")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    text = runner(run(args))
    print(text)
    if args.write:
        write(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
