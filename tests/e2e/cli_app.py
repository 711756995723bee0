"""The app that tests/e2e/test_cli_run.py serves with ``sockjet run tests.e2e.cli_app:app``."""

from __future__ import annotations

import os

from sockjet import App, WebSocket, WebSocketDisconnect

app = App()


@app.get("/pid")
def pid() -> dict[str, int]:
    return {"pid": os.getpid()}


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        async for text in websocket.iter_text():
            await websocket.send_text(f"{os.getpid()}: {text}")
    except WebSocketDisconnect:
        pass
