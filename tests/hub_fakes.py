"""Raw-ASGI sockets for the hub tests: a WebSocket whose ``send`` records, stalls or breaks."""

from __future__ import annotations

import asyncio
from typing import Any

from sockjet.types import Message
from sockjet.websockets import WebSocket
from tests.conftest import MS


def websocket_scope(path: str = "/ws") -> dict[str, Any]:
    return {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "ws",
        "query_string": b"",
        "headers": [],
        "client": ["127.0.0.1", 50000],
        "server": ["127.0.0.1", 8000],
        "subprotocols": [],
        "state": {},
    }


class FakeSocket:
    """One connection: ``sent`` holds every ASGI message the app sent, in order.

    ``stalled=True``: every data send blocks until ``release`` is set (a client that never reads).
    ``broken=True``: data sends raise ``OSError`` (a peer that vanished).
    ``send_cost``: seconds each send takes (awaits ``asyncio.sleep``), like a real transport.
    """

    def __init__(self, *, stalled: bool = False, broken: bool = False, send_cost: float = 0.0) -> None:
        self.stalled = stalled
        self.broken = broken
        self.send_cost = send_cost
        self.release = asyncio.Event()
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self._changed = asyncio.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.websocket = WebSocket(websocket_scope(), self.incoming.get, self._send)

    async def accept(self) -> WebSocket:
        self.incoming.put_nowait({"type": "websocket.connect"})
        await self.websocket.accept()
        return self.websocket

    async def _send(self, message: Message) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._changed.set()
        try:
            if message["type"] == "websocket.send":
                if self.broken:
                    raise OSError("connection reset by peer")
                if self.stalled:
                    await self.release.wait()
                if self.send_cost:
                    await asyncio.sleep(self.send_cost)
                else:
                    await asyncio.sleep(0)  # a real send yields to the loop
            self.sent.append(message)
            self._changed.set()
        finally:
            self.in_flight -= 1

    @property
    def data(self) -> list[str | bytes]:
        """Payloads of the data frames sent, in order."""
        data: list[str | bytes] = []
        for message in self.sent:
            if message["type"] == "websocket.send":
                text = message.get("text")
                data.append(text if text is not None else message["bytes"])
        return data

    @property
    def close_message(self) -> Message | None:
        return next((m for m in self.sent if m["type"] == "websocket.close"), None)

    async def wait_until(self, predicate: Any, timeout: float = 2000 * MS) -> None:
        async def wait() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    async def wait_data(self, count: int, timeout: float = 2000 * MS) -> list[str | bytes]:
        await self.wait_until(lambda s: len(s.data) >= count, timeout)
        return self.data

    async def wait_closed(self, timeout: float = 2000 * MS) -> Message:
        await self.wait_until(lambda s: s.close_message is not None, timeout)
        message = self.close_message
        assert message is not None
        return message


async def connected(**options: Any) -> FakeSocket:
    sock = FakeSocket(**options)
    await sock.accept()
    return sock
