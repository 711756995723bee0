"""The Hub from a FastAPI app: FastAPI keeps its routes, WebSockets and lifespan; sockjet does the rooms.

    uvicorn examples.fastapi_hub:app                                  # one process
    HUB_URL=redis://127.0.0.1:6379/0 uvicorn examples.fastapi_hub:app --workers 2

Connect to ws://127.0.0.1:8000/rooms/<room>?name=ada: each text you send reaches everyone in the
room (every worker, with Redis); POST /rooms/<room>/announce?text=... publishes from HTTP.
On Ctrl-C or SIGTERM every member is closed with 1001 "server shutting down" (not uvicorn's 1012).
"""

from __future__ import annotations

import os

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from sockjet.exceptions import PublishError
from sockjet.hub import Hub

hub = Hub(os.environ.get("HUB_URL") or None)
app = FastAPI(lifespan=hub.lifespan)


@app.websocket("/rooms/{room}")
async def chat(websocket: WebSocket, room: str, name: str = "anonymous") -> None:
    await websocket.accept()
    try:
        async with hub.join(room, websocket) as member:
            await member.send({"joined": room, "as": name})
            while True:
                text = await websocket.receive_text()
                try:
                    await hub.publish(room, {"from": name, "text": text})
                except PublishError as exc:  # Redis unreachable: tell this client, keep it connected
                    await member.send({"error": str(exc)})
    except WebSocketDisconnect:
        pass  # the client left, or the hub closed it (shutdown 1001, overflow 1013)


@app.post("/rooms/{room}/announce")
async def announce(room: str, text: str) -> dict[str, int]:
    """Publish from HTTP, without being a member; answers how many members this worker has there."""
    await hub.publish(room, {"from": "server", "text": text})
    return {"members_here": hub.local_count(room)}
