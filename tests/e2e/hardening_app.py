"""The app the hardening e2e tests serve: limits, an Origin allow-list, a failing route, stats over HTTP."""

from __future__ import annotations

import os
import secrets
from typing import Any

from sockjet import App, Hub, WebSocket, WebSocketDisconnect
from sockjet.limits import RateLimit

hub = Hub(max_queue=8, overflow="close")
app = App(
    lifespan=hub.lifespan,
    allowed_origins=["http://allowed.test", "https://*.allowed.test"],
    shutdown_timeout=float(os.environ.get("HARDENING_SHUTDOWN_TIMEOUT", "3")),
)
ended: list[Any] = []
"""How each endpoint ended: the close code its WebSocketDisconnect carried."""


@app.websocket("/echo", max_message_size=1024, rate_limit=RateLimit(messages=1000, per=1.0))
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect as exc:
        ended.append(exc.code)


@app.websocket("/boom")
async def boom(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("the endpoint broke")


@app.websocket("/room")
async def room(websocket: WebSocket, queue: int = 8) -> None:
    await websocket.accept()
    try:
        async with hub.join("flood", websocket, max_queue=queue, max_queue_bytes=queue * 128 * 1024):
            await websocket.send_text("joined")
            await websocket.receive_text()
    except WebSocketDisconnect as exc:
        ended.append(exc.code)


@app.post("/publish")
async def publish(n: int, size: int) -> dict[str, int]:
    # Incompressible: uvicorn and the client negotiate permessage-deflate, which would shrink
    # repetitive text to a few bytes per frame that the kernel's buffers absorb without end.
    noise = secrets.token_hex(size)
    for i in range(n):
        await hub.publish("flood", f"{i:08d}" + noise[i % 64 : i % 64 + size - 8])
    return {"published": n}


@app.get("/stats")
async def stats() -> dict[str, Any]:
    registry = app.connection_settings.registry
    return {
        "open": len(registry) if registry is not None else -1,
        "ended": ended,
        "room": hub.local_count("flood"),
    }
