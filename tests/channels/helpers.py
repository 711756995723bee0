"""Helpers of the channels tests: an in-process peer over fake ASGI, and a server pipe closer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from sockjet.channels import Channels
from sockjet.types import Message
from sockjet.websockets import WebSocket
from tests.asgi import websocket_scope
from tests.conftest import MS
from tests.servers.servers import Server


class Peer:
    """One channels client in this process: ``send`` a command, ``recv`` the next frame (parsed).

    Sends complete at once (a socket that always has room), unless ``stall`` is set: then every
    data send waits until it is cleared, like a client that stopped reading.
    """

    def __init__(self, channels: Channels, *, subprotocols: Sequence[str] = (), user: Any = None, info: Any = None):
        self.channels = channels
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.accepted: Message | None = None
        self.closed: Message | None = None
        self.released = asyncio.Event()
        self.released.set()
        self.websocket = WebSocket(websocket_scope(subprotocols=list(subprotocols)), self.incoming.get, self._send)
        self.user, self.info = user, info
        self.task: asyncio.Task[None] | None = None

    async def _send(self, message: Message) -> None:
        if message["type"] == "websocket.accept":
            self.accepted = message
        elif message["type"] == "websocket.send":
            await self.released.wait()
            self.frames.put_nowait(json.loads(message["text"]))
        elif message["type"] == "websocket.close":
            self.closed = message
            self.frames.put_nowait({"closed": message.get("code"), "reason": message.get("reason", "")})
            self.incoming.put_nowait({"type": "websocket.disconnect", "code": message.get("code", 1000)})

    async def start(self) -> dict[str, Any]:
        """Connect and return the first frame."""
        self.incoming.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.get_running_loop().create_task(
            self.channels.serve(self.websocket, user=self.user, info=self.info)
        )
        return await self.recv()

    def send(self, command: dict[str, Any] | str | bytes) -> None:
        if isinstance(command, bytes):
            self.incoming.put_nowait({"type": "websocket.receive", "bytes": command})
        else:
            text = command if isinstance(command, str) else json.dumps(command)
            self.incoming.put_nowait({"type": "websocket.receive", "text": text})

    async def recv(self, timeout: float = 2000 * MS) -> dict[str, Any]:
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send a command and return its reply (``AssertionError`` if a push comes first)."""
        self.send(command)
        frame = await self.recv()
        assert frame.get("id") == command["id"], frame
        return frame

    def pending(self) -> list[dict[str, Any]]:
        frames = []
        while not self.frames.empty():
            frames.append(self.frames.get_nowait())
        return frames

    async def stop(self) -> None:
        if self.closed is None:
            self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        if self.task is not None:
            await asyncio.wait_for(self.task, 2000 * MS)


def close_pipe(server: Server) -> None:
    """Close the stopped server's output pipe (an open one is a ResourceWarning, an error here)."""
    if server.process.stdout is not None:
        server.process.stdout.close()
