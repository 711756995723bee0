"""Hostile clients against uvicorn with sockjet's protocols (``sockjet.server``), as real processes.

The probes are ``bench/hostile.py``'s (``python -m bench.hostile`` runs them longer, against uvicorn's
own implementations too): a ping flood from a client that never reads, and slowloris.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import pytest
from websockets.asyncio.client import connect

from bench.hostile import handshake_request, ping_flood, slowloris
from tests.conftest import MS
from tests.servers.servers import ROOT, Server, free_port, start_process, stop_process

pytestmark = pytest.mark.e2e

APP = "tests.e2e.hardening_app:app"
TIMEOUT = 10000 * MS
HANDSHAKE = 1.0
"""The handshake timeout these servers get (seconds; the default is 10)."""


def uvicorn_argv(port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port), *options]


def serve(*options: str, handshake: float = HANDSHAKE) -> Server:
    port = free_port()
    return start_process(uvicorn_argv(port, *options), port, env={"SOCKJET_HANDSHAKE_TIMEOUT": str(handshake)})


def stopped(server: Server) -> str:
    stop_process(server.process)
    output = server.output()
    assert server.process.stdout is not None
    server.process.stdout.close()
    return output


async def echo_once(server: Server) -> str:
    async with asyncio.timeout(TIMEOUT), connect(server.url + "/echo", ping_interval=None) as websocket:
        await websocket.send("hello")
        return str(await websocket.recv())


async def test_the_documented_uvicorn_command_line_serves_and_closes_a_ping_flood_with_1008() -> None:
    """``uvicorn app --ws sockjet.server:SockjetWebSocketProtocol``, exactly as docs/cli.md spells it."""
    server = serve("--ws", "sockjet.server:SockjetWebSocketProtocol", "--log-level", "warning")
    try:
        assert await echo_once(server) == "hello"
        flood = await asyncio.to_thread(ping_flood, server.process.pid, server.port, duration=10.0)
        assert flood.closed_by_server and flood.close_code == 1008, flood
        assert flood.seconds < 5.0, flood
        assert flood.growth_mib < 10, flood
        assert await echo_once(server) == "hello"  # the flooder is gone, the server serves on
    finally:
        output = stopped(server)
    assert "with 1008: too many control frames: more than 50 at once or 10 per second" in output
    assert "Traceback" not in output


async def test_read_back_pressure_alone_bounds_a_ping_flood() -> None:
    """Without its ping budget, sockjet's protocol still stops reading while its pongs go unread."""
    server = serve("--ws", "tests.servers.server_protocols:UnlimitedPings", "--log-level", "warning")
    try:
        flood = await asyncio.to_thread(ping_flood, server.process.pid, server.port, duration=5.0)
        assert not flood.closed_by_server, flood
        assert flood.growth_mib < 10, flood
    finally:
        assert "Traceback" not in stopped(server)


def test_unfinished_handshakes_are_closed_after_the_handshake_timeout() -> None:
    """50 half-sent handshakes (and one connection that sends nothing) go after the timeout, not before."""
    server = serve("--ws", "sockjet.server:SockjetWebSocketProtocol", "--http", "sockjet.server:SockjetHTTPProtocol")
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as silent:
            started = time.monotonic()
            result = slowloris(server.port, connections=50, wait=HANDSHAKE + 10000 * MS)
            silent.settimeout(10000 * MS)
            assert silent.recv(1) == b""
        assert result.closed == 50, result
        assert HANDSHAKE - 200 * MS <= result.seconds <= HANDSHAKE + 5000 * MS, result
        assert time.monotonic() - started >= HANDSHAKE - 200 * MS
        time.sleep(1500 * MS)  # the summary of the lines held back comes a second after the first line
    finally:
        output = stopped(server)
    assert "no complete request within the handshake timeout" in output
    assert "more: connections closed for not completing their handshake in time" in output  # one line, not 51


async def test_a_completed_handshake_outlives_the_handshake_timeout() -> None:
    server = serve("--ws", "sockjet.server:SockjetWebSocketProtocol", "--http", "sockjet.server:SockjetHTTPProtocol")
    try:
        async with asyncio.timeout(TIMEOUT), connect(server.url + "/echo", ping_interval=None) as websocket:
            await asyncio.sleep(HANDSHAKE + 500 * MS)
            await websocket.send("still here")
            assert await websocket.recv() == "still here"
    finally:
        stopped(server)


def test_sockjet_run_closes_unfinished_handshakes_after_handshake_timeout() -> None:
    port = free_port()
    argv = [sys.executable, "-m", "sockjet", "run", APP, "--port", str(port), "--handshake-timeout", str(HANDSHAKE)]
    server = start_process(argv, port)
    try:
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(handshake_request(port, "/echo")[:-2])
            started = time.monotonic()
            client.settimeout(10000 * MS)
            assert client.recv(1) == b""
            assert time.monotonic() - started >= HANDSHAKE - 200 * MS
    finally:
        stopped(server)


def test_sockjet_run_exits_3_when_its_workers_fail_to_start() -> None:
    """HUB_URL points at a closed port: every worker fails its startup; with 2 workers as with 1, the exit is 3."""
    for workers in ("2", "1"):
        argv = [sys.executable, "-m", "sockjet", "run", "examples.chat_room:app", "--port", str(free_port())]
        result = subprocess.run(
            [*argv, "--workers", workers],
            cwd=ROOT,
            env={**os.environ, "HUB_URL": "redis://127.0.0.1:1/0"},
            capture_output=True,
            text=True,
            timeout=60000 * MS,
        )
        assert result.returncode == 3, (workers, result.stderr)
        assert "Cannot connect to Redis at redis://127.0.0.1:1/0" in result.stderr
