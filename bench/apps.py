"""The echo servers under test: the same behaviour written four ways.

Each app accepts a WebSocket on any path and echoes every message back as it came (text as
text, bytes as bytes) until the client leaves. They are module attributes so that uvicorn can
load them by name: ``bench.apps:raw``, ``bench.apps:sockjet``, ``bench.apps:starlette``,
``bench.apps:fastapi``.
"""

# No ``from __future__ import annotations`` here: FastAPI and sockjet read the endpoints' annotations,
# and the WebSocket classes are imported inside the factories, out of reach of string annotations.
from typing import Any

from sockjet.types import Receive, Scope, Send


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    """The baseline: the ASGI protocol by hand, no framework at all."""
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def _sockjet() -> Any:
    from sockjet import App, WebSocket, WebSocketDisconnect

    app = App()

    @app.websocket("/")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    return app


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    return Starlette(routes=[WebSocketRoute("/", echo)])


def _fastapi() -> Any:
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect

    app = FastAPI()

    @app.websocket("/")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    return app


_FACTORIES = {"sockjet": _sockjet, "starlette": _starlette, "fastapi": _fastapi}


def __getattr__(name: str) -> Any:
    # Built on first access so a server process imports only the framework it serves.
    factory = _FACTORIES.get(name)
    if factory is None:
        raise AttributeError(name)
    app = factory()
    globals()[name] = app
    return app
