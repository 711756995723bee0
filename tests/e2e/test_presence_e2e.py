"""Presence across two uvicorn workers on one redis-server (or one nats-server), and what a kill -9
leaves behind: the survivor's clients see the leave of exactly the lost connections, once, within the bound."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import MS
from tests.e2e.nats_server import running_nats
from tests.e2e.redis_server import running_redis
from tests.e2e.servers import Server, free_port, start_process, stop_process

pytestmark = [pytest.mark.e2e]

TTL = 1.0
"""presence_ttl of both workers: the survivors reap every min(TTL / 3, 1 s)."""
BOUND = TTL + min(TTL / 3, 1.0)


def start_worker(redis_url: str) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "examples.presence_room:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log-level", "warning"]
    return start_process(argv, port, env={"HUB_URL": redis_url, "PRESENCE_TTL": str(TTL)})


@pytest.fixture(params=["redis", "nats"])
def workers(request: pytest.FixtureRequest) -> Iterator[tuple[Server, Server]]:
    with running_redis() if request.param == "redis" else running_nats() as backend:
        servers = [start_worker(backend.url), start_worker(backend.url)]
        try:
            yield servers[0], servers[1]
        finally:
            for server in servers:
                stop_process(server.process)
                if server.process.stdout is not None:
                    server.process.stdout.close()


class Client:
    """One WebSocket client that records every presence frame it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.id = ""
        self.frames: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame["type"] == "hello":
                self.id = frame["id"]
            elif frame["type"] == "presence":
                self.frames.append(frame)
            self.changed.set()

    def left(self) -> list[str]:
        return [entry["id"] for frame in self.frames for entry in frame.get("leaves", [])]

    def known(self) -> set[str]:
        ids: set[str] = set()
        for frame in self.frames:
            if "state" in frame:
                ids = {e["id"] for e in frame["state"]}
            else:
                ids -= {e["id"] for e in frame["leaves"]}
                ids |= {e["id"] for e in frame["joins"]}
        return ids


async def until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(10 * MS)


async def presence_of(server: Server) -> dict[str, Any]:
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{server.http_url}/presence/lobby")
        return dict(response.json())


async def test_kill_9_a_worker_and_the_other_reports_exactly_its_connections_leaving(
    workers: tuple[Server, Server],
) -> None:
    survivor, doomed = workers
    plan = [(survivor, "ada"), (survivor, "bob"), (doomed, "ada"), (doomed, "cy"), (doomed, "cy")]
    sockets = [await connect(f"{server.url}/ws/lobby?user={user}") for server, user in plan]
    clients = [Client(ws) for ws in sockets]
    readers = [asyncio.create_task(c.read()) for c in clients]
    try:
        await until(lambda: all(c.id for c in clients), 5000 * MS)
        everyone = {c.id for c in clients}
        await until(lambda: all(c.known() == everyone for c in clients), 5000 * MS)
        answer = await presence_of(survivor)
        assert (answer["connections"], answer["users"], set(answer["presence"])) == (5, 3, everyone)

        doomed.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        lost = {c.id for (server, _), c in zip(plan, clients, strict=True) if server is doomed}
        watching = [c for (server, _), c in zip(plan, clients, strict=True) if server is survivor]
        await until(lambda: all(set(c.left()) == lost for c in watching), (BOUND + 3.0))
        took = time.monotonic() - killed
        await asyncio.sleep(3 * TTL)  # nothing more leaves, nothing leaves twice
        for client in watching:
            assert sorted(client.left()) == sorted(lost)
            assert client.known() == everyone - lost
        answer = await presence_of(survivor)
        assert (answer["connections"], answer["users"], set(answer["presence"])) == (2, 2, everyone - lost)
        assert took <= BOUND + 1.0, f"leave events took {took:.2f}s, bound {BOUND:.2f}s (+1s slack for a busy machine)"
    finally:
        for reader in readers:
            reader.cancel()
        for ws in sockets:
            await ws.close()
