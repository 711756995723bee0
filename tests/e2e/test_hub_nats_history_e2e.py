"""Two uvicorn workers serving examples/chat_history.py over one nats-server with JetStream, a
``websockets`` client on each; nats-server is restarted mid-stream. With its store intact, live
delivery resumes and a client that reconnects with its last position gets everything it missed,
in order; with the store wiped, live clients are closed with 3410 and a reconnecting one is told
(a ``resync`` frame) instead of being given a silent gap."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sockjet.hub import HISTORY_LOST_CLOSE_CODE
from tests.conftest import MS
from tests.servers.nats_server import NatsServer
from tests.servers.servers import Server, free_port, start_process, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.nats]

ROOM = "/ws/e2e"


def start_worker(url: str) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "examples.chat_history:app", "--host", "127.0.0.1", "--port", str(port)]
    return start_process([*argv, "--log-level", "warning"], port, env={"HUB_URL": url})


@pytest.fixture
def workers(nats_server: NatsServer) -> Iterator[tuple[Server, Server]]:
    servers: list[Server] = []
    try:
        for _ in range(2):
            servers.append(start_worker(nats_server.url))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            stop_process(server.process)
            print(f"worker on port {server.port}:\n{server.output()}")  # shown if the test failed
            if server.process.stdout is not None:
                server.process.stdout.close()


async def frame(ws: ClientConnection, timeout: float = 5000 * MS) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str)
    value: dict[str, Any] = json.loads(message)
    return value


async def joined(ws: ClientConnection) -> str:
    """The endpoint's first frame, ``{"room", "position"}``: where the client stands once live."""
    hello = await frame(ws)
    assert set(hello) == {"room", "position"}, hello
    position: str = hello["position"]
    return position


async def texts(ws: ClientConnection, count: int) -> list[tuple[str, str]]:
    """The next ``count`` chat frames as (position, text)."""
    return [(f["position"], f["data"]["text"]) for f in [await frame(ws) for _ in range(count)]]


async def until_back(server: Server) -> None:
    """The worker's hub answers again (its history read no longer fails)."""
    deadline = time.monotonic() + 10000 * MS
    async with httpx2.AsyncClient() as client:
        while True:
            assert time.monotonic() < deadline, "the worker's hub did not come back"
            try:
                response = await client.get(f"{server.http_url}/rooms/e2e/history")
            except httpx2.TransportError:  # a kept-alive connection the worker dropped meanwhile: ask again
                response = None
            if response is not None and response.status_code == 200:
                return
            await asyncio.sleep(20 * MS)


async def test_restart_with_the_store_intact_then_wiped(
    workers: tuple[Server, Server],
    nats_server: NatsServer,
) -> None:
    one, two = workers
    async with connect(one.url + ROOM) as a, connect(two.url + ROOM) as b:
        c = await connect(two.url + ROOM)
        for ws in (a, b, c):
            await joined(ws)
        for i in range(3):
            await a.send(f"m{i}")
        first = await texts(b, 3)
        assert [text for _, text in first] == ["m0", "m1", "m2"]
        assert [text for _, text in await texts(c, 3)] == ["m0", "m1", "m2"]
        last_of_c = first[-1][0]
        await c.close()  # c goes away before the restart

        nats_server.restart()  # store intact
        await until_back(one)
        await until_back(two)
        await a.send("m3")
        after = await texts(b, 1)  # live delivery resumed, on the same connection
        await b.send("m4")  # (after m3 arrived: two publishers have no order between them)
        after += await texts(b, 1)
        assert [text for _, text in after] == ["m3", "m4"]
        assert [text for _, text in await texts(a, 5)] == ["m0", "m1", "m2", "m3", "m4"]
        epoch = first[0][0].split(".")[0]
        assert [position for position, _ in after] == [f"{epoch}.4", f"{epoch}.5"]

        async with connect(f"{one.url}{ROOM}?since={last_of_c}") as c_again:  # to the other worker
            assert await texts(c_again, 2) == after  # recovered: exactly what it missed

        nats_server.wipe()
        nats_server.start()
        for ws in (a, b):  # live clients are told: the hub cannot keep them whole
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await frame(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == HISTORY_LOST_CLOSE_CODE
    await until_back(one)
    async with connect(f"{two.url}{ROOM}?since={after[-1][0]}") as d:
        await joined(d)  # a position in the new epoch: the room starts again
        told = await frame(d)
        assert told == {"resync": []}  # a new epoch: nothing of the old one, and the client knows it
        async with connect(one.url + ROOM) as e:
            await e.send("new life")
            fresh = await frame(d)
        assert fresh["data"] == {"text": "new life"}
        assert fresh["position"].endswith(".1") and not fresh["position"].startswith(epoch)
