"""examples/fastapi_hub.py on a real uvicorn: FastAPI's WebSocket joins sockjet's Hub, and at SIGTERM
every member is closed with 1001 "server shutting down" before uvicorn would close it with 1012."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import httpx2
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sockjet import status
from tests.conftest import MS
from tests.servers.servers import Server, free_port, start_process, stop_process

pytestmark = pytest.mark.e2e

TIMEOUT = 5000 * MS
EXITED = (0, -signal.SIGTERM)
"""uvicorn re-raises the SIGTERM it handled once it has shut down, so its process ends by that signal."""


def start_fastapi(*, drain_on_signal: bool = True) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "examples.fastapi_hub:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--ws", "websockets-sansio", "--log-level", "warning"]
    env = {"HUB_URL": ""}
    if not drain_on_signal:
        # The same app with Hub(drain_on_signal=False): what uvicorn alone does at shutdown.
        argv[3] = "tests.e2e.fastapi_no_drain:app"
    return start_process(argv, port, env=env)


async def test_fastapi_members_chat_and_hear_http_announcements() -> None:
    server = start_fastapi()
    try:
        async with (
            asyncio.timeout(TIMEOUT),
            connect(f"{server.url}/rooms/lobby?name=ada") as ada,
            connect(f"{server.url}/rooms/lobby?name=bob") as bob,
        ):
            assert json.loads(await ada.recv()) == {"joined": "lobby", "as": "ada"}
            assert json.loads(await bob.recv()) == {"joined": "lobby", "as": "bob"}
            await ada.send("hello")
            for ws in (ada, bob):
                assert json.loads(await ws.recv()) == {"from": "ada", "text": "hello"}
            async with httpx2.AsyncClient() as client:
                response = await client.post(f"{server.http_url}/rooms/lobby/announce", params={"text": "news"})
            assert response.json() == {"members_here": 2}
            for ws in (ada, bob):
                assert json.loads(await ws.recv()) == {"from": "server", "text": "news"}
    finally:
        assert stop_process(server.process) in EXITED
        output = server.output()
        assert server.process.stdout is not None
        server.process.stdout.close()
        assert "Traceback" not in output, output


async def _close_codes_at_sigterm(server: Server, count: int) -> list[tuple[int, str]]:
    """Connect ``count`` members, SIGTERM the server, and collect the close frame each one got."""
    async with asyncio.timeout(TIMEOUT):
        clients = [await connect(f"{server.url}/rooms/r?name=c{i}") for i in range(count)]
        for ws in clients:
            await ws.recv()  # joined
        server.process.send_signal(signal.SIGTERM)
        closes: list[tuple[int, str]] = []
        for ws in clients:
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await ws.recv()
            assert info.value.rcvd is not None
            closes.append((info.value.rcvd.code, info.value.rcvd.reason))
        return closes


async def test_sigterm_closes_fastapi_members_with_1001_not_uvicorns_1012() -> None:
    server = start_fastapi()
    try:
        closes = await _close_codes_at_sigterm(server, 5)
        assert closes == [(status.WS_1001_GOING_AWAY, "server shutting down")] * 5
        assert await asyncio.to_thread(server.process.wait, TIMEOUT) in EXITED
    finally:
        stop_process(server.process)
        output = server.output()
        assert server.process.stdout is not None
        server.process.stdout.close()
    assert "Traceback" not in output, output


async def test_without_drain_on_signal_uvicorn_closes_first_with_1012() -> None:
    """Why the hook exists: uvicorn closes every WebSocket (1012) before the lifespan shutdown runs."""
    server = start_fastapi(drain_on_signal=False)
    try:
        closes = await _close_codes_at_sigterm(server, 2)
        assert closes == [(status.WS_1012_SERVICE_RESTART, "")] * 2
    finally:
        stop_process(server.process)
        assert server.process.stdout is not None
        server.process.stdout.close()
