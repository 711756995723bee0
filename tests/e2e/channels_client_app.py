"""The server of the Python client's end-to-end tests (tests/e2e/test_client_e2e.py): sockjet channels on a Hub.

Environment: ``HUB_URL`` (memory when unset, ``redis://…`` or ``nats://…``), ``PING_INTERVAL``.

- ``room:{n}``: anyone may subscribe and publish any JSON value;
- ``chat:{room_id}``: ``chat:secret`` is refused; clients publish ``{"text": <str>}`` (validated,
  422 otherwise) and the server stamps the sender;
- ``news``: read-only for clients;
- RPC ``fill`` ``{"room", "count"}``: the server publishes ``{"n": 1…count}`` with ``hub.publish``;
- tokens: ``expired`` is closed with 4001, ``wrong`` with 4003, anything else is the user's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sockjet import App, Depends, Hub, WebSocket, status
from sockjet.channels import Channels, Connection, Refuse, RoomOptions, channel_token

hub = Hub(os.environ.get("HUB_URL") or None, history_size=1000, history_ttl=3600)
channels = Channels(
    hub, ping_interval=float(os.environ.get("PING_INTERVAL", "25")), command_rate=(100_000, 1.0), max_subscriptions=100
)
app = App(lifespan=hub.lifespan)


@dataclass
class Chat:
    text: str


@dataclass
class Fill:
    room: str
    count: int


@channels.room("room:{n}")
async def room(conn: Connection, n: str) -> RoomOptions:
    return RoomOptions(publish=True)


@channels.room("chat:{room_id}")
async def chat(conn: Connection, room_id: str) -> None:
    if room_id == "secret":
        raise Refuse("members only")


@chat.on_publish
async def chat_publish(conn: Connection, room_id: str, data: Chat) -> dict[str, Any]:
    return {"user": conn.user, "text": data.text}


@channels.room("news")
async def news(conn: Connection) -> None:
    return None


@channels.rpc("fill")
async def fill(conn: Connection, data: Fill) -> list[str | None]:
    positions = [await hub.publish(data.room, {"n": n}) for n in range(1, data.count + 1)]
    return [None if p is None else str(p) for p in positions]


@app.websocket("/ws")
async def ws(websocket: WebSocket, token: str | None = Depends(channel_token)) -> None:
    if token == "expired":
        await channels.reject(websocket, status.WS_4001_TOKEN_EXPIRED, "token expired")
    elif token == "wrong":
        await channels.reject(websocket, status.WS_4003_AUTHENTICATION_REFUSED, "authentication refused")
    else:
        await channels.serve(websocket, user=token, info={"user": token})


@app.get("/pid")
async def pid() -> dict[str, int]:
    return {"pid": os.getpid()}
