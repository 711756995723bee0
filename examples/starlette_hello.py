"""The Starlette docs' first WebSocket example, a raw ASGI app, with ``starlette.`` swapped for ``sockjet.``.

Run: ``uvicorn examples.starlette_hello:app --lifespan off`` (a raw WebSocket-only app has no lifespan).
"""

from sockjet.websockets import WebSocket


async def app(scope, receive, send):
    websocket = WebSocket(scope=scope, receive=receive, send=send)
    await websocket.accept()
    await websocket.send_text("Hello, world!")
    await websocket.close()
