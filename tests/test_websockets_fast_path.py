"""The hot path of receive_text/receive_bytes/send_text/send_bytes keeps receive()'s and send()'s contract.

Those four apply the state checks inline while connected (one coroutine less per message); these
tests pin what must not change because of it: overrides still see every message, and the errors
after a disconnect or a broken pipe are the ones ``receive``/``send`` give.
"""

from __future__ import annotations

import re

import pytest

from sockjet.types import Message
from sockjet.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected, WebSocketState
from tests.asgi import CONNECT, Channel, binary, disconnect, text, websocket_scope


class Recording(WebSocket):
    """A subclass in the Starlette style: it wraps receive and send to watch the traffic."""

    seen: list[str] = []

    async def receive(self) -> Message:
        message = await super().receive()
        self.seen.append(f"in:{message['type']}")
        return message

    async def send(self, message: Message) -> None:
        self.seen.append(f"out:{message['type']}")
        await super().send(message)


async def test_a_subclass_overriding_receive_and_send_sees_every_message() -> None:
    channel = Channel([CONNECT, text("a"), binary(b"b"), disconnect(1000)])
    websocket = Recording(websocket_scope(), channel.receive, channel.send)
    websocket.seen = []
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.send_bytes(await websocket.receive_bytes())
    with pytest.raises(WebSocketDisconnect):
        await websocket.receive_text()
    assert websocket.seen == [
        "in:websocket.connect",
        "out:websocket.accept",
        "in:websocket.receive",
        "out:websocket.send",
        "in:websocket.receive",
        "out:websocket.send",
        "in:websocket.disconnect",
    ]
    assert channel.sent[1:] == [{"type": "websocket.send", "text": "a"}, {"type": "websocket.send", "bytes": b"b"}]


@pytest.mark.parametrize("method", ["receive_text", "receive_bytes"])
async def test_receiving_again_after_the_client_disconnected_says_so(method: str) -> None:
    channel = Channel([CONNECT, disconnect(1001)])
    websocket = WebSocket(websocket_scope(), channel.receive, channel.send)
    await websocket.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await getattr(websocket, method)()
    assert info.value.code == 1001
    assert websocket.client_state is WebSocketState.DISCONNECTED
    message = 'Cannot call "receive" once a disconnect message has been received.'
    with pytest.raises(WebSocketDisconnected, match=re.escape(message)):
        await getattr(websocket, method)()


async def test_send_bytes_on_a_broken_pipe_becomes_disconnect_1006() -> None:
    channel = Channel([CONNECT])
    websocket = WebSocket(websocket_scope(), channel.receive, channel.send)
    await websocket.accept()
    channel.send_error = OSError("broken pipe")
    with pytest.raises(WebSocketDisconnect) as info:
        await websocket.send_bytes(b"x")
    assert info.value.code == 1006
    assert websocket.application_state is WebSocketState.DISCONNECTED
    message = 'Cannot call "send" once a close message has been sent.'
    with pytest.raises(WebSocketDisconnected, match=re.escape(message)):
        await websocket.send_bytes(b"x")
