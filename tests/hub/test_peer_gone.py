"""A client that vanishes while a hub delivery to it is in flight ends the endpoint's join block quietly.

The failed send leaves the socket's state machine refusing the endpoint's next ``receive``
("WebSocket is not connected"); the join block turns that into ``WebSocketDisconnect(1006)``,
for sockjet's WebSocket and for Starlette's (what FastAPI users pass to ``hub.join``).
"""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteWebSocketDisconnect

from sockjet import App, Hub, WebSocket, WebSocketDisconnect
from sockjet.testclient import TestClient
from tests.hub_fakes import FakeSocket, connected, websocket_scope


async def test_a_delivery_that_finds_the_peer_gone_ends_the_block_with_1006() -> None:
    async with Hub() as hub:
        sock = await connected(broken=True)
        with pytest.raises(WebSocketDisconnect) as ended:
            async with hub.join("r", sock.websocket) as member:
                await hub.publish("r", "hello")  # delivered in this task: the send finds the peer gone
                assert member.peer_gone
                await sock.websocket.receive_text()  # the socket refuses: not a RuntimeError for the endpoint
        assert ended.value.code == 1006
        assert hub.local_count("r") == 0


async def test_a_starlette_websocket_whose_peer_vanished_ends_the_block_with_1006() -> None:
    sock = FakeSocket(broken=True)
    websocket = StarletteWebSocket(websocket_scope(), sock.incoming.get, sock._send)
    sock.incoming.put_nowait({"type": "websocket.connect"})
    await websocket.accept()
    async with Hub() as hub:
        with pytest.raises(WebSocketDisconnect) as ended:
            async with hub.join("r", websocket):
                await hub.publish("r", "hello")
                await websocket.receive_text()
        assert ended.value.code == 1006
        assert isinstance(ended.value, StarletteWebSocketDisconnect)  # what a FastAPI endpoint catches


async def test_an_endpoint_error_while_the_peer_is_still_there_is_not_disguised() -> None:
    async with Hub() as hub:
        sock = await connected()
        with pytest.raises(RuntimeError, match="the endpoint's own bug"):
            async with hub.join("r", sock.websocket) as member:
                await hub.publish("r", "hello")
                assert not member.peer_gone
                raise RuntimeError("the endpoint's own bug")


def test_a_client_that_sends_and_closes_ends_the_endpoint_with_a_disconnect() -> None:
    hub = Hub()
    app = App(lifespan=hub.lifespan)
    endings: list[WebSocketDisconnect | None] = []

    @app.websocket("/ws/{room}")
    async def room_socket(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        try:
            async with hub.join(room, websocket):
                async for text in websocket.iter_text():
                    await hub.publish(room, text)
        except WebSocketDisconnect as exc:  # the normal end; anything else reaches the test
            endings.append(exc)
        else:  # the delivery went out before the client closed: iter_text saw the close itself
            endings.append(None)

    with TestClient(app) as client:
        for _ in range(5):
            with client.websocket_connect("/ws/r") as ws:
                ws.send_text("hello")
                ws.close()
    assert len(endings) == 5


def test_the_disconnect_is_plain_sockjet_for_other_websockets() -> None:
    from sockjet.hub.disconnect import disconnect_for

    assert type(disconnect_for(object(), 1006)) is WebSocketDisconnect
    sock = FakeSocket()
    starlette_ws = StarletteWebSocket(websocket_scope(), sock.incoming.get, sock._send)
    both = disconnect_for(starlette_ws, 1001, "x")
    assert (both.code, both.reason) == (1001, "x")
    assert type(both) is type(disconnect_for(starlette_ws, 1000))  # one class per foreign class
