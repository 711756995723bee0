"""Hardening on a real uvicorn with real ``websockets`` clients: limits, Origin, lost peers, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import MS
from tests.servers.servers import ROOT, Server, free_port, start_process, stop_process, uvicorn_server

pytestmark = pytest.mark.e2e

APP = "tests.e2e.hardening_app:app"
TIMEOUT = 10000 * MS
PING_INTERVAL = 200 * MS
PING_TIMEOUT = 200 * MS


def _serve(ws: str) -> Iterator[Server]:
    extra = ("--ws-ping-interval", str(PING_INTERVAL), "--ws-ping-timeout", str(PING_TIMEOUT))
    with uvicorn_server(APP, ws=ws, extra=extra) as running:
        yield running
    assert running.process.stdout is not None
    output = running.process.stdout.read().decode(errors="replace")
    running.process.stdout.close()
    # Tracebacks expected: the /boom endpoint's, logged by sockjet with the route and the client, and
    # uvicorn's own when it rejects invalid UTF-8 (it logs the decode error, then closes with 1007).
    assert "Exception in WebSocket /boom from 127.0.0.1:" in output
    expected = output.count("RuntimeError: the endpoint broke") + output.count("UnicodeDecodeError: 'utf-8' codec")
    assert output.count("Traceback") == expected, output


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """uvicorn's websockets-sansio implementation."""
    yield from _serve("websockets-sansio")


@pytest.fixture(scope="module")
def sockjet_server() -> Iterator[Server]:
    """sockjet's protocols (``sockjet.server``), as ``sockjet run`` serves by default."""
    yield from _serve("sockjet")


@pytest.fixture(scope="module")
def wsproto_server() -> Iterator[Server]:
    yield from _serve("wsproto")


@pytest.fixture(params=["sockjet", "websockets-sansio", "wsproto"])
def ws_impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def any_server(ws_impl: str, request: pytest.FixtureRequest) -> Server:
    """sockjet's protocol and each of uvicorn's WebSocket implementations."""
    name = {"sockjet": "sockjet_server", "websockets-sansio": "server", "wsproto": "wsproto_server"}[ws_impl]
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def stats(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(server.http_url + "/stats", timeout=TIMEOUT) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def wait_for_stats(server: Server, predicate: Any, timeout: float) -> tuple[dict[str, Any], float]:
    """Poll /stats until ``predicate`` holds; returns the stats and the seconds it took."""
    start = time.monotonic()
    while True:
        current = await asyncio.to_thread(stats, server)
        if predicate(current):
            return current, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"stats never matched within {timeout:.1f}s: {current}")
        await asyncio.sleep(20 * MS)


async def test_an_oversized_message_is_closed_with_1009(any_server: Server) -> None:
    server = any_server
    async with asyncio.timeout(TIMEOUT), connect(server.url + "/echo", ping_interval=None) as ws:
        await ws.send("x" * 1024)
        assert await ws.recv() == "x" * 1024
        await ws.send("y" * 1025)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1009, "message too big: 1025 bytes, the limit is 1024")


async def test_invalid_utf8_in_a_text_frame_is_closed_with_1007(any_server: Server, ws_impl: str) -> None:
    """The server's job (it decodes before the app sees the text): websockets-sansio (and sockjet's
    protocol on it) closes with 1007, uvicorn's wsproto implementation drops the connection without a
    close frame."""
    async with asyncio.timeout(TIMEOUT), connect(any_server.url + "/echo", ping_interval=None) as ws:
        await ws.send(b"\xff\xfe not utf-8", text=True)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    if ws_impl == "wsproto":
        assert info.value.rcvd is None
    else:
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1007


async def test_a_foreign_origin_gets_403_and_allowed_ones_connect(any_server: Server) -> None:
    server = any_server
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.url + "/echo", origin="http://evil.test", ping_interval=None):  # type: ignore[arg-type]
                pass  # pragma: no cover - refused
        assert info.value.response.status_code == 403
        assert info.value.response.body == b"Origin not allowed"
        for origin in ("http://allowed.test", "https://chat.allowed.test", None):
            async with connect(server.url + "/echo", origin=origin, ping_interval=None) as ws:  # type: ignore[arg-type]
                await ws.send("hi")
                assert await ws.recv() == "hi"


async def test_an_endpoint_error_closes_only_that_connection_with_1011(any_server: Server) -> None:
    server = any_server
    async with asyncio.timeout(TIMEOUT):
        async with connect(server.url + "/echo", ping_interval=None) as bystander:
            async with connect(server.url + "/boom", ping_interval=None) as victim:
                await victim.send("go")
                with pytest.raises(ConnectionClosed) as info:
                    await victim.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1011
            await bystander.send("still fine")
            assert await bystander.recv() == "still fine"


