"""Two uvicorn worker processes sharing one redis-server: a message from a client of one
reaches a client of the other, through a Redis outage and back."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import MS
from tests.e2e.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture
from tests.e2e.servers import Server, free_port, start_process, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROOM = "/ws/chat/e2e"


def start_worker(redis_url: str) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "examples.chat_room:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log-level", "warning"]
    return start_process(argv, port, env={"HUB_URL": redis_url})


def stop_worker(server: Server) -> None:
    stop_process(server.process)
    if server.process.stdout is not None:
        server.process.stdout.close()


@pytest.fixture
def workers(redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:  # noqa: F811 - the fixture
    one = start_worker(redis_server.url)
    try:
        two = start_worker(redis_server.url)
        try:
            yield one, two
        finally:
            stop_worker(two)
    finally:
        stop_worker(one)


async def receive_until(ws: ClientConnection, predicate: object, timeout: float = 5000 * MS) -> str:
    """The first text frame matching ``predicate`` (older ones are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no matching message in time"
        message = await asyncio.wait_for(ws.recv(), left)
        assert isinstance(message, str)
        if predicate(message):  # type: ignore[operator]
            return message


async def room_count(server: Server) -> int:
    async with httpx2.AsyncClient() as client:
        response = await client.get(f"{server.http_url}/rooms/e2e")
        return int(response.json()["members"])


async def delivered(sender: ClientConnection, receiver: ClientConnection, marker: str) -> None:
    """Send ``marker-N`` until the receiver gets one: the path is up again (bounded)."""
    deadline = time.monotonic() + 10000 * MS
    for attempt in range(1000):
        assert time.monotonic() < deadline, f"{marker}: no delivery after Redis came back"
        await sender.send(f"{marker}-{attempt}")
        try:
            await receive_until(receiver, lambda m: m.startswith(marker), 200 * MS)
            return
        except (AssertionError, asyncio.TimeoutError):
            continue


async def test_two_workers_one_redis_and_an_outage(workers: tuple[Server, Server], redis_server: RedisServer) -> None:  # noqa: F811
    one, two = workers
    async with connect(one.url + ROOM) as a, connect(two.url + ROOM) as b:
        deadline = time.monotonic() + 5000 * MS
        while await room_count(one) != 2:  # both joined (and so subscribed)
            assert time.monotonic() < deadline, "both clients never showed up in the room"
            await asyncio.sleep(10 * MS)
        assert await room_count(two) == 2

        await a.send("hello from worker one")
        assert await receive_until(b, lambda m: True) == "hello from worker one"
        assert await receive_until(a, lambda m: True) == "hello from worker one"
        await b.send("hello from worker two")
        assert await receive_until(a, lambda m: True) == "hello from worker two"
        assert await receive_until(b, lambda m: True) == "hello from worker two"

        redis_server.stop()
        await a.send("during the outage")
        error = json.loads(await receive_until(a, lambda m: m.startswith('{"error"')))
        assert error["error"].startswith("Could not publish to room 'e2e': Redis at redis://127.0.0.1:")
        assert error["error"].endswith("Nobody received it; retry when Redis is back.")

        redis_server.start()
        await delivered(a, b, "one-to-two")
        await delivered(b, a, "two-to-one")
        await a.send("after the outage")
        assert await receive_until(b, lambda m: m == "after the outage")
        await b.send("and back")
        assert await receive_until(a, lambda m: m == "and back")
