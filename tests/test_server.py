"""sockjet.server: the control-frame budget and version rules as pure code, then the protocols on a
real uvicorn running in the test's own event loop (raw sockets as hostile clients)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from bench.hostile import close_code, handshake_request, masked_ping
from sockjet import App, WebSocket
from sockjet.server import (
    HANDSHAKE_TIMEOUT_ENV,
    ControlFrameBudget,
    SockjetH11Protocol,
    SockjetHTTPProtocol,
    SockjetWebSocketProtocol,
    handshake_timeout,
    unsupported_uvicorn,
)
from tests.conftest import MS
from tests.servers.server_protocols import UnlimitedPings

TIMEOUT = 5000 * MS
DEADLINE = 300 * MS


# --- pure rules ---------------------------------------------------------------------------------


def test_the_budget_allows_a_burst_then_its_rate() -> None:
    budget = ControlFrameBudget(rate=10.0, burst=3, now=0.0)
    assert [budget.spend(0.0) for _ in range(4)] == [True, True, True, False]
    assert budget.spend(0.05) is False  # half a token came back
    assert budget.spend(0.1) is True
    assert [budget.spend(100.0) for _ in range(4)] == [True, True, True, False]  # never more than the burst


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 5), (1.0, 0), (1.0, 2.5)])
def test_a_budget_needs_a_rate_and_a_burst(rate: float, burst: Any) -> None:
    message = f"a control frame budget needs rate > 0 and burst >= 1, got rate={rate!r}, burst={burst!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        ControlFrameBudget(rate=rate, burst=burst, now=0.0)


@pytest.mark.parametrize("version", ["0.52.4", "0.53.0", "0.54.0", "0.54.9.post1"])
def test_supported_uvicorn_versions(version: str) -> None:
    assert unsupported_uvicorn(version) is None


@pytest.mark.parametrize("version", ["0.52.3", "0.29.0", "0.55.0rc1", "0.55.0", "1.0"])
def test_unsupported_uvicorn_versions_say_what_to_install(version: str) -> None:
    assert unsupported_uvicorn(version) == (
        f"uvicorn {version} is not supported by sockjet's server protocol (tested with uvicorn>=0.52.4,<0.55): "
        'pip install "uvicorn[standard]>=0.52.4,<0.55"'
    )


def test_importing_under_an_unsupported_uvicorn_exits_with_one_line() -> None:
    code = "import uvicorn; uvicorn.__version__ = '0.29.0'; import sockjet.server"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT * 4)
    assert result.returncode == 1
    assert result.stderr == f"sockjet.server: {unsupported_uvicorn('0.29.0')}\n"


def test_the_handshake_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HANDSHAKE_TIMEOUT_ENV, raising=False)
    assert handshake_timeout() == 10.0
    assert handshake_timeout(3.0) == 3.0
    monkeypatch.setenv(HANDSHAKE_TIMEOUT_ENV, "2.5")
    assert handshake_timeout() == 2.5
    monkeypatch.setenv(HANDSHAKE_TIMEOUT_ENV, "0")
    assert handshake_timeout() is None
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv(HANDSHAKE_TIMEOUT_ENV, bad)
        message = f"SOCKJET_HANDSHAKE_TIMEOUT must be 0 (off) or a positive number of seconds, got {bad!r}"
        with pytest.raises(ValueError, match=re.escape(message)):
            handshake_timeout()


# --- on a real uvicorn, in this event loop ------------------------------------------------------

app = App()
accepted = asyncio.Event()


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


@app.websocket("/never")
async def never(websocket: WebSocket) -> None:
    """Never answers the handshake; ends when the connection is lost."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


@app.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(2 * DEADLINE)
    return {"slow": "done"}


@contextlib.asynccontextmanager
async def serving(
    monkeypatch: pytest.MonkeyPatch,
    *,
    ws: Any = SockjetWebSocketProtocol,
    http: Any = SockjetHTTPProtocol,
    deadline: float = DEADLINE,
) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    monkeypatch.setenv(HANDSHAKE_TIMEOUT_ENV, str(deadline))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, ws=ws, http=http, lifespan="off", log_config=None, timeout_keep_alive=60
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(TIMEOUT):
        while not server.started:
            await asyncio.sleep(10 * MS)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield server, port
    finally:
        server.should_exit = True
        await task


