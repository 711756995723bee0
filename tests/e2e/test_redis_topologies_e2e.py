"""Redis that fails over, loses a master or moves a slot while it serves: two uvicorn workers, 100
``websockets`` clients, a publisher at about 200 messages a second.

- Behind Sentinel, ``SENTINEL FAILOVER`` mid-stream: every client sees each position at most
  once, never two messages at one position, offsets without holes inside an epoch; the epoch
  changes only with a 3410 close and a rejoin that says ``recovered: false``.
- On a three-master cluster, ``kill -9`` of a master without replica: publishes to its room fail
  with an error naming the node; the rooms on the other masters deliver every message once, in order.
- On a cluster, a live room's slot moved to another master: every message once, in order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import pytest
from redis.crc import key_slot
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sockjet import Hub, Position
from sockjet.exceptions import PublishError
from sockjet.hub import HISTORY_LOST_CLOSE_CODE
from sockjet.hub.backends.redis import RedisBackend
from tests.hub.backends.failover import publish_until_it_works
from tests.servers.redis_cluster import running_cluster
from tests.servers.redis_sentinel import running_sentinel
from tests.servers.servers import Server, free_port, start_process, stop_process
from tests.timing import MS

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

CLIENTS = 100
RATE = 200
"""Publishes a second, about (one every 5 ms)."""


@contextmanager
def two_workers(url: str, prefix: str) -> Iterator[tuple[Server, Server]]:
    servers: list[Server] = []
    try:
        for _ in range(2):
            port = free_port()
            argv = [sys.executable, "-m", "uvicorn", "tests.e2e.history_app:app", "--host", "127.0.0.1"]
            env = {"HUB_URL": url, "HUB_PREFIX": prefix}
            servers.append(start_process([*argv, "--port", str(port), "--log-level", "warning"], port, env=env))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            stop_process(server.process)
            if server.process.stdout is not None:
                server.process.stdout.close()


class Client:
    """Joins ``room`` on one worker; on a close it rejoins (either worker) from its last position."""

    def __init__(self, urls: list[str], room: str) -> None:
        self.urls = [f"{url}/ws/{room}" for url in urls]
        self.seen: list[tuple[str, int, Any]] = []
        """(epoch, offset, data) of each message, in the order received."""
        self.last: str | None = None
        self.lost_closes = 0
        self.not_recovered = 0
        self.joined = asyncio.Event()

    async def run(self, done: asyncio.Event) -> None:
        attempt = 0
        while not done.is_set():
            url = self.urls[attempt % 2] + (f"?since={self.last}" if self.last else "")
            try:
                async with connect(url, open_timeout=5000 * MS) as websocket:
                    self.joined.set()
                    while True:
                        frame: dict[str, Any] = json.loads(await websocket.recv())
                        if frame.get("recovered") is False:
                            self.not_recovered += 1
                            continue
                        position = Position.parse(frame["position"])
                        self.seen.append((position.epoch, position.offset, frame["data"]))
                        self.last = frame["position"]
            except ConnectionClosed as closed:
                if closed.rcvd is not None and closed.rcvd.code == HISTORY_LOST_CLOSE_CODE:
                    self.lost_closes += 1
            except OSError:
                pass
            attempt += 1
            await asyncio.sleep(10 * MS)

    def data(self) -> list[Any]:
        return [data for _, _, data in self.seen]


async def _start(clients: list[Client]) -> tuple[asyncio.Event, list[asyncio.Task[None]]]:
    done = asyncio.Event()
    tasks = [asyncio.create_task(client.run(done)) for client in clients]
    await asyncio.wait_for(asyncio.gather(*(c.joined.wait() for c in clients)), 20000 * MS)
    return done, tasks


async def _joined(publisher: Hub, counts: dict[str, int]) -> None:
    deadline = time.monotonic() + 20000 * MS
    for room, expected in counts.items():
        while await publisher.count(room) < expected:
            assert time.monotonic() < deadline, f"the clients did not all join {room}"
            await asyncio.sleep(10 * MS)


async def _end(done: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    done.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _stream_through(
    publisher: Hub, room: str, event: Callable[[], object], *, before: int = 200, after: int = 200
) -> dict[tuple[str, int], Any]:
    """Publish at about ``RATE`` a second: ``before`` messages, then start ``event`` (in a thread)
    and go on until it has ended and ``after`` more are out. Returns position -> data."""
    published: dict[tuple[str, int], Any] = {}
    running: asyncio.Future[object] | None = None
    n = remaining = 0
    while running is None or not running.done() or remaining > 0:
        n += 1
        position = await publish_until_it_works(publisher, room, {"n": n}, key=f"m{n}")
        assert position is not None
        published[(position.epoch, position.offset)] = {"n": n}
        if n == before:
            running = asyncio.ensure_future(asyncio.to_thread(event))
            remaining = after
        elif running is not None and running.done():
            remaining -= 1
        await asyncio.sleep(1 / RATE)
    assert running is not None
    await running  # its failure, if any
    return published


async def _all_reach(clients: list[Client], last: tuple[str, int]) -> None:
    deadline = time.monotonic() + 20000 * MS
    while not all(client.seen and client.seen[-1][:2] == last for client in clients):
        assert time.monotonic() < deadline, "the clients did not all reach the last message"
        await asyncio.sleep(20 * MS)


async def test_a_sentinel_failover_mid_stream_never_gives_two_messages_one_position() -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}:"
    room = "stream"
    with running_sentinel() as topology, two_workers(topology.url, prefix) as (one, two):
        clients = [Client([one.url, two.url] if i % 2 else [two.url, one.url], room) for i in range(CLIENTS)]
        done, tasks = await _start(clients)
        try:
            async with Hub(topology.url, prefix=prefix, history_size=5000, timeout=0.5) as publisher:
                await _joined(publisher, {room: CLIENTS})
                published = await _stream_through(publisher, room, topology.failover)
                await _all_reach(clients, list(published)[-1])
        finally:
            await _end(done, tasks)
        epochs = {epoch for epoch, _ in published}
        assert len(epochs) == 2  # the failover started a new epoch: nothing of the old is reused
        for client in clients:
            positions = [(epoch, offset) for epoch, offset, _ in client.seen]
            assert len(positions) == len(set(positions))  # each position at most once
            for epoch, offset, data in client.seen:
                assert published[(epoch, offset)] == data  # never two messages at one position
            for (epoch_a, offset_a, _), (epoch_b, offset_b, _) in pairwise(client.seen):
                assert epoch_a != epoch_b or offset_b == offset_a + 1  # no hole inside an epoch
            switches = sum(1 for a, b in pairwise(client.seen) if a[0] != b[0])
            assert switches <= client.lost_closes == client.not_recovered  # an epoch change is told


async def test_a_dead_cluster_master_fails_only_its_room_the_others_get_every_message() -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}:"
    messages = 300
    with running_cluster() as topology, two_workers(topology.url, prefix) as (one, two):
        rooms = topology.room_per_master(prefix)
        dead_port, dead_room = next(iter(rooms.items()))
        names = list(rooms.values())
        clients = [Client([one.url, two.url] if i % 2 else [two.url, one.url], names[i % 3]) for i in range(CLIENTS)]
        done, tasks = await _start(clients)
        failures: list[str] = []
        try:
            # Publishes to the live rooms are not retried, so their timeout must outlast a busy
            # moment of this 2-core machine (0.5 s did not, once in a full run).
            async with Hub(topology.url, prefix=prefix, history_size=5000, timeout=3.0) as publisher:
                await _joined(publisher, {room: sum(1 for c in clients if c.urls[0].endswith(room)) for room in names})
                for n in range(1, messages + 1):
                    for room in names:
                        if room == dead_room and n > messages // 3:
                            try:
                                await publisher.publish(room, {"n": n})
                            except PublishError as exc:
                                failures.append(str(exc))
                        else:
                            await publisher.publish(room, {"n": n})
                    if n == messages // 3:
                        topology.kill(dead_port)
                    await asyncio.sleep(3 / RATE)
                alive = [c for c in clients if not c.urls[0].endswith(dead_room)]
                deadline = time.monotonic() + 20000 * MS
                while not all(len(c.seen) >= messages for c in alive):
                    assert time.monotonic() < deadline, "the clients of the live masters missed messages"
                    await asyncio.sleep(20 * MS)
        finally:
            await _end(done, tasks)
        assert len(failures) == messages - messages // 3  # every publish to the dead master failed, clearly
        assert all(f"Redis Cluster node 127.0.0.1:{dead_port} (slot " in failure for failure in failures)
        for client in clients:
            if client.urls[0].endswith(dead_room):
                assert client.data() == [{"n": n} for n in range(1, len(client.seen) + 1)]  # a prefix, once
            else:
                assert client.data() == [{"n": n} for n in range(1, messages + 1)]  # every message, once, in order
                assert client.lost_closes == 0


async def test_a_live_rooms_slot_moved_to_another_master_loses_nothing() -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}:"
    with running_cluster() as topology, two_workers(topology.url, prefix) as (one, two):
        rooms = topology.room_per_master(prefix)
        (_, room), (target, _) = list(rooms.items())[:2]
        slot = key_slot(RedisBackend(topology.url, prefix=prefix).channel(room))
        clients = [Client([one.url, two.url] if i % 2 else [two.url, one.url], room) for i in range(CLIENTS)]
        done, tasks = await _start(clients)
        try:
            async with Hub(topology.url, prefix=prefix, history_size=5000, timeout=0.5) as publisher:
                await _joined(publisher, {room: CLIENTS})
                published = await _stream_through(publisher, room, lambda: topology.move_slot(slot, target))
                await _all_reach(clients, list(published)[-1])
        finally:
            await _end(done, tasks)
        assert topology.port_of_slot(slot) == target
        for client in clients:
            assert client.data() == list(published.values())  # every message, once, in order
            assert len({epoch for epoch, _, _ in client.seen}) == 1 and client.lost_closes == 0
