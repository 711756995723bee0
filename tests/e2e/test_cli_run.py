"""``sockjet run`` as a user runs it: a real process on a free port, talked to by the ``websockets`` client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.typing import Subprotocol

from sockjet.channels import token_subprotocol
from tests.conftest import MS
from tests.servers.redis_server import RedisServer
from tests.servers.servers import ROOT, Server, free_port, start_process, stop_process

pytestmark = pytest.mark.e2e

SOCKJET = [sys.executable, "-m", "sockjet"]


@contextlib.contextmanager
def running(argv: list[str], port: int) -> Iterator[Server]:
    """Start ``argv``; on exit stop it as Ctrl+C does and check it exited cleanly (code 0)."""
    server = start_process(argv, port)
    try:
        yield server
    finally:
        code = stop_process(server.process, signal.SIGINT)
        assert server.process.stdout is not None
        server.process.stdout.close()
    assert code == 0


def sockjet_run(port: int, *options: str) -> list[str]:
    return [*SOCKJET, "run", "tests.e2e.cli_app:app", "--port", str(port), "--log-level", "warning", *options]


@pytest.mark.parametrize("ws", ["websockets-sansio", "websockets", "wsproto"])
async def test_run_serves_the_app_to_a_real_client(ws: str) -> None:
    port = free_port()
    with running(sockjet_run(port, "--ws", ws), port) as server:
        async with connect(f"{server.url}/ws/echo", open_timeout=5000 * MS) as websocket:
            await websocket.send("hello")
            reply = await asyncio.wait_for(websocket.recv(), 5000 * MS)
        assert reply == f"{server.process.pid}: hello"


async def test_ws_max_size_is_enforced_by_the_server() -> None:
    port = free_port()
    with running(sockjet_run(port, "--ws-max-size", "1000"), port) as server:
        async with connect(f"{server.url}/ws/echo", open_timeout=5000 * MS) as websocket:
            await websocket.send("x" * 999)
            assert str(await asyncio.wait_for(websocket.recv(), 5000 * MS)).endswith("x" * 999)
            await websocket.send("x" * 1001)
            with pytest.raises(ConnectionClosedError) as exc_info:
                await asyncio.wait_for(websocket.recv(), 5000 * MS)
        assert exc_info.value.rcvd is not None
        assert exc_info.value.rcvd.code == 1009  # message too big


def test_run_with_two_workers_serves_http_and_websockets() -> None:
    port = free_port()
    with running(sockjet_run(port, "--workers", "2"), port) as server:
        with urllib.request.urlopen(f"{server.http_url}/pid", timeout=5000 * MS) as response:
            pid = json.load(response)["pid"]
        assert pid != server.process.pid  # answered by a worker, not by the supervisor

        async def echo() -> str:
            async with connect(f"{server.url}/ws/echo", open_timeout=5000 * MS) as websocket:
                await websocket.send("hi")
                return str(await asyncio.wait_for(websocket.recv(), 5000 * MS))

        assert asyncio.run(echo()).endswith(": hi")


def test_port_in_use_fails_before_starting_a_server() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(sockjet_run(port), cwd=ROOT, capture_output=True, text=True, timeout=15000 * MS)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"sockjet: error: Port {port} on 127.0.0.1 is already in use: "
        "stop the program using it or choose another --port\n"
    )


def test_bad_app_from_the_console_script() -> None:
    script = Path(sys.executable).with_name("sockjet")
    if not script.exists():  # pragma: no cover - only when sockjet is not installed as a package
        pytest.skip(f"the sockjet console script is not installed next to {sys.executable}")
    result = subprocess.run(
        [str(script), "run", "tests.e2e.cli_app:missing"], cwd=ROOT, capture_output=True, text=True, timeout=15000 * MS
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == 'sockjet: error: Module "tests.e2e.cli_app" has no attribute "missing"\n'


# --- sockjet demo -------------------------------------------------------------------------------


async def _join(url: str, room: str, nick: str) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect as the demo page does (channels protocol, the nick as token), ask ``hello``, subscribe."""
    offered = [Subprotocol("sockjet.v1"), Subprotocol(token_subprotocol(nick))]
    websocket = await connect(url, subprotocols=offered, open_timeout=5000 * MS)
    assert json.loads(await asyncio.wait_for(websocket.recv(), 5000 * MS))["op"] == "connected"
    await websocket.send(json.dumps({"id": 1, "op": "call", "method": "hello"}))
    hello = await _reply(websocket, 1)
    await websocket.send(json.dumps({"id": 2, "op": "subscribe", "room": room, "presence_events": "users"}))
    await _reply(websocket, 2)
    return websocket, {"worker": hello["data"]["worker"], "nick": nick}


async def _frames(websocket: ClientConnection, count: int) -> Any:
    for _ in range(count):
        yield json.loads(await asyncio.wait_for(websocket.recv(), 5000 * MS))


