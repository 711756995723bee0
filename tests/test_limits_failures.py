"""Failure paths: a broken endpoint or a vanished client ends only its own connection and frees it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from sockjet import App, Hub, WebSocket, WebSocketDisconnect
from sockjet.testclient import TestClient
from sockjet.types import Message
from tests.conftest import MS


def _chat_app(hub: Hub, ended: list[Any]) -> App:
    app = App(lifespan=hub.lifespan)

    @app.websocket("/chat/{room}")
    async def chat(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        try:
            async with hub.join(room, websocket):
                await websocket.send_text("joined")
                async for text in websocket.iter_text():
                    if text == "crash":
                        raise RuntimeError("the endpoint broke")
                    await hub.publish(room, text)
        finally:
            ended.append(room)

    return app


def test_an_endpoint_error_closes_1011_logs_route_and_client_and_releases_the_hub(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub, ended = Hub(), list[Any]()
    with (
        TestClient(_chat_app(hub, ended), raise_server_exceptions=False) as client,
        client.websocket_connect("/chat/lobby") as bystander,
        client.websocket_connect("/chat/lobby") as victim,
    ):
        assert bystander.receive_text() == victim.receive_text() == "joined"
        assert hub.local_count("lobby") == 2
        with caplog.at_level(logging.ERROR, logger="sockjet.error"):
            victim.send_text("crash")
            assert victim.receive() == {"type": "websocket.close", "code": 1011, "reason": ""}
        bystander.send_text("anyone?")
        assert bystander.receive_text() == "anyone?"
        assert hub.local_count("lobby") == 1
    record = next(r for r in caplog.records if r.name == "sockjet.error")
    assert record.getMessage() == "Exception in WebSocket /chat/lobby from testclient:50000; closing with 1011"
    assert record.exc_info is not None and str(record.exc_info[1]) == "the endpoint broke"
    assert ended == ["lobby", "lobby"]


async def test_a_client_that_vanishes_ends_its_endpoint_and_leaves_the_room() -> None:
    """A TCP reset reaches the app as ``websocket.disconnect`` (1006); the endpoint ends, the room forgets it."""
    hub, ended = Hub(), list[Any]()
    app = _chat_app(hub, ended)
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "websocket", "path": "/chat/r", "headers": [], "query_string": b""}
    async with hub, asyncio.timeout(5000 * MS):
        task = asyncio.create_task(app(scope, inbox.get, outbox.put))
        inbox.put_nowait({"type": "websocket.connect"})
        assert (await outbox.get())["type"] == "websocket.accept"
        assert await outbox.get() == {"type": "websocket.send", "text": "joined"}
        assert hub.local_count("r") == 1
        inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
        await task
        assert hub.local_count("r") == 0
    assert ended == ["r"]
    assert outbox.empty()  # nothing was sent to a peer that is gone


async def test_a_send_to_a_reset_peer_ends_the_endpoint_with_1006() -> None:
    app = App()
    seen: list[int] = []

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.send_text("into the void")
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise ConnectionResetError("reset by peer")

    await app({"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}, receive, send)
    assert seen == [1006]
