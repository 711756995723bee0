"""``Channels``: many rooms over one WebSocket on a ``Hub``, with the protocol of docs/protocol.md.

    channels = Channels(hub)

    @channels.room("chat:{room_id}")
    async def chat(conn: Connection, room_id: str, params: dict) -> RoomOptions | None: ...

    @chat.on_publish
    async def chat_publish(conn: Connection, room_id: str, data: Message) -> dict: ...

    @channels.rpc("add")
    async def add(conn: Connection, data: Numbers) -> int: ...

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, token: str | None = Depends(channel_token)):
        await channels.serve(websocket, user=..., info=...)

Connection-level authentication stays in the endpoint (its parameters and ``Depends``); the
endpoint hands the socket over with ``serve``. ``Channels`` is also an ASGI app, for apps that
need no per-connection logic (every connection then has ``user=None``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from sockjet.channels.auth import negotiate
from sockjet.channels.codec import Codec
from sockjet.channels.connection import ChannelWebSocket, Connection
from sockjet.channels.protocol import Limits
from sockjet.channels.rooms import Method, Registry, Room, RoomHandler
from sockjet.exceptions import ConfigurationError
from sockjet.hub.hub import Hub
from sockjet.responses import PlainTextResponse
from sockjet.types import Receive, Scope, Send
from sockjet.websockets import WebSocket

_M = TypeVar("_M", bound=Callable[..., Awaitable[Any]])


class Channels:
    """The rooms, methods and limits of a channels endpoint, served over ``hub``.

    Options (keyword-only, checked here; ``ConfigurationError`` says which is wrong):

    - ``ping_interval`` (25 s): the server sends a frame at least this often (``{"op":"ping"}``
      when it has nothing else); ``0``: no pings.
    - ``max_subscriptions`` (100) per connection (429 above);
    - ``command_rate`` (``(100, 1.0)``): at most that many commands per that many seconds (429);
    - ``max_frame_size`` (64 KiB): larger frames are answered 413;
    - ``malformed_budget`` (10): malformed frames answered 400 before the connection is closed
      with 1008.
    """

    def __init__(
        self,
        hub: Hub,
        *,
        ping_interval: float = 25.0,
        max_subscriptions: int = 100,
        command_rate: tuple[int, float] = (100, 1.0),
        max_frame_size: int = 64 * 1024,
        malformed_budget: int = 10,
    ) -> None:
        if not isinstance(hub, Hub):
            raise ConfigurationError(f"Channels needs a sockjet Hub, got {hub!r}.")
        if isinstance(ping_interval, bool) or not isinstance(ping_interval, (int, float)) or ping_interval < 0:
            raise ConfigurationError(
                f"ping_interval must be a number of seconds >= 0 (0: no pings), got {ping_interval!r}."
            )
        self.hub = hub
        self.ping_interval = ping_interval
        self.limits = Limits(
            max_frame_size=max_frame_size,
            max_subscriptions=max_subscriptions,
            command_rate=command_rate,
            malformed_budget=malformed_budget,
        )
        self.registry = Registry()
        self.codec = Codec()
        self._connections: set[Connection] = set()
        self._ticker: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Channels on {self.hub!r}: {len(self.registry.rooms)} room pattern(s), {len(self._connections)} open>"

    # -- declaring ---------------------------------------------------------------------------------------
    def room(self, pattern: str) -> Callable[[RoomHandler], Room]:
        """Decorate ``async def (conn, <pattern params>, params) -> RoomOptions | None``, called on every subscribe.

        The decorated name becomes the ``Room``: ``@that.on_publish`` lets clients publish there.
        """

        def decorate(handler: RoomHandler) -> Room:
            room = Room(pattern, handler)
            self.registry.add_room(room)
            return room

        return decorate

    def rpc(self, name: str) -> Callable[[_M], _M]:
        """Decorate ``async def (conn, data) -> result``: the method ``name`` clients ``call``."""

        def decorate(handler: _M) -> _M:
            self.registry.add_method(Method(name, handler))
            return handler

        return decorate

    @property
    def connections(self) -> frozenset[Connection]:
        """The connections open in this process."""
        return frozenset(self._connections)

    # -- serving --------------------------------------------------------------------------------------------
    def serve(
        self, websocket: ChannelWebSocket, *, user: Any = None, info: dict[str, Any] | None = None
    ) -> Coroutine[Any, Any, None]:
        """``await channels.serve(websocket, user=..., info=...)``: speak the channels protocol until it closes.

        Accepts the WebSocket if it is not yet. ``user``: who this is, for the handlers
        (``conn.user``); ``info``: the presence info announced in the rooms it subscribes to (a
        room's ``RoomOptions.presence`` overrides it). Returns the connection's own coroutine (no
        wrapper frame: an idle connection holds as little as it can).
        """
        handshake = negotiate(websocket.scope.get("subprotocols") or ())
        return Connection(self, websocket, user, info).run(handshake)

    async def reject(self, websocket: ChannelWebSocket, code: int, reason: str = "") -> None:
        """Accept, then close with ``code``: how an endpoint refuses credentials so that every client sees the code.

        Use ``status.WS_4003_AUTHENTICATION_REFUSED`` (the client stops) or
        ``status.WS_4001_TOKEN_EXPIRED`` (it asks its token provider again).
        """
        handshake = negotiate(websocket.scope.get("subprotocols") or ())
        if getattr(websocket.application_state, "name", None) == "CONNECTING":
            await websocket.accept(subprotocol=handshake.subprotocol)
        await websocket.close(code, reason)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.serve(WebSocket(scope, receive, send))
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await PlainTextResponse("Not Found: this is a WebSocket endpoint", status_code=404)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.hub.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.hub.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- pings ---------------------------------------------------------------------------------------------
    def _opened(self, connection: Connection) -> None:
        self._connections.add(connection)
        if self.ping_interval and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="sockjet-channels-ping")

    def _closed(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if not self._connections and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    async def _tick(self) -> None:
        period = self.ping_interval / 4
        loop = asyncio.get_running_loop()
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(period)
                active, self.codec.active = self.codec.active, set()
                for connection in list(self._connections):
                    member = connection._member
                    if member is not None and member.loop is loop:
                        connection.tick(active)


__all__ = ["Channels"]
