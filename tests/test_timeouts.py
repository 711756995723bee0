"""``receive_*(timeout=...)`` and the per-route idle timeout."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from sockjet import App, WebSocket, WebSocketDisconnect
from sockjet.exceptions import ReceiveTimeout, SockjetError
from sockjet.testclient import TestClient
from sockjet.types import Message
from tests.conftest import MS


def test_receive_timeout_raises_and_the_connection_stays_usable() -> None:
    app = App()
    errors: list[ReceiveTimeout] = []

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text(timeout=20 * MS)
        except ReceiveTimeout as exc:
            errors.append(exc)
        await websocket.send_text("your turn")
        text = await websocket.receive_text(timeout=5000 * MS)
        data = await websocket.receive_bytes(timeout=5000 * MS)
        value = await websocket.receive_json(timeout=5000 * MS)
        binary = await websocket.receive_json("binary", timeout=5000 * MS)
        await websocket.send_json([text, data.decode(), value, binary])
        await websocket.close()

    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "your turn"
        ws.send_text("a")
        ws.send_bytes(b"b")
        ws.send_json({"c": 1})
        ws.send_json([2], mode="binary")
        assert ws.receive_json() == ["a", "b", {"c": 1}, [2]]
    (error,) = errors
    assert isinstance(error, TimeoutError) and isinstance(error, SockjetError)
    assert str(error) == f"No message from the client within {20 * MS:g} seconds; the connection is still open."


async def test_a_timeout_error_from_the_server_is_not_mistaken_for_ours() -> None:
    async def receive() -> Message:
        raise TimeoutError("the server's own")

    async def send(message: Message) -> None:
        pass

    websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    websocket.client_state = websocket.application_state = type(websocket.client_state).CONNECTED
    with pytest.raises(TimeoutError, match="the server's own") as info:
        await websocket.receive_text(timeout=1)
    assert not isinstance(info.value, ReceiveTimeout)


def _idle_app(ended: list[WebSocketDisconnect], **options: Any) -> App:
    app = App(**options)

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text("echo:" + await websocket.receive_text())
        except WebSocketDisconnect as exc:
            ended.append(exc)

    return app


def test_idle_timeout_closes_with_1001_and_a_reason() -> None:
    ended: list[WebSocketDisconnect] = []
    idle = 50 * MS
    with TestClient(_idle_app(ended, idle_timeout=idle)) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("a")
        assert ws.receive_text() == "echo:a"
        message = ws.receive(timeout=5000 * MS)
    reason = f"idle timeout: no message for {idle:g} s"
    assert message == {"type": "websocket.close", "code": 1001, "reason": reason}
    assert [(e.code, e.reason) for e in ended] == [(1001, reason)]


async def test_idle_timer_restarts_with_every_message() -> None:
    """Messages 0.6 idle periods apart keep a connection open for longer than one idle period."""
    ended: list[WebSocketDisconnect] = []
    idle = 100 * MS
    app = _idle_app(ended, idle_timeout=idle)
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    inbox.put_nowait({"type": "websocket.connect"})
    assert (await outbox.get())["type"] == "websocket.accept"
    for i in range(3):
        await asyncio.sleep(0.6 * idle)
        inbox.put_nowait({"type": "websocket.receive", "text": str(i)})
        assert await outbox.get() == {"type": "websocket.send", "text": f"echo:{i}"}
    async with asyncio.timeout(5000 * MS):
        assert (await outbox.get())["code"] == 1001
        await task
    assert ended[0].code == 1001


def test_route_idle_timeout_overrides_the_app() -> None:
    app = App(idle_timeout=3600)

    @app.websocket("/fast", idle_timeout=20 * MS)
    async def fast(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect, match=re.escape("idle timeout")):
            await websocket.receive_text()

    with TestClient(app) as client, client.websocket_connect("/fast") as ws:
        assert ws.receive(timeout=5000 * MS)["code"] == 1001


def test_the_idle_clock_runs_only_while_the_endpoint_waits_for_a_message() -> None:
    idle = 40 * MS
    app = App(idle_timeout=idle)
    got: list[str] = []

    @app.websocket("/ws")
    async def busy(websocket: WebSocket) -> None:
        await websocket.accept()
        await asyncio.sleep(2.5 * idle)  # busy, not waiting: the watch re-arms instead of closing
        got.append(await websocket.receive_text())
        with pytest.raises(WebSocketDisconnect):
            await websocket.receive_text()

    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("queued while busy")
        assert ws.receive(timeout=5000 * MS)["code"] == 1001
    assert got == ["queued while busy"]


async def _never() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")  # pragma: no cover


async def test_a_cancellation_that_is_not_the_idle_timeout_propagates() -> None:
    from sockjet.limits import Limiter
    from sockjet.shutdown import TrackedConnection

    async def send(message: Message) -> None:  # pragma: no cover - nothing is closed here
        raise AssertionError(message)

    watches: list[Any] = []

    async def endpoint() -> None:
        limiter = Limiter(TrackedConnection({}, send), _never, idle_timeout=3600)
        watches.append(limiter._watch)
        try:
            await limiter.receive()
        finally:
            limiter.stop()

    for both in (False, True):
        task = asyncio.create_task(endpoint())
        while not watches or not watches[-1].waiting:
            await asyncio.sleep(0)
        if both:  # the idle timer fires and someone else cancels in the same turn
            watches[-1].deadline = 0.0
            watches[-1]._check()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert watches[-1].handle is None


async def test_other_cancellations_of_a_timed_receive_propagate() -> None:
    """Cancelled by someone else, alone or in the same turn as the deadline: never a ReceiveTimeout."""

    async def send(message: Message) -> None:  # pragma: no cover - nothing is sent
        raise AssertionError(message)

    for timeout in (3600.0, 0.0):
        websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, _never, send)
        websocket.client_state = websocket.application_state = type(websocket.client_state).CONNECTED
        task = asyncio.create_task(websocket.receive_text(timeout=timeout))
        await asyncio.sleep(0)  # the receive is now waiting; a 0 s deadline fires on the next turn
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
