"""Every seed example on a real uvicorn, driven by the real ``websockets`` client.

Each example file runs unchanged in its own uvicorn process (one per example and WebSocket
implementation, shared by that example's tests) and must answer exactly what the seed's client
prints. Served on sockjet's protocol (``sockjet.server``, the default of ``sockjet run``) and on both of
uvicorn's WebSocket implementations: ``websockets-sansio`` and ``wsproto``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.typing import Subprotocol

from tests.conftest import MS
from tests.servers.servers import Server, uvicorn_server

pytestmark = pytest.mark.e2e

TIMEOUT = 5000 * MS
"""Upper bound for one test's whole conversation with the server."""


@pytest.fixture(scope="module", params=["sockjet", "websockets-sansio", "wsproto"])
def ws_impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _output(server: Server) -> str:
    """What the stopped server printed; closes the pipe."""
    output = server.output()
    assert server.process.stdout is not None
    server.process.stdout.close()
    return output


def _unexplained_tracebacks(output: str, known: tuple[str, ...]) -> list[str]:
    chunks = output.split("Traceback (most recent call last):")[1:]
    return [chunk for chunk in chunks if not any(error in chunk for error in known)]


def _server_fixture(
    app: str, *, lifespan: bool = True, known_errors: tuple[str, ...] = ()
) -> Callable[[str], Iterator[Server]]:
    """A module-scoped fixture serving ``app`` with the current WebSocket implementation.

    On teardown the server's output must hold no traceback but the ``known_errors`` (bugs of the
    seed itself, which FastAPI/Starlette log the same way).
    """

    @pytest.fixture(scope="module")
    def fixture(ws_impl: str) -> Iterator[Server]:
        extra = () if lifespan else ("--lifespan", "off")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PYTHONUNBUFFERED", "1")  # the seeds' print() must reach the captured output
            with uvicorn_server(app, ws=ws_impl, extra=extra) as server:
                yield server
        unexplained = _unexplained_tracebacks(_output(server), known_errors)
        assert unexplained == [], f"{app} on {ws_impl} logged unexpected errors"

    return fixture


# The seed closes again after its loop has closed: Starlette's RuntimeError, logged by sockjet.
echo_server = _server_fixture(
    "examples.seed_01_echo:app", known_errors=('Cannot call "send" once a close message has been sent.',)
)
json_server = _server_fixture("examples.seed_02_json:app")
binary_server = _server_fixture("examples.seed_03_binary:app")
# The seed's loop calls receive() again after the disconnect message.
generic_server = _server_fixture(
    "examples.seed_04_generic:app",
    known_errors=('Cannot call "receive" once a disconnect message has been received.',),
)
chat_server = _server_fixture("examples.seed_06_chat:app")
custom_server = _server_fixture("examples.seed_07_custom:app")
iter_server = _server_fixture("examples.seed_08_iter:app")
hello_server = _server_fixture("examples.starlette_hello:app", lifespan=False)
# After iter_text ends on the client's close, the docs' close() meets a closed socket; uvicorn's
# wsproto implementation raises there (WebSocketDisconnect 1006), websockets-sansio does not.
iter_text_server = _server_fixture(
    "examples.starlette_iter_text:app", lifespan=False, known_errors=("sockjet.websockets.WebSocketDisconnect",)
)
denial_server = _server_fixture("examples.starlette_denial:app")


async def _closed(websocket: ClientConnection) -> ConnectionClosedOK:
    """Wait for the server's close and return it (the client answers the close handshake)."""
    with pytest.raises(ConnectionClosedOK) as info:
        await websocket.recv()
    return info.value


def bounded() -> asyncio.Timeout:
    return asyncio.timeout(TIMEOUT)


async def test_echo_then_graceful_close(echo_server: Server) -> None:
    async with bounded(), connect(f"{echo_server.url}/ws/echo") as websocket:
        await websocket.send("Hello, WebSocket!")
        assert await websocket.recv() == "Echo: Hello, WebSocket!"
        await websocket.send("close")
        assert await websocket.recv() == "Closing connection gracefully."
        closed = await _closed(websocket)
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1000, "Client requested closure")


async def test_json_reverse(json_server: Server) -> None:
    async with bounded(), connect(f"{json_server.url}/ws/json") as websocket:
        await websocket.send(json.dumps({"message": "Hello, JSON!"}))
        response = await websocket.recv()
    assert response == '{"response":"!NOSJ ,olleH"}'  # compact separators, a text frame
    assert json.loads(response) == {"response": "!NOSJ ,olleH"}


