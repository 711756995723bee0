"""Presence across two uvicorn workers on one redis-server (or one nats-server), and what a kill -9
leaves behind: the survivor's clients see the leave of exactly the lost connections, once, within the bound
-- with a short ``presence_ttl`` and with the default one (a crashed worker's users gone within 10 s)."""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from websockets.asyncio.client import ClientConnection, connect

from sockjet import Hub
from sockjet.hub.backends.presence import PRESENCE_TTL, crash_bound
from tests.conftest import MS
from tests.servers.nats_server import running_nats
from tests.servers.redis_server import running_redis
from tests.servers.servers import Server, free_port, start_process, stop_process
from tests.timing import until

pytestmark = [pytest.mark.e2e]

SHORT_TTL = 1.0
"""presence_ttl of both workers in the quick run: the survivors reap every min(TTL / 3, 1 s)."""
DEFAULT_TTL: float = inspect.signature(Hub).parameters["presence_ttl"].default
SLACK = 1.0
"""Seconds beyond the bound allowed for a busy machine."""


def start_worker(url: str, ttl: float | None) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "examples.presence_room:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log-level", "warning"]
    env = {"HUB_URL": url} if ttl is None else {"HUB_URL": url, "PRESENCE_TTL": str(ttl)}
    return start_process(argv, port, env=env)


@pytest.fixture(
    params=[("redis", SHORT_TTL), ("nats", SHORT_TTL), ("redis", None), ("nats", None)],
    ids=["redis", "nats", "redis-default-ttl", "nats-default-ttl"],
)
def workers(request: pytest.FixtureRequest) -> Iterator[tuple[Server, Server, float]]:
    backend_name, ttl = request.param
    with running_redis() if backend_name == "redis" else running_nats() as backend:
        servers = [start_worker(backend.url, ttl), start_worker(backend.url, ttl)]
        try:
            yield servers[0], servers[1], DEFAULT_TTL if ttl is None else ttl
        finally:
            for server in servers:
                stop_process(server.process)
                if server.process.stdout is not None:
                    server.process.stdout.close()


def test_the_default_bound_for_a_crashed_process_is_10_s_or_less() -> None:
    assert DEFAULT_TTL == PRESENCE_TTL and crash_bound(DEFAULT_TTL) + SLACK <= 10.0


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


async def presence_of(server: Server) -> dict[str, Any]:
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{server.http_url}/presence/lobby")
        return dict(response.json())


async def test_kill_9_a_worker_and_the_other_reports_exactly_its_connections_leaving(
    workers: tuple[Server, Server, float],
) -> None:
    survivor, doomed, ttl = workers
    bound = crash_bound(ttl)
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
        answered: float | None = None  # when the survivor's answer stopped listing the lost connections
        took: float | None = None  # when every watching client had seen each of them leave
        deadline = killed + bound + 3.0
        while answered is None or took is None:
            assert time.monotonic() < deadline, "the lost connections did not leave in time"
            if took is None and all(set(c.left()) == lost for c in watching):
                took = time.monotonic() - killed
            if answered is None and not set((await presence_of(survivor))["presence"]) & lost:
                answered = time.monotonic() - killed
            await asyncio.sleep(50 * MS)
        print(f"ttl {ttl:g}s: gone from answers after {answered:.2f}s, leave events after {took:.2f}s")
        await asyncio.sleep(min(3 * ttl, 3.0))  # nothing more leaves, nothing leaves twice
        for client in watching:
            assert sorted(client.left()) == sorted(lost)
            assert client.known() == everyone - lost
        answer = await presence_of(survivor)
        assert (answer["connections"], answer["users"], set(answer["presence"])) == (2, 2, everyone - lost)
        assert answered <= bound + SLACK, f"answers listed them for {answered:.2f}s, bound {bound:.2f}s"
        assert took <= bound + SLACK, f"leave events took {took:.2f}s, bound {bound:.2f}s (+{SLACK:g}s slack)"
    finally:
        for reader in readers:
            reader.cancel()
        for ws in sockets:
            await ws.close()
