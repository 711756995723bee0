"""Who is online, across workers: presence announced on join, join/leave frames, an HTTP view.

    uvicorn examples.presence_room:app
    HUB_URL=redis://127.0.0.1:6379/0 PRESENCE_TTL=5 uvicorn examples.presence_room:app --workers 2

Connect to ws://127.0.0.1:8000/ws/<room>?user=u42&name=Ada from a few clients (several with the
same ``user``: one user, several tabs). Each gets the room's presence state first, then a frame
for every join and leave, in order with the room's messages. GET /presence/<room> lists everyone
and counts connections and users; the ``examples.presence_room`` logger says at INFO when a user
came online or went away (``on_presence`` runs once per change across every worker, also for a
worker that crashed). Plain ``uvicorn`` configures only its own loggers, so to see those lines
give it a ``--log-config`` that has a handler for that logger (or the root).
"""

from __future__ import annotations

import logging
import os

from sockjet import App, Hub, WebSocket
from sockjet.hub import PresenceEvent

url = os.environ.get("HUB_URL") or None
ttl = os.environ.get("PRESENCE_TTL")  # seconds; unset: the hub default, 8 s (a crashed worker is gone within 9 s)
hub = Hub(url, presence_ttl=float(ttl)) if ttl else Hub(url)
app = App(lifespan=hub.lifespan)
log = logging.getLogger("examples.presence_room")


@hub.on_presence
def seen(event: PresenceEvent) -> None:
    if event.user_changed:
        how = " (its worker stopped)" if event.expired else ""
        log.info("user %s %s room %s%s", event.user, "joined" if event.kind == "join" else "left", event.room, how)


@app.websocket("/ws/{room}")
async def room_socket(websocket: WebSocket, room: str) -> None:
    user = websocket.query_params.get("user", "anonymous")
    name = websocket.query_params.get("name", user)
    await websocket.accept()
    info = {"user": user, "name": name, "worker": os.getpid()}
    async with hub.join(room, websocket, presence=info, presence_events=True) as member:
        await member.send({"type": "hello", "id": member.connection_id})
        async for text in websocket.iter_text():
            await hub.publish(room, {"type": "message", "from": name, "text": text})


@app.get("/presence/{room}")
async def who(room: str) -> dict[str, object]:
    stats = await hub.presence_stats(room)
    return {"connections": stats.connections, "users": stats.users, "presence": await hub.presence(room)}
