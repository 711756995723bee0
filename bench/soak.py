"""Soak: many concurrent connections on one uvicorn worker, each sending a message a second, for a while.

    python -m bench.soak                                  # 5,000 connections, 60 s each (about 2 minutes)
    python -m bench.soak --connections 200 --duration 5   # smoke

Loopback only, bounded in time (the whole run is cut off at ramp + duration + 120 s). It reports the
errors (must be 0: a failed handshake, a lost or wrong echo, an unexpected close), the server's RSS
before, at peak and after (and per connection), and its asyncio tasks and open file descriptors at
the start and once every client has closed (they must be back to the baseline). The server runs the
sockjet ``App`` below with its defaults (Origin check, connection tracking) plus a size limit, so the
numbers include the hardening features. Results are printed as JSON and as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sockjet import App, WebSocket, WebSocketDisconnect

ROOT = Path(__file__).resolve().parents[1]

app = App(max_message_size=64 * 1024)


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return -1  # pragma: no cover - not Linux


def _live_objects() -> int:
    gc.collect()  # count what is still referenced, not garbage waiting for the collector
    return len(gc.get_objects())


@app.get("/stats")
async def stats() -> dict[str, Any]:
    registry = app.connection_settings.registry
    return {
        "rss": _rss_bytes(),
        "tasks": len(asyncio.all_tasks()),
        "fds": len(os.listdir("/proc/self/fd")),
        "open": len(registry) if registry is not None else -1,
        "cpu_s": time.process_time(),
        "objects": _live_objects(),
    }


# -- the load generator ------------------------------------------------------------------------------


def _get_stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


class Tally:
    def __init__(self) -> None:
        self.errors: dict[str, int] = {}
        self.connected = 0
        self.messages = 0
        self.latencies: list[float] = []

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def _client(url: str, index: int, duration: float, tally: Tally, all_connected: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    try:
        async with connect(url, ping_interval=None, open_timeout=30, close_timeout=10) as ws:
            tally.connected += 1
            await all_connected.wait()
            await asyncio.sleep(random.random())  # spread the sends over the second
            start = time.monotonic()
            for n in range(int(duration)):
                payload = f"{index}:{n}"
                sent = time.monotonic()
                await ws.send(payload)
                async with asyncio.timeout(10):
                    answer = await ws.recv()
                tally.latencies.append(time.monotonic() - sent)
                if answer != payload:
                    tally.error("wrong echo")
                tally.messages += 1
                await asyncio.sleep(max(0.0, start + n + 1 - time.monotonic()))
    except TimeoutError:
        tally.error("echo timeout")
    except Exception as exc:
        tally.error(type(exc).__name__)


async def _wait_open(port: int, wanted: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = await asyncio.to_thread(_get_stats, port)
        if current["open"] == wanted or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.2)


async def soak(port: int, connections: int, duration: float) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/echo"
    baseline = await asyncio.to_thread(_get_stats, port)
    tally = Tally()
    all_connected = asyncio.Event()
    ramp_start = time.monotonic()
    async with asyncio.timeout(duration + 120 + connections / 100):
        clients = []
        for i in range(connections):
            clients.append(asyncio.create_task(_client(url, i, duration, tally, all_connected)))
            if i % 100 == 99:
                await asyncio.sleep(0.05)  # ramp: at most 2,000 handshakes a second
        while tally.connected + sum(tally.errors.values()) < connections:
            await asyncio.sleep(0.1)
        ramp = time.monotonic() - ramp_start
        peak = await asyncio.to_thread(_get_stats, port)
        steady_start, client_cpu = time.monotonic(), time.process_time()
        all_connected.set()
        await asyncio.gather(*clients)
        steady = time.monotonic() - steady_start
        client_cpu = time.process_time() - client_cpu
        after = await _wait_open(port, 0, 30)
    latencies = sorted(tally.latencies) or [0.0]
    growth = peak["rss"] - baseline["rss"]
    return {
        "connections": connections,
        "duration_s": duration,
        "ramp_s": round(ramp, 2),
        "messages": tally.messages,
        "expected_messages": connections * int(duration),
        "errors": sum(tally.errors.values()),
        "error_kinds": tally.errors,
        "latency_ms_p50": round(latencies[len(latencies) // 2] * 1000, 2),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "baseline": baseline,
        "peak": peak,
        "after": after,
        "rss_per_connection_bytes": round(growth / max(1, peak["open"])),
        "server_cpu_percent": round(100 * (after["cpu_s"] - peak["cpu_s"]) / steady, 1),
        "client_cpu_percent": round(100 * client_cpu / steady, 1),
    }


def markdown(result: dict[str, Any]) -> str:
    base, peak, after = result["baseline"], result["peak"], result["after"]
    mib = 1024 * 1024
    rows = [
        ("connections x seconds", f"{result['connections']:,} x {result['duration_s']:g}"),
        ("messages echoed / expected", f"{result['messages']:,} / {result['expected_messages']:,}"),
        ("errors", f"{result['errors']} {result['error_kinds'] or ''}".strip()),
        ("echo latency p50 / p99", f"{result['latency_ms_p50']} ms / {result['latency_ms_p99']} ms"),
        ("ramp-up (all connected)", f"{result['ramp_s']} s"),
        (
            "CPU while sending: server / load generator",
            f"{result['server_cpu_percent']} % / {result['client_cpu_percent']} % of one core",
        ),
        (
            "server RSS before / peak / after",
            f"{base['rss'] / mib:.1f} / {peak['rss'] / mib:.1f} / {after['rss'] / mib:.1f} MiB",
        ),
        ("RSS per connection (peak - before) / open", f"{result['rss_per_connection_bytes'] / 1024:.1f} KiB"),
        ("asyncio tasks before / peak / after", f"{base['tasks']} / {peak['tasks']} / {after['tasks']}"),
        ("open fds before / peak / after", f"{base['fds']} / {peak['fds']} / {after['fds']}"),
        ("Python objects before / peak / after", f"{base['objects']:,} / {peak['objects']:,} / {after['objects']:,}"),
        ("tracked connections after", str(after["open"])),
    ]
    lines = ["| measure | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds each connection sends for")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--rounds", type=int, default=2, help="soak rounds on the same server (a leak grows with each)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bench._system import pin_to_cpu, raise_open_files
    from tests.servers.servers import free_port, start_process, stop_process

    raise_open_files(4 * args.connections + 1024)
    port = args.port or free_port()
    # The server on core 0, the load generator on core 1 (where the machine has two and taskset).
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and len(os.sched_getaffinity(0)) > 1 else []
    argv_server = [*pin, sys.executable, "-m", "uvicorn", "bench.soak:app", "--host", "127.0.0.1", "--port", str(port)]
    argv_server += ["--ws", "websockets-sansio", "--loop", "uvloop", "--http", "httptools"]
    argv_server += ["--log-level", "warning", "--backlog", "4096"]
    server = start_process(argv_server, port)
    if pin:
        pin_to_cpu(1)
    try:
        import uvloop

        results = [uvloop.run(soak(port, args.connections, args.duration)) for _ in range(args.rounds)]
    finally:
        stop_process(server.process)
        if server.process.stdout is not None:
            output = server.process.stdout.read().decode(errors="replace")
            server.process.stdout.close()
            if output.strip():
                print("server output:\n" + output[-4000:], file=sys.stderr)
    print(json.dumps(results, indent=2))
    ok = True
    for number, result in enumerate(results, 1):
        print(f"\nRound {number}\n")
        print(markdown(result))
        ok = ok and result["errors"] == 0 and result["after"]["open"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