async def upgraded(port: int, path: str = "/echo") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(handshake_request(port, path))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def closed_within(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (which must happen within ``timeout``)."""
    async with asyncio.timeout(timeout):
        return await reader.read()


def masked_pong(payload: bytes) -> bytes:
    mask = os.urandom(4)
    return struct.pack("!BB", 0x8A, 0x80 | len(payload)) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("frame", [masked_ping, masked_pong], ids=["pings", "pongs"])
async def test_control_frames_over_the_budget_close_with_1008(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, frame: Any
) -> None:
    async with serving(monkeypatch) as (_, port):
        reader, writer = await upgraded(port)
        writer.write(b"".join(frame(b"p") for _ in range(60)))
        received = await closed_within(reader, TIMEOUT)
        writer.close()
    assert close_code(received) == 1008
    assert b"too many control frames: more than 50 at once or 10 per second" in received
    assert received.count(b"\x8a\x01p") <= 50  # the pongs of the refused burst were dropped, not sent
    assert "with 1008: too many control frames" in caplog.text


async def test_a_peer_within_the_budget_is_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving(monkeypatch) as (_, port):
        reader, writer = await upgraded(port)
        writer.write(b"".join(masked_ping(b"p") for _ in range(10)))
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(30) == b"\x8a\x01p" * 10
        writer.close()


@pytest.mark.parametrize("http", [SockjetHTTPProtocol, SockjetH11Protocol], ids=["httptools", "h11"])
async def test_an_unfinished_request_head_is_closed_after_the_deadline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, http: Any
) -> None:
    caplog.set_level(logging.WARNING)
    async with serving(monkeypatch, http=http) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(handshake_request(port, "/echo")[:-2])
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await closed_within(reader, TIMEOUT) == b""
        assert loop.time() - started >= DEADLINE - 50 * MS
        writer.close()
    assert "no complete request within the handshake timeout" in caplog.text


@pytest.mark.parametrize("http", [SockjetHTTPProtocol, SockjetH11Protocol], ids=["httptools", "h11"])
async def test_a_kept_alive_connection_gets_a_new_deadline_and_a_slow_answer_is_not_cut(
    monkeypatch: pytest.MonkeyPatch, http: Any
) -> None:
    async with serving(monkeypatch, http=http) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")  # answered after twice the deadline
        async with asyncio.timeout(TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b'{"slow":"done"}' in await closed_within(reader, TIMEOUT)  # then idle: closed by the deadline
        writer.close()


@pytest.mark.parametrize(
    ("http", "ws"),
    [
        (SockjetHTTPProtocol, SockjetWebSocketProtocol),
        (SockjetH11Protocol, SockjetWebSocketProtocol),
        ("auto", SockjetWebSocketProtocol),
    ],
    ids=["handed-over", "h11-handed-over", "websocket-only"],
)
async def test_a_handshake_the_app_never_answers_is_closed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, http: Any, ws: Any
) -> None:
    caplog.set_level(logging.WARNING)
    async with serving(monkeypatch, http=http, ws=ws) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(handshake_request(port, "/never"))
        assert await closed_within(reader, TIMEOUT) == b""
        writer.close()
        # An answered handshake is not cut: echo past the deadline.
        reader, writer = await upgraded(port)
        await asyncio.sleep(2 * DEADLINE)
        writer.write(b"\x81\x82" + b"\x00" * 4 + b"hi")
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(4) == b"\x81\x02hi"
        writer.close()
    assert "the application had not answered its WebSocket handshake within the handshake timeout" in caplog.text


def _handshake(sock: socket.socket, port: int) -> bytes:
    sock.settimeout(TIMEOUT)
    sock.sendall(handshake_request(port, "/echo"))
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)  # byte by byte: nothing after the handshake response is read
    return head


def _flood_until_blocked(sock: socket.socket, seconds: float) -> int:
    """Send pings until the server has stopped taking them for ``seconds``; returns how many were sent."""
    frames, sent = b"".join(masked_ping(b"x" * 16) for _ in range(100)), 0
    sock.settimeout(seconds)
    with contextlib.suppress(TimeoutError):
        while True:
            sock.sendall(frames)
            sent += 100
    return sent


def _read_for(sock: socket.socket, seconds: float) -> int:
    sock.settimeout(seconds)
    total = 0
    with contextlib.suppress(TimeoutError):
        while chunk := sock.recv(65536):
            total += len(chunk)
    return total


async def test_a_peer_that_does_not_read_is_not_read_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the budget: pongs fill the write buffer, reading stops; the peer reads, reading resumes."""
    async with serving(monkeypatch, ws=UnlimitedPings) as (server, port):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await asyncio.to_thread(sock.connect, ("127.0.0.1", port))
        try:
            head = await asyncio.to_thread(_handshake, sock, port)
            assert head.startswith(b"HTTP/1.1 101"), head
            sent = await asyncio.to_thread(_flood_until_blocked, sock, 1000 * MS)
            (protocol,) = [c for c in server.server_state.connections if isinstance(c, UnlimitedPings)]
            assert protocol.write_blocked, sent
            assert protocol.transport.get_write_buffer_size() <= 2 * UnlimitedPings.write_high_water + 64 * 1024
            await asyncio.to_thread(_read_for, sock, 1000 * MS)
            assert not protocol.write_blocked
        finally:
            sock.close()


@pytest.mark.parametrize("http", [SockjetHTTPProtocol, SockjetH11Protocol], ids=["httptools", "h11"])
async def test_a_handshake_timeout_of_0_is_no_deadline(monkeypatch: pytest.MonkeyPatch, http: Any) -> None:
    async with serving(monkeypatch, http=http, deadline=0) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(handshake_request(port, "/echo")[:-2])
        with pytest.raises(TimeoutError):
            await closed_within(reader, 2 * DEADLINE)
        writer.write(b"\r\n")  # the rest of the handshake, late: still served
        async with asyncio.timeout(TIMEOUT):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        writer.close()


async def test_notices_log_the_first_line_and_count_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    from sockjet.server import _Notices

    caplog.set_level(logging.WARNING, logger="test.notices")
    notices = _Notices(asyncio.get_running_loop(), logging.getLogger("test.notices"), interval=50 * MS)
    for n in range(4):
        notices.note("slow clients closed", f"closed client {n}")
    assert [r.getMessage() for r in caplog.records] == ["closed client 0"]
    await asyncio.sleep(150 * MS)
    assert [r.getMessage() for r in caplog.records] == ["closed client 0", "3 more: slow clients closed"]
    notices.note("slow clients closed", "closed client 4")  # once the interval is over, a line goes out at once
    await asyncio.sleep(100 * MS)
    notices.note("slow clients closed", "closed client 5")
    assert [r.getMessage() for r in caplog.records][-1] == "closed client 5"
