"""The app that tests/e2e/test_cli_run.py serves with ``sockjet run tests.e2e.cli_app:app``."""

from __future__ import annotations

import os
from typing import Annotated

from sockjet import App, Depends, HTTPException, Query, WebSocket, WebSocketDisconnect

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


async def member(token: Annotated[str, Query()] = "") -> str:
    if token == "expired":
        raise HTTPException(status_code=401, detail="token expired")
    return token


@app.websocket("/ws/params")
async def params(websocket: WebSocket, n: int, who: Annotated[str, Depends(member)]) -> None:
    await websocket.accept()
    await websocket.send_text(f"{who}:{n + 1}")
    await websocket.close()