CLIENT = """
import asyncio, socket, sys
from urllib.parse import urlsplit
from websockets.asyncio.client import connect
async def main():
    # A small receive buffer (set before connecting, so TCP honours it) bounds what the kernel absorbs.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect((urlsplit(sys.argv[1]).hostname, urlsplit(sys.argv[1]).port))
    async with connect(sys.argv[1], sock=sock, ping_interval=None) as ws:
        if len(sys.argv) < 3:
            await ws.send("hello")
        await ws.recv()
        print("connected", flush=True)
        await asyncio.sleep(3600)
asyncio.run(main())
"""


def _client_process(url: str, *extra: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", CLIENT, url, *extra], stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    assert process.stdout.readline() == b"connected\n"
    return process


@pytest.mark.parametrize("how", ["killed", "frozen"])
async def test_a_lost_client_is_reaped_within_the_heartbeat_bound(any_server: Server, how: str) -> None:
    server = any_server
    """A killed client's kernel closes its socket; a frozen one (SIGSTOP) answers no ping and is reaped."""
    before, _ = await wait_for_stats(server, lambda s: s["open"] == 0, TIMEOUT)
    process = await asyncio.to_thread(_client_process, server.url + "/echo")
    try:
        await wait_for_stats(server, lambda s: s["open"] == 1, TIMEOUT)
        process.send_signal(signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        bound = PING_INTERVAL + PING_TIMEOUT
        after, took = await wait_for_stats(server, lambda s: s["open"] == 0, TIMEOUT)
        assert took < bound + 500 * MS, f"reaped after {took:.2f}s, the bound is {bound:.2f}s"
        assert len(after["ended"]) == len(before["ended"]) + 1
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


async def test_a_client_that_stops_reading_overflows_only_its_own_outbox() -> None:
    """A frozen member's socket buffers fill, its hub outbox (8) overflows: closed 1013; the other gets all.

    The frozen client's receive buffer is 64 KiB and the server's send buffer at most 4 MiB
    (net.ipv4.tcp_wmem), so 500 x 64 KiB cannot all be absorbed. The server keeps uvicorn's default
    20 s heartbeat, so the overflow, not a ping timeout, ends the member.
    """
    with uvicorn_server(APP) as server:
        await _overflow_one_member(server)
        assert server.process.stdout is not None
    stop_process(server.process)
    output = server.process.stdout.read().decode(errors="replace")
    server.process.stdout.close()
    assert "Traceback" not in output, output


async def _overflow_one_member(server: Server) -> None:
    count, size = 500, 64 * 1024
    process = await asyncio.to_thread(_client_process, server.url + "/room", "joined")
    try:
        async with (
            asyncio.timeout(TIMEOUT * 2),
            connect(server.url + f"/room?queue={count}", ping_interval=None, max_size=None) as ws,
        ):
            assert await ws.recv() == "joined"
            await wait_for_stats(server, lambda s: s["room"] == 2, TIMEOUT)
            before = len((await asyncio.to_thread(stats, server))["ended"])
            process.send_signal(signal.SIGSTOP)
            url = f"{server.http_url}/publish?n={count}&size={size}"
            request = urllib.request.Request(url, method="POST")
            publishing = asyncio.create_task(asyncio.to_thread(urllib.request.urlopen, request, timeout=TIMEOUT))
            received = [await ws.recv() for _ in range(count)]
            (await publishing).close()
            assert [int(str(text)[:8]) for text in received] == list(range(count))
            after, _ = await wait_for_stats(server, lambda s: s["room"] == 1 and len(s["ended"]) > before, TIMEOUT)
            assert after["ended"][before:] == [1013]
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


async def _hold(url: str, codes: list[int], ready: asyncio.Event, count: int) -> None:
    async with connect(url, ping_interval=None) as ws:
        await ws.send("hi")
        await ws.recv()
        codes.append(0)
        if len(codes) == count:
            ready.set()
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        codes.append(info.value.rcvd.code)


async def test_sigterm_with_200_open_connections_closes_all_with_1001_and_exits() -> None:
    count, drain = 200, 3.0
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    running = start_process(argv, port, env={"HARDENING_SHUTDOWN_TIMEOUT": str(drain)})
    try:
        codes: list[int] = []
        ready = asyncio.Event()
        async with asyncio.timeout(TIMEOUT * 3):
            clients = [asyncio.create_task(_hold(running.url + "/echo", codes, ready, count)) for _ in range(count)]
            await ready.wait()
            start = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            await asyncio.gather(*clients)
            closed = time.monotonic() - start
            await asyncio.to_thread(running.process.wait, drain + 5)
            exited = time.monotonic() - start
        assert codes.count(1001) == count, sorted(set(codes))
        assert closed < drain and exited < drain + 2, (closed, exited)
    finally:
        stop_process(running.process, signal.SIGKILL)
        assert running.process.stdout is not None
        output = running.process.stdout.read().decode(errors="replace")
        running.process.stdout.close()
    assert "Traceback" not in output, output
