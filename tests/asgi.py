"""Fake ASGI channels for in-process tests: a scripted ``receive`` and a recording ``send``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sockjet.types import Message, Scope


def websocket_scope(path: str = "/ws", **overrides: Any) -> Scope:
    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ["127.0.0.1", 5000],
        "server": ["testserver", 80],
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    scope.update(overrides)
    return scope


def http_scope(path: str = "/", method: str = "GET", **overrides: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ["127.0.0.1", 5000],
        "server": ["testserver", 80],
    }
    scope.update(overrides)
    return scope


class Channel:
    """``receive`` hands out the scripted messages in order; ``send`` records what the app sent."""

    def __init__(self, incoming: Iterable[Message] = (), *, send_error: BaseException | None = None) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []
        self.send_error = send_error

    async def receive(self) -> Message:
        if not self.incoming:
            raise AssertionError("the app asked for more messages than the test scripted")
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(message)

    def types(self) -> list[str]:
        return [message["type"] for message in self.sent]


CONNECT: Message = {"type": "websocket.connect"}


def text(data: str) -> Message:
    return {"type": "websocket.receive", "text": data}


def binary(data: bytes) -> Message:
    return {"type": "websocket.receive", "bytes": data}


def disconnect(code: int = 1000, reason: str = "") -> Message:
    return {"type": "websocket.disconnect", "code": code, "reason": reason}