async def _reply(websocket: ClientConnection, ident: int) -> dict[str, Any]:
    """The ``ok`` of the reply to command ``ident``, skipping pushes (at most 50 frames, each within 5 s)."""
    async for frame in _frames(websocket, 50):
        if frame.get("id") == ident:
            ok: dict[str, Any] = frame["ok"]
            return ok
    raise AssertionError(f"no reply to command {ident} among 50 frames")


async def _next(websocket: ClientConnection, kind: str, **fields: Any) -> dict[str, Any]:
    """The data of the next message push of ``kind`` with these ``fields`` (at most 50 frames, each within 5 s)."""
    async for frame in _frames(websocket, 50):
        data = frame.get("data")
        if frame.get("op") == "message" and data["type"] == kind and all(data.get(k) == v for k, v in fields.items()):
            return dict(data)
    raise AssertionError(f"no {kind!r} message with {fields} among 50")


async def _comes_online(websocket: ClientConnection, nick: str) -> None:
    """Wait for both signs that ``nick`` joined: a presence push listing it, and the line published
    for it (in either order: under churn the hub groups presence frames, lines are not)."""
    listed = announced = False
    async for frame in _frames(websocket, 100):
        if frame.get("op") == "presence":
            entries = frame.get("state", []) + frame.get("joins", [])
            listed = listed or any(entry["info"]["nick"] == nick for entry in entries)
        elif frame.get("op") == "message" and frame["data"]["type"] == "presence":
            announced = announced or (frame["data"]["event"], frame["data"]["nick"]) == ("join", nick)
        if listed and announced:
            return
    raise AssertionError(f"{nick} never came online among 100 frames (listed: {listed}, line: {announced})")


async def _both_workers_ready(http_url: str) -> None:
    """The supervisor listens before its workers do: wait until /healthz has answered from two processes."""
    pids: set[int] = set()
    deadline = time.monotonic() + 15000 * MS
    while len(pids) < 2:
        assert time.monotonic() < deadline, f"only workers {pids} answered /healthz within 15 s"
        with urllib.request.urlopen(f"{http_url}/healthz", timeout=5000 * MS) as response:
            pids.add(json.load(response)["pid"])
        await asyncio.sleep(20 * MS)


@pytest.mark.redis
async def test_demo_with_two_workers_shares_rooms_and_presence_through_redis() -> None:
    redis_server = RedisServer()
    redis_server.start()
    try:
        await _chat_across_workers(redis_server.url)
    finally:
        redis_server.stop()


async def _chat_across_workers(redis_url: str) -> None:
    port = free_port()
    argv = [*SOCKJET, "demo", "--workers", "2", "--redis", redis_url, "--port", str(port)]
    with running([*argv, "--log-level", "warning"], port) as server:
        url = f"{server.url}/ws"
        await _both_workers_ready(server.http_url)
        # Connections land on whichever worker accepts them: keep opening until two workers are seen.
        first, welcome = await _join(url, "team", "ada")
        other: ClientConnection | None = None
        try:
            for attempt in range(40):
                candidate, hello = await _join(url, "team", f"bob{attempt}")
                if hello["worker"] != welcome["worker"]:
                    other = candidate
                    break
                # Closed at once: a connection left open while others join stops reading once 16
                # presence pushes wait in it (websockets' max_queue), then waits 10 s to close.
                await candidate.close()
            assert other is not None, "40 connections all landed on one worker"
            # Ada, on worker A, sees Bob (worker B) come online, then the line his join published.
            await _comes_online(first, hello["nick"])
            await other.send(json.dumps({"id": 3, "op": "publish", "room": "team", "data": {"text": "across workers"}}))
            message = await _next(first, "message")
            assert (message["nick"], message["text"]) == (hello["nick"], "across workers")
        finally:
            await first.close()
            if other is not None:
                await other.close()


async def test_refusals_reach_the_log_with_their_level_and_the_client_as_http() -> None:
    port = free_port()
    server = start_process(sockjet_run(port), port)
    try:
        async with connect(f"{server.url}/ws/params?n=1&token=ann", open_timeout=5000 * MS) as websocket:
            assert await asyncio.wait_for(websocket.recv(), 5000 * MS) == "ann:2"
        for query, status in (("n=x", 403), ("n=1&token=expired", 401)):
            with pytest.raises(InvalidStatus) as refused:
                await connect(f"{server.url}/ws/params?{query}", open_timeout=5000 * MS)
            assert refused.value.response.status_code == status
    finally:
        assert stop_process(server.process, signal.SIGINT) == 0
    output = server.output()
    assert server.process.stdout is not None
    server.process.stdout.close()
    lines = [line for line in output.splitlines() if "Refused" in line]
    assert len(lines) == 2, output
    assert lines[0].startswith("WARNING:  Refused WebSocket /ws/params from 127.0.0.1:")
    assert lines[0].endswith(" with 1008: Invalid query parameter 'n': Input should be a valid integer")
    assert lines[1].endswith(" with HTTP 401: member raised HTTPException('token expired')")
