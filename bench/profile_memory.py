"""Where an idle connection's bytes go: ``python -m bench.profile_memory [--stack sockjet] [--top 15]``.

Drives an echo app in-process with fake ASGI ``receive``/``send`` (no server, no sockets), parks
``--connections`` connections idle after one echo each, and prints the tracemalloc difference per
connection grouped by source line. The server's own bytes are the same for every app, so what is
printed is exactly what the app adds over the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import linecache
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import apps
from sockjet.types import Message


def _scope() -> dict[str, Any]:
    # What uvicorn's websockets-sansio implementation puts in a WebSocket scope.
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"upgrade", b"websocket")],
        "subprotocols": [],
        "state": {},
        "extensions": {"websocket.http.response": {}},
    }


async def _park(app: Any, count: int) -> tuple[list[asyncio.Task[None]], list[asyncio.Queue[Message]]]:
    tasks, queues = [], []
    for _ in range(count):
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        echoed = asyncio.Event()

        async def send(message: Message, echoed: asyncio.Event = echoed) -> None:
            if message["type"] == "websocket.send":
                echoed.set()

        inbox.put_nowait({"type": "websocket.connect"})
        inbox.put_nowait({"type": "websocket.receive", "text": "x" * 32})
        tasks.append(asyncio.create_task(app(_scope(), inbox.get, send)))
        queues.append(inbox)
        await echoed.wait()
    await asyncio.sleep(0)
    return tasks, queues


@dataclass(frozen=True)
class Allocation:
    """Bytes per idle connection still held from one source line (for ``await f(...)``: f's coroutine)."""

    where: str
    code: str
    bytes_per_connection: float


async def _measure(stack: str, connections: int) -> tuple[float, list[Allocation]]:
    app = getattr(apps, stack)
    warm, warm_queues = await _park(app, 10)  # first-use caches are not per connection
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    tasks, queues = await _park(app, connections)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = after.compare_to(before, "lineno")
    total = sum(stat.size_diff for stat in stats) / connections
    lines = []
    for stat in stats:
        frame = stat.traceback[0]
        where = f"{frame.filename.split('site-packages/')[-1].split('/src/')[-1]}:{frame.lineno}"
        code = linecache.getline(frame.filename, frame.lineno).strip()
        lines.append(Allocation(where, code, stat.size_diff / connections))
    for inbox in [*queues, *warm_queues]:
        inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.gather(*tasks, *warm)
    return total, lines


def measure(stack: str, connections: int = 2000) -> tuple[float, list[Allocation]]:
    """Bytes per idle connection the app holds (everything the fake server holds included), by line."""
    return asyncio.run(_measure(stack, connections))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", nargs="*", default=["raw", "sockjet", "starlette", "fastapi"])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    base = None
    for stack in args.stack:
        total, lines = measure(stack, args.connections)
        base = total if base is None else base
        print(f"{stack}: {total:.0f} B per idle connection ({total - base:+.0f} B vs {args.stack[0]}), largest:")
        for line in lines[: args.top]:
            print(f"  {line.bytes_per_connection:8.1f} B  {line.where:40} {line.code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
