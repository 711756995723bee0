"""A small protocol v1 server of the tests' own, in-process, that a test can steer frame by frame.

It speaks docs/protocol.md as far as the client's tests need (subscribe with replay, publish,
call, presence, history, unsubscribe, pings) over a real ``websockets`` server on 127.0.0.1,
and lets a test do what a real server only does under failure: drop every TCP connection,
push ``unsubscribed``, close with any code, refuse tokens, lose a room's history, go silent.
The real server is tested against the client in tests/e2e/test_client_e2e.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol


@dataclass
class Room:
    epoch: str = "e1"
    messages: list[tuple[int, Any]] = field(default_factory=list)
    top: int = 0

    def position(self) -> str | None:
        return f"{self.epoch}.{self.top}" if self.top else None


@dataclass
class Conn:
    ws: ServerConnection
    id: str
    token: str | None
    rooms: set[str] = field(default_factory=set)


class FakeServer:
    def __init__(self, *, ping: float = 25.0) -> None:
        self.ping = ping
        self.rooms: dict[str, Room] = {}
        self.conns: list[Conn] = []
        self.commands: list[dict[str, Any]] = []
        self.tokens: list[str | None] = []
        self.token_check: Callable[[str | None], tuple[int, str] | None] = lambda token: None
        self.refuse: set[str] = set()
        self.too_many = 0
        """Answer that many subscribes with 429."""
        self.silent = False
        self.hold_replies = False
        self.first_frame: str | None = None
        """Sent instead of the connected frame when set ("" sends nothing at all)."""
        self.connections_made = 0
        self._server: Server | None = None
        self._count = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    async def start(self) -> None:
        def select(connection: ServerConnection, offered: Any) -> Subprotocol | None:
            return Subprotocol("sockjet.v1") if "sockjet.v1" in offered else None

        self._server = await serve(self._handler, "127.0.0.1", 0, select_subprotocol=select, compression=None)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def room(self, name: str) -> Room:
        return self.rooms.setdefault(name, Room())

    async def publish(self, room_name: str, data: Any, *, deliver: bool = True) -> str:
        room = self.room(room_name)
        room.top += 1
        room.messages.append((room.top, data))
        frame = {"op": "message", "room": room_name, "position": f"{room.epoch}.{room.top}", "data": data}
        for conn in list(self.conns) if deliver else []:
            if room_name in conn.rooms:
                await self._send(conn, frame)
        return f"{room.epoch}.{room.top}"

    async def push_all(self, frame: dict[str, Any]) -> None:
        for conn in list(self.conns):
            await self._send(conn, frame)

    async def send_raw(self, text: str) -> None:
        for conn in list(self.conns):
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(text)

    async def unsubscribe_all(self, room_name: str, code: int, reason: str) -> None:
        for conn in list(self.conns):
            if room_name in conn.rooms:
                conn.rooms.discard(room_name)
                await self._send(conn, {"op": "unsubscribed", "room": room_name, "code": code, "reason": reason})

    def lose_history(self, room_name: str, *, new_epoch: str | None = None) -> None:
        room = self.room(room_name)
        room.messages.clear()
        if new_epoch is not None:
            room.epoch, room.top = new_epoch, 0

    def drop_all(self) -> None:
        """Cut every TCP connection, no close frame: the client sees 1006."""
        for conn in list(self.conns):
            conn.ws.transport.abort()

    async def close_all(self, code: int, reason: str) -> None:
        for conn in list(self.conns):
            await conn.ws.close(code, reason)

    async def _send(self, conn: Conn, frame: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(json.dumps(frame))

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections_made += 1
        offered = ws.request.headers.get("Sec-WebSocket-Protocol", "") if ws.request else ""
        token = None
        for item in (p.strip() for p in offered.split(",")):
            if item.startswith("sockjet.token."):
                encoded = item[len("sockjet.token.") :]
                token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        self.tokens.append(token)
        refusal = self.token_check(token)
        if refusal is not None:
            await ws.close(*refusal)
            return
        self._count += 1
        conn = Conn(ws, f"c{self._count}", token)
        self.conns.append(conn)
        try:
            if self.first_frame is None:
                await ws.send(json.dumps({"op": "connected", "connection": conn.id, "ping": self.ping, "protocol": 1}))
            elif self.first_frame:
                await ws.send(self.first_frame)
            pinger = asyncio.create_task(self._pings(conn))
            try:
                async for raw in ws:
                    command = json.loads(raw)
                    self.commands.append(command)
                    if not self.hold_replies:
                        await self._answer(conn, command)
            finally:
                pinger.cancel()
        except ConnectionClosed:
            pass
        finally:
            self.conns.remove(conn)

    async def _pings(self, conn: Conn) -> None:
        while self.ping:
            await asyncio.sleep(self.ping)
            if not self.silent:
                await self._send(conn, {"op": "ping"})

    async def _answer(self, conn: Conn, command: dict[str, Any]) -> None:
        cid, op = command["id"], command["op"]
        room_name = command.get("room", "")

        async def ok(body: dict[str, Any]) -> None:
            await self._send(conn, {"id": cid, "ok": body})

        async def error(code: int, message: str, details: Any = None) -> None:
            body: dict[str, Any] = {"code": code, "message": message}
            if details is not None:
                body["details"] = details
            await self._send(conn, {"id": cid, "error": body})

        if op == "subscribe":
            if self.too_many:
                self.too_many -= 1
                return await error(429, "Too many commands: at most 100 per 1 s.")
            if room_name in self.refuse:
                return await error(403, "members only")
            if room_name in conn.rooms:
                return await error(409, f"Already subscribed to {room_name!r}.")
            room = self.room(room_name)
            since = command.get("since")
            replay: list[tuple[int, Any]] = []
            recovered = True
            if since is not None:
                epoch, _, offset = since.partition(".")
                retained = {n for n, _ in room.messages}
                wanted = range(int(offset) + 1, room.top + 1)
                recovered = epoch == room.epoch and int(offset) <= room.top and all(n in retained for n in wanted)
                replay = [(n, d) for n, d in room.messages if n > int(offset)] if recovered else []
            conn.rooms.add(room_name)
            await ok({"room": room_name, "position": room.position(), "recovered": recovered, "missed": len(replay)})
            for n, data in replay:
                position = f"{room.epoch}.{n}"
                await self._send(conn, {"op": "message", "room": room_name, "position": position, "data": data})
        elif op == "unsubscribe":
            conn.rooms.discard(room_name)
            await ok({})
        elif op == "publish":
            if room_name == "news":
                return await error(403, "Clients may not publish to 'news'.")
            if not isinstance(command.get("data"), dict):
                return await error(422, "data failed validation", [{"loc": [], "msg": "not an object", "type": "x"}])
            await ok({"position": await self.publish(room_name, command["data"])})
        elif op == "call":
            if command["method"] == "echo":
                await ok({"data": command.get("data")})
            else:
                await error(404, f"No method named {command['method']!r}.")
        elif op == "presence":
            await ok({"presence": {c.id: {"token": c.token} for c in self.conns if room_name in c.rooms}})
        elif op == "history":
            room = self.room(room_name)
            messages = [{"position": f"{room.epoch}.{n}", "data": d} for n, d in room.messages]
            limit = command.get("limit")
            await ok({"position": room.position(), "recovered": True, "messages": messages[:limit]})
        return None


@contextlib.asynccontextmanager
async def fake_server(*, ping: float = 25.0) -> AsyncIterator[FakeServer]:
    server = FakeServer(ping=ping)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
