"""The server of docs/protocol.md's examples: rooms, a read-only room, methods, token checks.

    uvicorn examples.channels_protocol:app      then connect to ws://127.0.0.1:8000/ws

``PING_INTERVAL`` (seconds, default 25) sets the ping interval; the docs' replay test uses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from sockjet import App, Depends, Hub, WebSocket, status
from sockjet.channels import Channels, Connection, Refuse, RoomOptions, channel_token

hub = Hub(history_size=100)
channels = Channels(hub, ping_interval=float(os.environ.get("PING_INTERVAL", "25")))
app = App(lifespan=hub.lifespan)

USERS = {"alice-token": "alice", "bob-token": "bob"}
EXPIRED = {"expired-token"}


class ChatMessage(BaseModel):
    text: str


@dataclass
class Numbers:
    a: int
    b: int


@channels.room("chat:{room_id}")
async def chat(conn: Connection, room_id: str, params: dict[str, Any]) -> RoomOptions | None:
    if room_id == "secret":
        raise Refuse("members only")
    return RoomOptions(presence={"user": conn.user})


@chat.on_publish
async def chat_publish(conn: Connection, room_id: str, data: ChatMessage) -> dict[str, Any]:
    return {"user": conn.user, "text": data.text}


@channels.room("news")
async def news(conn: Connection) -> None:
    return None  # anyone may read; no on_publish: clients may not publish


@channels.rpc("add")
async def add(conn: Connection, data: Numbers) -> int:
    return data.a + data.b


@channels.rpc("fail")
async def fail(conn: Connection) -> None:
    raise RuntimeError("this method always fails")


@app.websocket("/ws")
async def ws(websocket: WebSocket, token: str | None = Depends(channel_token)) -> None:
    if token in EXPIRED:
        await channels.reject(websocket, status.WS_4001_TOKEN_EXPIRED, "token expired")
        return
    user = USERS.get(token or "")
    if user is None:
        await channels.reject(websocket, status.WS_4003_AUTHENTICATION_REFUSED, "authentication refused")
        return
    await channels.serve(websocket, user=user, info={"user": user})
