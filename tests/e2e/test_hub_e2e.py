"""Two uvicorn worker processes sharing one redis-server or nats-server: a message from a client
of one reaches a client of the other, through an outage of the server and back; a server that is
not there is one line in the log."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import MS
from tests.servers.nats_server import NatsServer, running_nats
from tests.servers.redis_server import RedisServer, running_redis
from tests.servers.servers import ROOT, Server, free_port, start_process, stop_process

pytestmark = [pytest.mark.e2e]

NAMES = {"redis": "Redis", "nats": "NATS"}

ROOM = "/ws/chat/e2e"


def worker_argv(port: int) -> list[str]:
    argv = [sys.executable, "-m", "uvicorn", "examples.chat_room:app", "--host", "127.0.0.1", "--port", str(port)]
    return [*argv, "--log-level", "warning"]


def start_worker(hub_url: str) -> Server:
    port = free_port()
    return start_process(worker_argv(port), port, env={"HUB_URL": hub_url})


def stop_worker(server: Server) -> None:
    stop_process(server.process)
    if server.process.stdout is not None:
        server.process.stdout.close()


@pytest.fixture(params=["redis", "nats"])
def broker(request: pytest.FixtureRequest) -> Iterator[RedisServer | NatsServer]:
    """A redis-server or a nats-server (JetStream on) of the test's own."""
    with running_redis() if request.param == "redis" else running_nats() as server:
        yield server


@pytest.fixture
def workers(broker: RedisServer | NatsServer) -> Iterator[tuple[Server, Server]]:
    one = start_worker(broker.url)
    try:
        two = start_worker(broker.url)
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
        assert time.monotonic() < deadline, f"{marker}: no delivery after the server came back"
        await sender.send(f"{marker}-{attempt}")
        try:
            await receive_until(receiver, lambda m: m.startswith(marker), 200 * MS)
            return
        except (AssertionError, asyncio.TimeoutError):
            continue


async def test_two_workers_one_server_and_an_outage(
    workers: tuple[Server, Server], broker: RedisServer | NatsServer
) -> None:
    one, two = workers
    name = NAMES[broker.url.partition(":")[0]]
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

        broker.stop()
        await a.send("during the outage")
        error = json.loads(await receive_until(a, lambda m: m.startswith('{"error"')))
        assert error["error"].startswith(f"Could not publish to room 'e2e': {name} at {broker.url}")
        # The loss not yet seen by the worker: the request went out on a dead connection, so the
        # hub cannot know whether it was stored -- it says so; once seen, it knows nothing left.
        assert error["error"].endswith(
            (
                f"Nobody received it; retry when {name} is back.",
                "retry with the same idempotency_key to publish it at most once.",
            )
        )

        broker.start()
        await delivered(a, b, "one-to-two")
        await delivered(b, a, "two-to-one")
        await a.send("after the outage")
        assert await receive_until(b, lambda m: m == "after the outage")
        await b.send("and back")
        assert await receive_until(a, lambda m: m == "and back")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:{port}/0", "nats://127.0.0.1:{port}"], ids=["redis", "nats"])
def test_a_hub_server_that_is_not_there_is_one_line_in_the_log(url: str) -> None:
    hub_url = url.format(port=free_port())
    result = subprocess.run(
        worker_argv(free_port()),
        cwd=ROOT,
        env={"HUB_URL": hub_url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    name = NAMES[url.partition(":")[0]]
    (line,) = [line for line in lines if "Cannot connect" in line]
    assert line.startswith(f"ERROR:    HubError: Cannot connect to {name} at {hub_url}: ")
    assert line.endswith(f"Check that {url.partition(':')[0]}-server runs there, or fix the hub URL.")
    assert lines == [line, "ERROR:    Application startup failed. Exiting."]
