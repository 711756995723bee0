# ruff: noqa: RUF001  (the report's multiplication sign and en dash are meant)
"""Channels benchmark: server CPU per publish next to the plain Hub, and memory per idle connection.

    flock /tmp/sockjet-heavy.lock python -m bench.channels                  # N = 1000 and 5000
    flock /tmp/sockjet-heavy.lock python -m bench.channels --write docs/channels.md

In one process, one event loop, nothing leaves the process (like bench/hub_fanout.py):

- **Fan-out.** N clients, each a sockjet ``WebSocket`` over an in-process ``send`` that costs what
  uvicorn's websockets-sansio send costs on a writable socket (websockets' frame serialisation
  plus a copy into the write buffer, no yield). ``hub``: ``Hub(history_size=100,
  frame=json_frame)``, every client a ``hub.join`` member of one room. ``channels``:
  ``Hub(history_size=100)`` under ``Channels``, every client served by ``channels.serve`` and
  subscribed to the room with the protocol's ``subscribe``. Publishes alternate between the two,
  publish by publish (and which goes first), so the machine's other load falls on both alike;
  CPU time (``time.process_time``) from just before ``publish`` until every client's send is done
  (the memory backend delivers before ``publish`` returns). Ratio = channels / hub, medians.
- **Memory.** tracemalloc bytes per idle connection, after each is parked: raw ASGI (an echo app
  that answered one message, as in bench/profile_memory.py) versus a channels connection that
  subscribed to 10 rooms (shared by all connections, as chat rooms are) and idles.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from websockets.frames import Frame, Opcode

from bench import apps
from bench.profile_memory import _scope
from sockjet import Hub
from sockjet.channels import Channels, Connection
from sockjet.hub import json_frame
from sockjet.types import Message
from sockjet.websockets import WebSocket

ROOM = "bench"
PAYLOAD = 64


class Sink:
    """One client's server side: sends are framed and buffered as uvicorn's are; counts arrivals."""

    def __init__(self, counter: list[int], inbox: asyncio.Queue[Message] | None = None) -> None:
        self.buffer = bytearray()
        self.counter = counter
        self.inbox = inbox
        self.replies = asyncio.Event()
        receive = inbox.get if inbox is not None else self._connect
        self.websocket = WebSocket(_scope(), receive, self._send)

    async def _connect(self) -> Message:
        return {"type": "websocket.connect"}

    async def _send(self, message: Message) -> None:
        if message["type"] != "websocket.send":
            return
        text = message["text"]
        self.buffer += Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
        if len(self.buffer) > 65536:
            self.buffer.clear()
        if text.startswith('{"id"'):
            self.replies.set()
        else:
            self.counter[0] += 1


async def fan_out(clients: int, repeat: int, warmup: int) -> dict[str, list[float]]:
    plain_count, channel_count = [0], [0]
    samples: dict[str, list[float]] = {"hub": [], "channels": []}
    async with (
        Hub(history_size=100, frame=json_frame, max_queue=1024) as hub,
        Hub(history_size=100, max_queue=1024) as under,
    ):
        plain = [Sink(plain_count) for _ in range(clients)]
        for sink in plain:
            await sink.websocket.accept()
        joins = [hub.join(ROOM, sink.websocket) for sink in plain]
        for join in joins:
            await join.__aenter__()

        channels = Channels(under, ping_interval=0)

        @channels.room(ROOM)
        async def room(conn: Connection) -> None:
            return None

        subscribers = [Sink(channel_count, asyncio.Queue()) for _ in range(clients)]
        tasks = []
        for sink in subscribers:
            assert sink.inbox is not None
            sink.inbox.put_nowait({"type": "websocket.connect"})
            sink.inbox.put_nowait({"type": "websocket.receive", "text": '{"id":1,"op":"subscribe","room":"bench"}'})
            tasks.append(asyncio.ensure_future(channels.serve(sink.websocket)))
        for sink in subscribers:
            await sink.replies.wait()
        assert under.local_count(ROOM) == clients

        async def hub_publish(text: str) -> None:
            await hub.publish(ROOM, {"text": text})

        async def channels_publish(text: str) -> None:
            await under.publish(ROOM, {"text": text})

        modes: list[tuple[str, Callable[[str], Awaitable[None]], list[int]]] = [
            ("hub", hub_publish, plain_count),
            ("channels", channels_publish, channel_count),
        ]
        gc.collect()
        gc.disable()  # a collection landing in one mode's publish would be noise
        try:
            for i in range(warmup + repeat):
                order = modes if i % 2 else list(reversed(modes))
                for mode, publish, count in order:
                    before = count[0]
                    text = f"{i:08d}".ljust(PAYLOAD, "x")
                    start = time.process_time()
                    await publish(text)
                    spent = time.process_time() - start
                    assert count[0] - before == clients, (mode, count[0] - before)
                    if i >= warmup:
                        samples[mode].append(spent)
                if i % 20 == 19:
                    gc.enable()
                    gc.collect()
                    gc.disable()
        finally:
            gc.enable()
        for join in joins:
            await join.__aexit__(None, None, None)
        for sink in subscribers:
            assert sink.inbox is not None
            sink.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.gather(*tasks)
    return samples


# -- memory ----------------------------------------------------------------------------------------
async def _park_raw(count: int) -> tuple[list[asyncio.Task[None]], list[asyncio.Queue[Message]]]:
    tasks, queues = [], []
    for _ in range(count):
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        echoed = asyncio.Event()

        async def send(message: Message, echoed: asyncio.Event = echoed) -> None:
            if message["type"] == "websocket.send":
                echoed.set()

        inbox.put_nowait({"type": "websocket.connect"})
        inbox.put_nowait({"type": "websocket.receive", "text": "x" * 32})
        tasks.append(asyncio.create_task(apps.raw(_scope(), inbox.get, send)))
        queues.append(inbox)
        await echoed.wait()
    await asyncio.sleep(0)
    return tasks, queues


async def _park_channels(
    channels: Channels, count: int, rooms: int
) -> tuple[list[asyncio.Task[None]], list[asyncio.Queue[Message]]]:
    tasks, queues = [], []
    for _ in range(count):
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        replies = [0]
        done = asyncio.Event()

        async def send(message: Message, replies: list[int] = replies, done: asyncio.Event = done) -> None:
            if message["type"] == "websocket.send" and message["text"].startswith('{"id"'):
                replies[0] += 1
                if replies[0] == rooms:
                    done.set()

        inbox.put_nowait({"type": "websocket.connect"})
        for n in range(rooms):
            command = {"id": n + 1, "op": "subscribe", "room": f"room:{n}"}
            inbox.put_nowait({"type": "websocket.receive", "text": json.dumps(command)})
        tasks.append(asyncio.create_task(channels(_scope(), inbox.get, send)))
        queues.append(inbox)
        await done.wait()
    await asyncio.sleep(0)
    return tasks, queues


async def _bytes_per_connection(park: Callable[[int], Any], connections: int) -> float:
    warm, warm_queues = await park(10)  # first-use caches are not per connection
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    tasks, queues = await park(connections)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(stat.size_diff for stat in after.compare_to(before, "filename")) / connections
    for inbox in [*queues, *warm_queues]:
        inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.gather(*tasks, *warm)
    return total


async def memory(connections: int, rooms: int) -> tuple[float, float]:
    raw = await _bytes_per_connection(_park_raw, connections)
    async with Hub(history_size=100) as hub:
        channels = Channels(hub)

        @channels.room("room:{n}")
        async def room(conn: Connection, n: str) -> None:
            return None

        per = await _bytes_per_connection(lambda count: _park_channels(channels, count, rooms), connections)
    return raw, per


# -- report ----------------------------------------------------------------------------------------
def report(results: dict[int, dict[str, list[float]]], raw: float, per: float, rooms: int, rounds: int) -> str:
    lines = [
        "| subscribers | hub + `json_frame`, CPU µs per publish (median) | channels, CPU µs per publish (median) "
        "| channels / hub, median of rounds (range) | target ≤ 1.10 × |",
        "|---|---|---|---|---|",
    ]
    for clients, samples in results.items():
        hub, channels = statistics.median(samples["hub"]), statistics.median(samples["channels"])
        ratios = samples["ratios"]
        ratio = statistics.median(ratios)
        met = "met" if ratio <= 1.10 else "missed"
        spread = f"{ratio:.2f} × ({min(ratios):.2f}–{max(ratios):.2f})"
        lines.append(f"| {clients:,} | {hub * 1e6:,.0f} | {channels * 1e6:,.0f} | {spread} | {met} |")
    extra = (per - raw) / 1024
    lines += [
        "",
        "| idle connection | bytes (tracemalloc) | over raw ASGI | target ≤ raw ASGI + 6 KiB |",
        "|---|---|---|---|",
        f"| raw ASGI echo | {raw:,.0f} | | |",
        f"| channels, {rooms} subscriptions | {per:,.0f} | +{extra:.1f} KiB | {'met' if extra <= 6 else 'missed'} |",
        "",
        f"{rounds} round(s), each alternating publish by publish; `python -m bench.channels` on this machine.",
    ]
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    page = path.read_text()
    begin, end = "<!-- bench:channels -->", "<!-- /bench:channels -->"
    block = f"{begin}\n{text}\n{end}"
    if begin in page:
        page = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, page, flags=re.S)
    else:
        page += "\n" + block + "\n"
    path.write_text(page)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=2000, help="idle connections for the memory figure")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--write", type=Path, help="replace the results block of this Markdown file")
    args = parser.parse_args(argv)
    results: dict[int, dict[str, list[float]]] = {}
    for clients in args.clients:
        merged: dict[str, list[float]] = {"hub": [], "channels": [], "ratios": []}
        for _ in range(args.rounds):
            samples = asyncio.run(fan_out(clients, args.repeat, args.warmup))
            merged["hub"] += samples["hub"]
            merged["channels"] += samples["channels"]
            merged["ratios"].append(statistics.median(samples["channels"]) / statistics.median(samples["hub"]))
            print(
                f"N={clients}: hub {statistics.median(samples['hub']) * 1e6:.0f} µs, "
                f"channels {statistics.median(samples['channels']) * 1e6:.0f} µs, ratio {merged['ratios'][-1]:.3f}",
                flush=True,
            )
        results[clients] = merged
    raw, per = asyncio.run(memory(args.connections, args.rooms))
    print(
        f"memory: raw {raw:.0f} B, channels with {args.rooms} subscriptions {per:.0f} B ({(per - raw) / 1024:+.1f} KiB)"
    )
    text = report(results, raw, per, args.rooms, args.rounds)
    print(text)
    if args.write is not None:
        write(args.write, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
