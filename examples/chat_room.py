"""A chat room on the hub: every message a client sends reaches everyone in the same room.

    uvicorn examples.chat_room:app                   # one process
    HUB_URL=redis://127.0.0.1:6379/0 uvicorn examples.chat_room:app --workers 2

Open ws://127.0.0.1:8000/ws/chat/<room> from two clients. If Redis is down, the sender gets an
``{"error": ...}`` frame instead of silence; the others stay connected.
"""

from __future__ import annotations

import os

from sockjet import App, Hub, WebSocket
from sockjet.exceptions import PublishError

hub = Hub(os.environ.get("HUB_URL") or None)
app = App(lifespan=hub.lifespan)


@app.websocket("/ws/chat/{room}")
async def chat(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    async with hub.join(room, websocket) as member:
        async for text in websocket.iter_text():
            try:
                await hub.publish(room, text)
            except PublishError as exc:
                await member.send({"error": str(exc)})


@app.get("/rooms/{room}")
async def room_info(room: str) -> dict[str, object]:
    """How many are in ``room`` across every worker."""
    return {"room": room, "members": await hub.count(room)}


@app.post("/rooms/{room}/announce")
async def announce(room: str) -> dict[str, object]:
    """Publish from HTTP, without being a member."""
    await hub.publish(room, {"announcement": f"hello {room}"})
    return {"ok": True}
