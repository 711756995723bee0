"""A chat on Channels with sockjet.js: rooms, history, who is online, reconnect and catch-up.

    uvicorn examples.channels_chat:app      then open http://127.0.0.1:8000/?nick=ada in two windows

The page (examples/channels_chat.html, under 60 lines) imports sockjet.js from
``/_sockjet/sockjet.js``; it has no reconnect, position or presence code of its own. The token is
the nickname here, to keep the example short: a real app verifies a signed token in ``ws``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypedDict

from sockjet import App, Depends, Hub, Request, WebSocket, status
from sockjet.channels import Channels, ClientScript, Connection, Refuse, RoomOptions, channel_token
from sockjet.responses import HTMLResponse, Response

PAGE = (Path(__file__).parent / "channels_chat.html").read_bytes()
hub = Hub(os.environ.get("HUB_URL") or None, history_size=100)
channels = Channels(hub)
app = App(lifespan=hub.lifespan)
app.mount("/_sockjet", ClientScript())


class Say(TypedDict):
    text: str


@channels.room("chat:{room_id}")
async def chat(conn: Connection, room_id: str, params: dict[str, Any]) -> RoomOptions:
    return RoomOptions(presence={"user": conn.user})


@chat.on_publish
async def say(conn: Connection, room_id: str, data: Say) -> dict[str, Any]:
    if not 0 < len(data["text"]) <= 500:
        raise Refuse("A message is 1 to 500 characters.")
    return {"user": conn.user, "text": data["text"]}


@app.get("/")
def page(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"cache-control": "no-cache"})


@app.websocket("/ws")
async def ws(websocket: WebSocket, nick: str | None = Depends(channel_token)) -> None:
    if not nick or len(nick) > 24:
        await channels.reject(websocket, status.WS_4003_AUTHENTICATION_REFUSED, "a nickname is 1 to 24 characters")
        return
    await channels.serve(websocket, user=nick, info={"user": nick})
