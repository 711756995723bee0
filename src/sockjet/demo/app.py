"""The chat demo as a sockjet App: the page, its static files, a health check and the chat WebSocket.

``create_app()`` builds a fresh App around a Hub: in-process by default, on Redis or NATS when a
URL is given or ``SOCKJET_DEMO_HUB_URL`` / ``SOCKJET_DEMO_REDIS_URL`` is set (that is how
``sockjet demo --workers N --hub URL`` or ``--redis URL`` reaches every worker). Rooms and
broadcast go through the hub only; the online list is the hub's presence (``protocol`` says
how), the join and leave lines come from one ``hub.on_presence`` observer, and a page that
reconnects catches up from the room's history.

The demo's own hub keeps the last ``HISTORY_SIZE`` messages of every room: a page that joins
sees them, a page whose socket dropped re-joins with the last position it saw and gets exactly
what it missed (or, when that is impossible, the room's history again and a plain notice).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import mimetypes
import os
import secrets
from importlib import resources
from typing import Any

from sockjet import status
from sockjet.applications import App
from sockjet.demo import protocol
from sockjet.demo.protocol import Command, InvalidFrame, Join
from sockjet.exceptions import HubError
from sockjet.hub import Hub, Member, PresenceEvent, json_frame
from sockjet.metrics import metrics_app
from sockjet.requests import Request
from sockjet.responses import HTMLResponse, JSONResponse, Response
from sockjet.websockets import WebSocket, WebSocketDisconnect

REDIS_URL_ENV = "SOCKJET_DEMO_REDIS_URL"
HUB_URL_ENV = "SOCKJET_DEMO_HUB_URL"
HISTORY_SIZE = 100
HISTORY_TTL = 24 * 3600.0
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    b'<rect width="32" height="32" rx="7" fill="#4f46e5"/>'
    b'<path d="M18 3 7 18h7l-2 11 11-15h-7z" fill="#fff"/></svg>'
)
logger = logging.getLogger("sockjet.demo")


def load_static() -> dict[str, tuple[bytes, str]]:
    """Every file shipped in ``sockjet/demo/static``, by name: its bytes and content type.

    Read once at startup: the page is served from memory and only these names exist, so no
    request path ever reaches the file system.
    """
    entries = resources.files("sockjet.demo").joinpath("static").iterdir()
    return {
        entry.name: (entry.read_bytes(), mimetypes.guess_type(entry.name)[0] or "application/octet-stream")
        for entry in entries
        if entry.is_file() and not entry.name.startswith(".")
    }


class ChatSession:
    """One browser connection: validates its frames and moves it between rooms of the hub."""

    def __init__(self, hub: Hub, websocket: WebSocket, *, hub_kind: str) -> None:
        self.hub = hub
        self.history = getattr(hub, "history_size", 0) > 0
        self.websocket = websocket
        self.hub_kind = hub_kind
        self.id = secrets.token_hex(6)
        self.invalid = 0
        self.member: Member | None = None
        """Set while in a room: replies then go through the member's outbox, in order with deliveries."""

    async def reply(self, data: dict[str, Any]) -> None:
        if self.member is not None:
            await self.member.send(data)
        else:
            await self.websocket.send_json(data)

    async def close(self, reason: str) -> None:
        if self.member is not None:
            self.member.close(status.WS_1008_POLICY_VIOLATION, reason)
        else:
            await self.websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason)

    async def run(self) -> None:
        command = await self.next_command()
        while command is not None:
            if isinstance(command, Join):
                command = await self.in_room(command)
            else:
                await self.reply(protocol.error("join a room first"))
                command = await self.next_command()

    async def next_command(self) -> Command | None:
        """The next valid command; ``None`` once the client is gone or has been closed for bad input."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            try:
                return protocol.parse_frame(message.get("text", message.get("bytes")))
            except InvalidFrame as exc:
                self.invalid += 1
                if exc.close or self.invalid > protocol.MAX_INVALID:
                    reason = str(exc) if exc.close else "too many invalid frames"
                    await self.close(reason)
                    return None
                await self.reply(protocol.error(str(exc)))

    async def publish(self, room: str, data: dict[str, Any]) -> str | None:
        """Publish to ``room``; on a hub failure (e.g. Redis down) log it and return why, never raise."""
        try:
            await self.hub.publish(room, data)
        except HubError as exc:
            logger.warning("publish to %s failed: %s", room, exc)
            return str(exc) or type(exc).__name__
        return None

    async def in_room(self, join: Join) -> Command | None:
        """Be a member of ``join.room`` until the client leaves (``None``) or asks for another room."""
        room, nick = join.room, join.nick
        membership = contextlib.AsyncExitStack()
        try:
            recovered = await self.enter(membership, room, nick, join.since)
        except HubError as exc:
            # 1013 Try Again Later: the page reconnects with backoff until the hub is back.
            logger.warning("join of %s failed: %s", room, exc)
            await self.websocket.close(
                code=status.WS_1013_TRY_AGAIN_LATER, reason="chat backend unavailable, try again later"
            )
            return None
        try:
            async with membership:
                command = await self.converse(room, nick, recovered)
        finally:
            self.member = None
        return command

    async def enter(self, membership: contextlib.AsyncExitStack, room: str, nick: str, since: Any) -> bool:
        """Join ``room``, announced in its presence; with history, catch the page up. Returns ``recovered``.

        A fresh page first gets the room's history, then joins from its top, so that nothing
        published meanwhile is missed or doubled. A page that comes back with ``since`` gets what
        it missed replayed by the hub; when that is impossible it gets the history again, marked
        ``resync``. ``HubError`` when the backend is unavailable.
        """
        fresh = since is None
        if self.history and fresh:
            history = await self.hub.history(room)
            await self.websocket.send_json(protocol.history(room, history, resync=False))
            since = history.top
        if not self.history:
            since = None
        joining = self.hub.join(
            room, self.websocket, since=since, presence=protocol.announced(nick), presence_events="users"
        )
        self.member = await membership.enter_async_context(joining)
        if self.history and not self.member.recovered:
            await self.reply(protocol.history(room, await self.hub.history(room), resync=not fresh))
        return fresh or self.member.recovered

    async def converse(self, room: str, nick: str, recovered: bool = True) -> Command | None:
        """Welcome, then relay this member's commands until it leaves or switches rooms."""
        await self.reply(
            protocol.welcome(
                connection=self.id, room=room, nick=nick, hub=self.hub_kind, worker=os.getpid(), recovered=recovered
            )
        )
        while True:
            command = await self.next_command()
            if command is None or isinstance(command, Join):
                return command
            message = protocol.chat_message(connection=self.id, room=room, nick=nick, text=command.text)
            failure = await self.publish(room, message)
            if failure is not None:
                await self.reply(protocol.error(f"message not sent, try again: {failure}"))


