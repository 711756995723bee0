"""A chat room that remembers: a client that reconnects gets what it missed, once and in order.

    uvicorn examples.chat_history:app                   # one process
    HUB_URL=redis://127.0.0.1:6379/0 uvicorn examples.chat_history:app --workers 2

The first frame the endpoint sends is ``{"room": ..., "position": "<token>"}``: where the client
stands now that it is live (``member.position``; in a room nobody published to yet, offset 0 of
the room's epoch). Every chat frame after it is ``{"room": ..., "position": "<token>", "data": ...}``
(``sockjet.hub.json_frame``). The client keeps the last ``position`` it saw -- so from its first
frame on it always has one, even if it drops before anyone speaks -- and reconnects to
``/ws/<room>?since=<position>``: the hub replays everything after it, then goes live, with no gap
and no duplicate. When that is impossible (the messages were trimmed, expired, or Redis
restarted), the server sends ``{"resync": [...]}`` -- the room's retained history -- and the
client replaces what it shows with it, then ignores any frame whose offset is not above the
last one it has. A live client that the hub could not keep whole is closed with 3410
(``HISTORY_LOST_CLOSE_CODE``): it reconnects with its last position, like after any drop.
"""

from __future__ import annotations

import os

from sockjet import App, Hub, Position, WebSocket, status
from sockjet.hub import json_frame

hub = Hub(os.environ.get("HUB_URL") or None, history_size=100, history_ttl=3600, frame=json_frame)
app = App(lifespan=hub.lifespan)


@app.websocket("/ws/{room}")
async def chat(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    token = websocket.query_params.get("since")
    try:
        since = Position.parse(token) if token else None
    except ValueError:
        await websocket.close(status.WS_1008_POLICY_VIOLATION, "since is not a position")
        return
    async with hub.join(room, websocket, since=since) as member:
        position = None if member.position is None else str(member.position)
        await member.send({"room": room, "position": position})  # in order with the hub's frames
        if since is not None and not member.recovered:
            history = await hub.history(room)
            await member.send({"resync": [{"position": str(m.position), "data": m.data} for m in history.messages]})
        async for text in websocket.iter_text():
            await hub.publish(room, {"text": text})


@app.get("/rooms/{room}/history")
async def room_history(room: str) -> dict[str, object]:
    """The retained messages, oldest first, and the room's latest position."""
    history = await hub.history(room)
    top = None if history.top is None else str(history.top)
    return {"top": top, "messages": [{"position": str(m.position), "data": m.data} for m in history.messages]}
