"""After the hub closes a member, the endpoint's receive ends with WebSocketDisconnect, in every interleaving.

The hub's close (3410 history lost, 1013 overflow, 1001 shutdown) comes from another task than the
endpoint's. Whether the endpoint's receive was already waiting when the close frame went out, or
starts after it (the endpoint was busy publishing) but before the client's reply, it ends as the
connection ends -- never with "WebSocket is not connected. Need to call "accept" first." about a
socket that was accepted. A socket the endpoint closed itself keeps Starlette's refusals.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteWebSocketDisconnect

from sockjet import Hub, WebSocketDisconnect, WebSocketState
from sockjet.hub import HISTORY_LOST_CLOSE_CODE
from sockjet.types import Message
from sockjet.websockets import WebSocketDisconnected
from tests.hub_fakes import FakeSocket, connected, websocket_scope

CLOSE = {"type": "websocket.close", "code": HISTORY_LOST_CLOSE_CODE, "reason": "history lost"}
NOT_CONNECTED = 'WebSocket is not connected. Need to call "accept" first.'


async def test_a_receive_waiting_when_the_close_is_sent_ends_with_the_clients_reply() -> None:
    async with Hub() as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket) as member:
            receive = asyncio.ensure_future(sock.websocket.receive_text())
            await asyncio.sleep(0)  # the receive is waiting for the client
            member.close(HISTORY_LOST_CLOSE_CODE, "history lost")
            await member.wait_closed()
            assert sock.close_message == CLOSE
            assert not receive.done()
            sock.incoming.put_nowait({"type": "websocket.disconnect", "code": HISTORY_LOST_CLOSE_CODE})
            with pytest.raises(WebSocketDisconnect) as ended:
                await receive
        assert ended.value.code == HISTORY_LOST_CLOSE_CODE


async def test_a_receive_after_the_close_was_sent_but_before_the_reply_ends_at_once() -> None:
    async with Hub() as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket) as member:
            member.close(HISTORY_LOST_CLOSE_CODE, "history lost")
            await member.wait_closed()
            assert sock.close_message == CLOSE
            for receive in (sock.websocket.receive_text, sock.websocket.receive_bytes, sock.websocket.receive_json):
                with pytest.raises(WebSocketDisconnect) as ended:
                    await receive()
                assert (ended.value.code, ended.value.reason) == (HISTORY_LOST_CLOSE_CODE, "history lost")
            with pytest.raises(WebSocketDisconnect) as timed:
                await sock.websocket.receive_text(timeout=1.0)
            assert timed.value.code == HISTORY_LOST_CLOSE_CODE
            # A send ends the same way: the hub closed it, the endpoint did nothing wrong.
            with pytest.raises(WebSocketDisconnect) as sending:
                await sock.websocket.send_text("too late")
            assert sending.value.code == HISTORY_LOST_CLOSE_CODE
        assert hub.local_count("r") == 0


async def test_iter_text_ends_quietly_when_the_close_comes_while_the_endpoint_publishes() -> None:
    """examples/chat_history.py's loop: the hub closes the member while the endpoint is in publish."""
    async with Hub(history_size=10) as hub:
        sock = await connected()
        for text in ("one", "two", "three"):
            sock.incoming.put_nowait({"type": "websocket.receive", "text": text})
        received = []
        async with hub.join("r", sock.websocket) as member:
            async for text in sock.websocket.iter_text():
                received.append(text)
                await hub.publish("r", text)
                if text == "two":
                    member.close(HISTORY_LOST_CLOSE_CODE, "history lost")
                    await member.wait_closed()
        assert received == ["one", "two"]
        assert sock.close_message == CLOSE


async def test_a_close_in_flight_ends_a_receive_started_meanwhile() -> None:
    """The close frame's send has not finished when the endpoint's receive starts."""
    release = asyncio.Event()
    sock = FakeSocket()
    send = sock._send

    async def slow_close(message: Message) -> None:
        if message["type"] == "websocket.close":
            await release.wait()
        await send(message)

    sock.websocket._send = slow_close
    await sock.accept()
    async with Hub() as hub:
        async with hub.join("r", sock.websocket) as member:
            member.close(HISTORY_LOST_CLOSE_CODE, "history lost")
            while sock.websocket.application_state is WebSocketState.CONNECTED:
                await asyncio.sleep(0)  # until the closer is inside the close frame's send
            assert sock.close_message is None
            with pytest.raises(WebSocketDisconnect) as ended:
                await sock.websocket.receive_text()
            assert ended.value.code == HISTORY_LOST_CLOSE_CODE
            release.set()
            await member.wait_closed()
        assert sock.close_message == CLOSE


async def test_a_starlette_websocket_ends_the_block_with_the_hubs_code() -> None:
    sock = FakeSocket()
    websocket = StarletteWebSocket(websocket_scope(), sock.incoming.get, sock._send)
    sock.incoming.put_nowait({"type": "websocket.connect"})
    await websocket.accept()
    async with Hub() as hub:
        with pytest.raises(WebSocketDisconnect) as ended:
            async with hub.join("r", websocket) as member:
                member.close(HISTORY_LOST_CLOSE_CODE, "history lost")
                await member.wait_closed()
                await websocket.receive_text()  # Starlette's own refusal, inside the block
        assert ended.value.code == HISTORY_LOST_CLOSE_CODE
        assert isinstance(ended.value, StarletteWebSocketDisconnect)  # what a FastAPI endpoint catches
        assert sock.sent[-1] == CLOSE


async def test_a_starlette_refusal_without_a_hub_close_is_not_disguised() -> None:
    sock = FakeSocket()
    websocket = StarletteWebSocket(websocket_scope(), sock.incoming.get, sock._send)
    sock.incoming.put_nowait({"type": "websocket.connect"})
    await websocket.accept()
    async with Hub() as hub:
        with pytest.raises(RuntimeError, match=re.escape(NOT_CONNECTED)):
            async with hub.join("r", websocket):
                await websocket.close()  # the endpoint closed it itself
                await websocket.receive_text()


async def test_a_socket_the_endpoint_closed_itself_keeps_starlettes_refusals() -> None:
    sock = await connected()
    await sock.websocket.close()
    with pytest.raises(WebSocketDisconnected, match=re.escape(NOT_CONNECTED)):
        await sock.websocket.receive_text()
    # Closing on its behalf afterwards changes nothing: it refuses as close() would.
    with pytest.raises(
        WebSocketDisconnected, match=re.escape('Cannot call "send" once a close message has been sent.')
    ):
        await sock.websocket._close_on_behalf(HISTORY_LOST_CLOSE_CODE, "history lost")
    with pytest.raises(WebSocketDisconnected, match=re.escape(NOT_CONNECTED)):
        await sock.websocket.receive_bytes()