def presence_lines(hub: Hub) -> None:
    """Publish "ada joined" / "ada left" to the room when a user's first page joins or last one leaves.

    ``on_presence`` runs once per change across every worker -- for a worker that crashed, in the
    survivor that reaped it -- so each line is published once, and with history every page (and
    every replay) shows the same lines.
    """

    async def line(event: PresenceEvent) -> None:
        if not event.user_changed:
            return
        nick = str(event.info.get("nick", event.user))
        try:
            await hub.publish(event.room, protocol.presence_line(event.kind, room=event.room, nick=nick))
        except HubError as exc:  # Redis down, or the hub stopping: the online list stays right all the same
            logger.warning("could not publish that %s %s %s: %s", nick, event.kind, event.room, exc)

    hub.on_presence(line)


def demo_hub(url: str | None) -> Hub:
    """The hub the demo runs on ``url`` (``sockjet demo --hub`` starts one first, to fail early)."""
    return Hub(url, history_size=HISTORY_SIZE, history_ttl=HISTORY_TTL, history_meta_ttl=HISTORY_TTL, frame=json_frame)


def create_app(*, hub: Hub | None = None, redis_url: str | None = None) -> App:
    """A new chat demo App. ``hub`` wins over ``redis_url``, which wins over ``SOCKJET_DEMO_HUB_URL``,
    then ``SOCKJET_DEMO_REDIS_URL``."""
    if hub is None:
        hub = demo_hub(redis_url or os.environ.get(HUB_URL_ENV) or os.environ.get(REDIS_URL_ENV) or None)
    url = getattr(hub, "url", None)
    hub_kind = "memory"
    if isinstance(url, str) and url.startswith(("redis", "unix")):
        hub_kind = "redis"
    elif isinstance(url, str) and url.startswith(("nats://", "tls://")):
        hub_kind = "nats"
    static = load_static()
    presence_lines(hub)
    app = App(lifespan=hub.lifespan)
    chat_hub = hub

    @app.get("/")
    def index(request: Request) -> Response:
        return HTMLResponse(static["index.html"][0], headers={"cache-control": "no-cache"})

    @app.get("/static/{name}")
    def static_file(request: Request, name: str) -> Response:
        found = static.get(name)
        if found is None:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        body, kind = found
        return Response(body, media_type=kind, headers={"cache-control": "no-cache"})

    @app.get("/favicon.ico")
    def favicon(request: Request) -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})

    @app.get("/healthz")
    def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "hub": hub_kind, "pid": os.getpid()})

    if importlib.util.find_spec("prometheus_client") is not None:  # the sockjet[metrics] extra
        app.add_route("/metrics", metrics_app())

    @app.websocket("/ws")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect):
            await ChatSession(chat_hub, websocket, hub_kind=hub_kind).run()

    return app
