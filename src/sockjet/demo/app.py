"""The chat demo as a sockjet App on Channels: the page, its static files, sockjet.js, a health check, /ws.

``create_app()`` builds a fresh App around a Hub: in-process by default, on Redis or NATS when a
URL is given or ``SOCKJET_DEMO_HUB_URL`` / ``SOCKJET_DEMO_REDIS_URL`` is set (that is how
``sockjet demo --workers N --hub URL`` or ``--redis URL`` reaches every worker). The page speaks
the channels protocol through sockjet.js (served at ``/_sockjet/sockjet.js``): it connects with
its nickname as the token, subscribes to one room at a time (any ``protocol.clean_room`` name)
with presence by user, and publishes through the room's ``on_publish`` (``protocol.clean_text``,
the sender stamped by the server). The join and leave lines come from one ``hub.on_presence``
observer; the RPC ``hello`` tells the page which worker and hub serve it.

The demo's own hub keeps the last ``HISTORY_SIZE`` messages of every room: a page that joins
loads them, a page whose socket dropped is resubscribed by sockjet.js from the last position it
saw and gets exactly what it missed (or, when that is impossible, ``resync``: it reloads the room
and says so).
"""

from __future__ import annotations

import importlib.util
import logging
import mimetypes
import os
from importlib import resources
from typing import Any, TypedDict

from sockjet import status
from sockjet.applications import App
from sockjet.channels import Channels, ClientScript, Connection, Refuse, RoomOptions, channel_token
from sockjet.demo import protocol
from sockjet.demo.protocol import InvalidInput
from sockjet.exceptions import HubError
from sockjet.hub import Hub, PresenceEvent, json_frame
from sockjet.metrics import metrics_app
from sockjet.params import Depends
from sockjet.requests import Request
from sockjet.responses import HTMLResponse, JSONResponse, Response
from sockjet.websockets import WebSocket

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


class Say(TypedDict):
    """What a page publishes: ``{"text": ...}``."""

    text: str


def chat_channels(hub: Hub, *, hub_kind: str) -> Channels:
    """The demo's rooms and its one method, on ``hub``."""
    channels = Channels(hub)

    @channels.room("{name}")
    async def room(conn: Connection, name: str) -> RoomOptions:
        try:
            protocol.clean_room(name)
        except InvalidInput as exc:
            raise Refuse(str(exc)) from None
        return RoomOptions(presence=protocol.announced(conn.user))

    @room.on_publish
    async def say(conn: Connection, name: str, data: Say) -> dict[str, Any]:
        try:
            text = protocol.clean_text(data["text"])
        except InvalidInput as exc:
            raise Refuse(str(exc)) from None
        return protocol.chat_message(connection=conn.id, room=name, nick=conn.user, text=text)

    @channels.rpc("hello")
    async def hello(conn: Connection) -> dict[str, Any]:
        return {"hub": hub_kind, "worker": os.getpid(), "user": protocol.user_of(conn.user)}

    return channels


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
    channels = chat_channels(hub, hub_kind=hub_kind)
    app = App(lifespan=hub.lifespan)
    app.mount("/_sockjet", ClientScript())

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
    async def chat(websocket: WebSocket, token: str | None = Depends(channel_token)) -> None:
        try:
            nick = protocol.clean_nick(token)
        except InvalidInput as exc:
            await channels.reject(websocket, status.WS_4003_AUTHENTICATION_REFUSED, str(exc))
            return
        await channels.serve(websocket, user=nick, info=protocol.announced(nick))

    return app
