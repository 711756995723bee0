"""Gap-free recovery end to end: two uvicorn workers on one redis-server, 100 clients receiving
from the first; it is killed with SIGKILL mid-stream; the clients reconnect to the second with the
last position each saw, and each ends with every message exactly once, in order."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sockjet import Hub, Position
from tests.conftest import MS
from tests.servers.redis_server import running_redis
from tests.servers.servers import Server, free_port, start_process, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

CLIENTS = 100
MESSAGES = 400


def start_worker(redis_url: str, prefix: str) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "tests.e2e.history_app:app", "--host", "127.0.0.1", "--port", str(port)]
    return start_process([*argv, "--log-level", "warning"], port, env={"HUB_URL": redis_url, "HUB_PREFIX": prefix})


class Client:
    """One browser-like client: keeps the last position, reconnects to ``fallback`` with it when dropped."""

    def __init__(self, first: str, fallback: str) -> None:
        self.urls = [first, fallback]
        self.offsets: list[int] = []
        self.last: str | None = None
        self.reconnects = 0
        self.not_recovered = 0
        self.joined = asyncio.Event()

    async def run(self, done: asyncio.Event) -> None:
        attempt = 0
        while not done.is_set():
            url = self.urls[min(attempt, 1)] + (f"?since={self.last}" if self.last else "")
            try:
                async with connect(url, open_timeout=5000 * MS) as websocket:
                    self.joined.set()
                    await self.receive(websocket, done)
                    return
            except (ConnectionClosed, OSError):
                attempt += 1
                self.reconnects += 1
                await asyncio.sleep(10 * MS)

    async def receive(self, websocket: ClientConnection, done: asyncio.Event) -> None:
        while len(self.offsets) < MESSAGES:
            frame: dict[str, Any] = json.loads(await websocket.recv())
            if frame.get("recovered") is False:
                self.not_recovered += 1
                continue
            self.offsets.append(Position.parse(frame["position"]).offset)
            self.last = frame["position"]


async def test_killed_worker_clients_recover_every_message_once_in_order_from_the_other() -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}:"
    with running_redis() as redis:
        one = start_worker(redis.url, prefix)
        two = start_worker(redis.url, prefix)
        try:
            room = "stream"
            clients = [Client(f"{one.url}/ws/{room}", f"{two.url}/ws/{room}") for _ in range(CLIENTS)]
            done = asyncio.Event()
            tasks = [asyncio.create_task(client.run(done)) for client in clients]
            await asyncio.wait_for(asyncio.gather(*(c.joined.wait() for c in clients)), 10000 * MS)
            async with Hub(redis.url, prefix=prefix, history_size=5000) as publisher:
                deadline = time.monotonic() + 10000 * MS
                while await publisher.count(room) < CLIENTS:
                    assert time.monotonic() < deadline, "the clients did not all join"
                    await asyncio.sleep(10 * MS)
                for i in range(1, MESSAGES + 1):
                    position = await publisher.publish(room, {"n": i})
                    assert position is not None and position.offset == i
                    if i == MESSAGES // 3:
                        # The clients are receiving: kill their worker, no goodbye.
                        while sum(len(c.offsets) for c in clients) < CLIENTS * (i // 2):
                            await asyncio.sleep(MS)
                        one.process.kill()
                    await asyncio.sleep(MS)
            await asyncio.wait_for(asyncio.gather(*tasks), 20000 * MS)
            done.set()
            for client in clients:
                assert client.offsets == list(range(1, MESSAGES + 1))  # every message, once, in order
                assert client.not_recovered == 0
            assert sum(1 for c in clients if c.reconnects) == CLIENTS  # every client lost its worker
        finally:
            stop_process(one.process)
            stop_process(two.process)
            for server in (one, two):
                if server.process.stdout is not None:
                    server.process.stdout.close()
