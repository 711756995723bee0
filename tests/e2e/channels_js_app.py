"""The server of tests/e2e/test_browser_channels.py: sockjet.js's test page, ClientScript, Channels.

    SOCKJET_E2E_HUB=redis://127.0.0.1:6390/0 uvicorn tests.e2e.channels_js_app:app

Tokens are user names, but for ``expired`` (closed with 4001) and ``refused`` (4003). Room
``chat:{room_id}`` keeps history, announces who is there and lets clients publish ``{"text"}``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypedDict

from sockjet import App, Depends, Hub, Request, WebSocket, status
from sockjet.channels import Channels, ClientScript, Connection, RoomOptions, channel_token
from sockjet.responses import HTMLResponse, Response

PAGE = (Path(__file__).parent / "channels_js_page.html").read_bytes()
url = os.environ.get("SOCKJET_E2E_HUB")
hub = Hub(url, history_size=100) if url else Hub(history_size=100)
channels = Channels(hub, ping_interval=float(os.environ.get("SOCKJET_E2E_PING", "25")))
app = App(lifespan=hub.lifespan)
app.mount("/_sockjet", ClientScript())


class Say(TypedDict):
    text: str


@channels.room("chat:{room_id}")
async def chat(conn: Connection, room_id: str, params: dict[str, Any]) -> RoomOptions:
    return RoomOptions(presence={"user": conn.user})


@chat.on_publish
async def chat_publish(conn: Connection, room_id: str, data: Say) -> dict[str, Any]:
    return {"user": conn.user, "text": data["text"]}


@channels.rpc("pid")
async def pid(conn: Connection) -> int:
    """Which worker serves this connection (the two-worker test kills it)."""
    return os.getpid()


@app.get("/")
def page(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"cache-control": "no-cache"})


@app.websocket("/ws")
async def ws(websocket: WebSocket, token: str | None = Depends(channel_token)) -> None:
    if token == "expired":
        await channels.reject(websocket, status.WS_4001_TOKEN_EXPIRED, "token expired")
    elif not token or token == "refused":
        await channels.reject(websocket, status.WS_4003_AUTHENTICATION_REFUSED, "authentication refused")
    else:
        await channels.serve(websocket, user=token, info={"user": token})
