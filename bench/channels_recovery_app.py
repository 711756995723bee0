"""The server of bench/channels_recovery.py: one memory Hub with history, two ways in.

- ``/hub/{room}?since=<position>``: a plain ``hub.join`` member (frames are ``json_frame``'s);
- ``/ws``: sockjet channels (room ``bench:{name}``, clients may not publish);
- ``GET /publish/{room}?count=N``: the server publishes ``N`` messages with ``hub.publish``.
"""

from __future__ import annotations

from sockjet import App, Hub, Position, WebSocket
from sockjet.channels import Channels, Connection
from sockjet.hub import json_frame

hub = Hub(history_size=1000, history_ttl=3600, frame=json_frame, max_queue=2000)
channels = Channels(hub, command_rate=(100_000, 1.0))
app = App(lifespan=hub.lifespan)


@channels.room("bench:{name}")
async def bench_room(conn: Connection, name: str) -> None:
    return None


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await channels.serve(websocket)


@app.websocket("/hub/{room}")
async def member(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    token = websocket.query_params.get("since")
    async with hub.join(room, websocket, since=Position.parse(token) if token else None):
        async for _ in websocket.iter_text():
            pass


@app.get("/publish/{room}")
async def publish(room: str, count: int = 1) -> dict[str, str | None]:
    position = None
    for n in range(count):
        position = await hub.publish(room, {"n": n})
    return {"position": None if position is None else str(position)}