async def test_binary_echo(binary_server: Server) -> None:
    async with bounded(), connect(f"{binary_server.url}/ws/binary") as websocket:
        await websocket.send(b"Binary data test")
        assert await websocket.recv() == b"Binary data test"


async def test_low_level_text_and_binary(generic_server: Server) -> None:
    async with bounded(), connect(f"{generic_server.url}/ws/generic") as websocket:
        await websocket.send("Hello via generic method")
        assert await websocket.recv() == "Echo: Hello via generic method"
        await websocket.send(b"Hello binary via generic method")
        assert await websocket.recv() == b"Hello binary via generic method"


async def test_disconnect_is_logged_with_code_and_reason(ws_impl: str) -> None:
    # Its own server: the log line is checked once the server has stopped.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONUNBUFFERED", "1")
        with uvicorn_server("examples.seed_05_disconnect:app", ws=ws_impl) as server:
            async with bounded(), connect(f"{server.url}/ws/handle_disconnect") as websocket:
                await websocket.send("Test disconnect")
                assert await websocket.recv() == "Received: Test disconnect"
    output = _output(server)
    assert "Client disconnected with code 1000 and reason: \n" in output
    assert _unexplained_tracebacks(output, ()) == []


async def test_broadcast_to_two_clients(chat_server: Server) -> None:
    url = f"{chat_server.url}/ws/chat"
    async with bounded(), connect(url) as first:
        async with connect(url) as second:
            # The newest client speaks first: its own echo proves it is in the list when `first` speaks.
            await second.send("Hi from the second")
            assert await first.recv() == "Client says: Hi from the second"
            assert await second.recv() == "Client says: Hi from the second"
            await first.send("Hello everyone!")
            assert await first.recv() == "Client says: Hello everyone!"
            assert await second.recv() == "Client says: Hello everyone!"
        assert await first.recv() == "A client has disconnected."


async def test_custom_subprotocol_and_header(custom_server: Server) -> None:
    async with (
        bounded(),
        connect(f"{custom_server.url}/ws/custom", subprotocols=[Subprotocol("custom-protocol")]) as websocket,
    ):
        assert websocket.subprotocol == "custom-protocol"
        assert websocket.response is not None
        assert websocket.response.headers["X-Custom-Header"] == "MyValue"
        await websocket.send("Test custom connection")
        assert await websocket.recv() == "Custom response: Test custom connection"


async def test_iter_json_then_bytes_then_close(iter_server: Server) -> None:
    async with bounded(), connect(f"{iter_server.url}/ws/iter") as websocket:
        assert await websocket.recv() == "Send JSON messages now. Send 'done' to finish JSON iteration."
        for msg in ["hello", "world"]:
            await websocket.send(json.dumps(msg))
            assert await websocket.recv() == f"JSON Echo: {msg}"
        await websocket.send(json.dumps("done"))
        assert await websocket.recv() == "Send binary messages now. Send b'done' to finish binary iteration."
        for bmsg in [b"\x00\x01\x02", b"\x03\x04\x05"]:
            await websocket.send(bmsg)
            assert await websocket.recv() == bmsg
        await websocket.send(b"done")
        closed = await _closed(websocket)
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1000, "Iteration complete")


async def test_starlette_hello_world(hello_server: Server) -> None:
    async with bounded(), connect(f"{hello_server.url}/") as websocket:
        assert await websocket.recv() == "Hello, world!"
        closed = await _closed(websocket)
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1000, "")


async def test_starlette_iter_text(iter_text_server: Server) -> None:
    async with bounded(), connect(f"{iter_text_server.url}/") as websocket:
        for text in ["one", "héllo ✓"]:
            await websocket.send(text)
            assert await websocket.recv() == f"Message text was: {text}"


async def test_starlette_denial_unauthorized(denial_server: Server) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with bounded(), connect(f"{denial_server.url}/ws"):
            pass  # pragma: no cover - the handshake is refused
    assert info.value.response.status_code == 401
    assert info.value.response.body == b"Unauthorized"


async def test_starlette_denial_authorized(denial_server: Server) -> None:
    async with (
        bounded(),
        connect(
            f"{denial_server.url}/ws", subprotocols=[Subprotocol("Authorization"), Subprotocol("token")]
        ) as websocket,
    ):
        assert websocket.subprotocol == "Authorization"
        assert await websocket.recv() == "Hello, world!"
        closed = await _closed(websocket)
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1000
