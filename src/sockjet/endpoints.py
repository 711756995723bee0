"""Class-based endpoints: ``WebSocketEndpoint`` with on_connect / on_receive / on_disconnect.

``encoding`` decides what ``on_receive`` gets: ``"text"`` (str), ``"bytes"`` (bytes), ``"json"``
(the decoded value) or ``None`` (the frame's str or bytes, as Starlette 1.x passes it). A frame
of the wrong kind closes the connection with 1003 and raises ``RuntimeError``, as Starlette does.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from sockjet import status
from sockjet._errors import handle_websocket_exception
from sockjet.types import Message, Receive, Scope, Send
from sockjet.websockets import WebSocket


class WebSocketEndpoint:
    encoding: str | None = None  # "text", "bytes", "json" or None

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        self.scope = scope
        self.receive = receive
        self.send = send

    def __await__(self) -> Generator[Any, None, None]:
        return self.dispatch().__await__()

    async def dispatch(self) -> None:
        websocket = WebSocket(self.scope, receive=self.receive, send=self.send)
        try:
            await self.on_connect(websocket)
        except Exception as exc:
            # As in Starlette, on_disconnect runs only for connections that got through on_connect.
            await handle_websocket_exception(websocket, exc)
            return
        close_code = status.WS_1000_NORMAL_CLOSURE
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.receive":
                    data = await self.decode(websocket, message)
                    await self.on_receive(websocket, data)
                elif message["type"] == "websocket.disconnect":  # pragma: no branch
                    close_code = int(message.get("code") or status.WS_1000_NORMAL_CLOSURE)
                    break
        except Exception as exc:
            close_code = status.WS_1011_INTERNAL_ERROR
            await self.on_disconnect(websocket, close_code)
            await handle_websocket_exception(websocket, exc)
            return
        await self.on_disconnect(websocket, close_code)

    async def decode(self, websocket: WebSocket, message: Message) -> Any:
        if self.encoding == "text":
            if message.get("text") is None:
                await websocket.close(code=status.WS_1003_UNSUPPORTED_DATA)
                raise RuntimeError("Expected text websocket messages, but got bytes")
            return message["text"]
        if self.encoding == "bytes":
            if message.get("bytes") is None:
                await websocket.close(code=status.WS_1003_UNSUPPORTED_DATA)
                raise RuntimeError("Expected bytes websocket messages, but got text")
            return message["bytes"]
        if self.encoding == "json":
            text = message.get("text")
            if text is None:
                text = message["bytes"].decode("utf-8")
            try:
                return json.loads(text)
            except json.decoder.JSONDecodeError:
                await websocket.close(code=status.WS_1003_UNSUPPORTED_DATA)
                raise RuntimeError("Malformed JSON data received.") from None
        if self.encoding is not None:
            raise AssertionError(f"Unsupported 'encoding' attribute {self.encoding}")
        return message["text"] if message.get("text") is not None else message["bytes"]

    async def on_connect(self, websocket: WebSocket) -> None:
        """Override to authenticate or pick a subprotocol; the default accepts."""
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        """Override to handle one incoming message."""

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        """Override to clean up; runs once, whatever ended the connection."""


__all__ = ["WebSocketEndpoint"]
