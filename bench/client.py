"""The load generator: picows' Cython WebSocket client on uvloop, pinned to its own core.

``echo``: ``connections`` clients ping-pong one message each (send, wait for the echo, send
again) for ``warmup`` seconds, then are counted for ``duration`` seconds; every round trip in
the counted window is a latency sample. ``idle``: open connections that each echo one message,
then sit idle while the caller measures the server (the ``memory`` protocol below).

Run as ``python -m bench.client echo --url ws://127.0.0.1:8001/ ...``: it prints ``start`` and ``stop``
around the counted window, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench._system import pin_to_cpu, raise_open_files

_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


@dataclass(frozen=True)
class EchoResult:
    messages: int
    seconds: float
    msg_per_s: float
    p50_us: float
    p99_us: float
    errors: int


class _Run:
    """What all connections of one run share: the phase and the samples."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.size = len(payload)
        self.running = True
        self.recording = False
        self.samples: list[int] = []
        self.errors = 0
        self.in_flight = 0
        self.drained: asyncio.Future[None] | None = None


class _EchoListener(WSListener):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.sent_at = 0

    def start(self, transport: WSTransport) -> None:
        self.run.in_flight += 1
        self.sent_at = time.perf_counter_ns()
        transport.send(WSMsgType.TEXT, self.run.payload)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        now = time.perf_counter_ns()
        if frame.msg_type not in _DATA:
            return
        run = self.run
        if frame.payload_size != run.size:
            run.errors += 1
        if run.recording:
            run.samples.append(now - self.sent_at)
        if run.running:
            self.sent_at = now
            transport.send(WSMsgType.TEXT, run.payload)
            return
        run.in_flight -= 1
        if run.in_flight == 0 and run.drained is not None and not run.drained.done():
            run.drained.set_result(None)


def _percentile(ordered: list[int], fraction: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, int(fraction * len(ordered)))
    return ordered[index] / 1000.0


async def _connect_all(url: str, count: int, factory: Any, *, parallel: int = 64) -> list[WSTransport]:
    """Open ``count`` connections, at most ``parallel`` handshakes at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one() -> WSTransport:
        async with gate:
            transport, _ = await ws_connect(factory, url, max_frame_size=1 << 24)
            return transport

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _close_all(transports: Sequence[WSTransport], timeout: float = 5.0) -> None:
    for transport in transports:
        transport.send_close()
    waits = [transport.wait_disconnected() for transport in transports]
    try:
        await asyncio.wait_for(asyncio.gather(*waits), timeout)
    except asyncio.TimeoutError:
        for transport in transports:
            transport.disconnect(graceful=False)


async def echo(url: str, *, connections: int, payload_size: int, duration: float, warmup: float) -> EchoResult:
    """Ping-pong on ``connections`` connections; bounded by ``warmup + duration`` plus a drain of 5 s at most."""
    run = _Run(b"x" * payload_size)
    listeners: list[_EchoListener] = []

    def factory() -> _EchoListener:
        listener = _EchoListener(run)
        listeners.append(listener)
        return listener

    transports = await _connect_all(url, connections, factory)
    loop = asyncio.get_running_loop()
    run.drained = loop.create_future()
    for listener, transport in zip(listeners, transports, strict=True):
        listener.start(transport)
    await asyncio.sleep(warmup)
    run.recording = True
    started = time.perf_counter()
    print("start", flush=True)  # the harness reads the server's CPU time at both marks
    await asyncio.sleep(duration)
    run.recording = False
    print("stop", flush=True)
    seconds = time.perf_counter() - started
    run.running = False
    try:
        await asyncio.wait_for(run.drained, 5.0)
    except asyncio.TimeoutError:
        run.errors += run.in_flight
    await _close_all(transports)
    ordered = sorted(run.samples)
    return EchoResult(
        messages=len(ordered),
        seconds=seconds,
        msg_per_s=len(ordered) / seconds,
        p50_us=_percentile(ordered, 0.50),
        p99_us=_percentile(ordered, 0.99),
        errors=run.errors,
    )


class _OnceListener(WSListener):
    """Echoes one message after connecting, then stays idle."""

    def __init__(self) -> None:
        self.echoed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in _DATA and not self.echoed.done():
            self.echoed.set_result(None)


async def _open_echoed(url: str, count: int, payload: bytes) -> list[WSTransport]:
    listeners: list[_OnceListener] = []

    def factory() -> _OnceListener:
        listener = _OnceListener()
        listeners.append(listener)
        return listener

    transports = await _connect_all(url, count, factory)
    for transport in transports:
        transport.send(WSMsgType.TEXT, payload)
    await asyncio.wait_for(asyncio.gather(*(listener.echoed for listener in listeners)), 30.0)
    return transports


async def _read_line() -> str:
    line: str = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip()


async def idle(url: str, *, connections: int, payload_size: int) -> None:
    """The memory protocol, spoken over stdin/stdout with the orchestrator.

    Opens one connection that echoes once and prints ``warm``; on a line ``go`` opens
    ``connections`` more, each echoing once, and prints ``ready``; on the next line closes
    them all and prints ``closed``.
    """
    payload = b"x" * payload_size
    first = await _open_echoed(url, 1, payload)
    print("warm", flush=True)
    await asyncio.wait_for(_read_line(), 60.0)
    many = await _open_echoed(url, connections, payload)
    print("ready", flush=True)
    await asyncio.wait_for(_read_line(), 60.0)
    await _close_all([*first, *many])
    print("closed", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("echo", "idle"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--payload", type=int, default=32, help="message size in bytes")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin the client to this core")
    args = parser.parse_args(argv)
    pin_to_cpu(args.cpu)
    raise_open_files()
    import uvloop

    if args.mode == "echo":
        result = uvloop.run(
            echo(
                args.url,
                connections=args.connections,
                payload_size=args.payload,
                duration=args.duration,
                warmup=args.warmup,
            )
        )
        print(json.dumps(asdict(result)), flush=True)
    else:
        uvloop.run(idle(args.url, connections=args.connections, payload_size=args.payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
