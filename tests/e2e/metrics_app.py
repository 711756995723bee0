"""The app the Prometheus e2e test serves on ``sockjet run --workers 2``: echo, hub rooms, /metrics."""

from __future__ import annotations

import os
import secrets

from sockjet import App, Hub, WebSocket, WebSocketDisconnect
from sockjet.metrics import metrics_app

# No history: a Redis restart (nothing on disk) would lose the room's stream and close its members
# with 3410, which is the hub's documented answer but not what this session scripts.
hub = Hub(os.environ["METRICS_E2E_REDIS_URL"], max_queue=8)
app = App(lifespan=hub.lifespan)  # same-origin check (the default): a foreign Origin is refused
app.add_route("/metrics", metrics_app())


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


@app.websocket("/room/{name}")
async def room(websocket: WebSocket, name: str) -> None:
    await websocket.accept()
    try:
        async with hub.join(name, websocket, max_queue_bytes=8 * 128 * 1024):
            await websocket.send_text("joined")
            while True:
                await hub.publish(name, await websocket.receive_text())
    except WebSocketDisconnect:
        pass


@app.post("/publish")
async def publish(room: str, n: int, size: int) -> dict[str, int]:
    noise = secrets.token_hex(size)  # incompressible, so permessage-deflate cannot shrink the flood
    for i in range(n):
        await hub.publish(room, f"{i:08d}" + noise[i % 64 : i % 64 + size - 8])
    return {"published": n}


@app.get("/pid")
def pid() -> dict[str, int]:
    return {"pid": os.getpid()}
