"""The app of tests/e2e/test_history_e2e.py: a room whose members re-join with ``?since=<position>``.

Every frame is ``json_frame``'s ``{"room", "position", "data"}``; a re-join that could not be
recovered gets ``{"recovered": false}`` first, so the test can tell.
"""

from __future__ import annotations

import os

from sockjet import App, Hub, Position, WebSocket
from sockjet.hub import json_frame

hub = Hub(os.environ["HUB_URL"], history_size=5000, frame=json_frame, prefix=os.environ.get("HUB_PREFIX", "e2e:"))
app = App(lifespan=hub.lifespan)


@app.websocket("/ws/{room}")
async def member(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    token = websocket.query_params.get("since")
    async with hub.join(room, websocket, since=Position.parse(token) if token else None) as joined:
        if not joined.recovered:
            await joined.send({"recovered": False})
        async for _ in websocket.iter_text():
            pass


@app.get("/pid")
async def pid() -> dict[str, int]:
    return {"pid": os.getpid()}
