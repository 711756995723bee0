"""The Starlette docs' ``iter_text`` example, a raw ASGI app, with ``starlette.`` swapped for ``sockjet.``.

Run: ``uvicorn examples.starlette_iter_text:app --lifespan off``.
"""

from sockjet.websockets import WebSocket


async def app(scope, receive, send):
    websocket = WebSocket(scope=scope, receive=receive, send=send)
    await websocket.accept()
    async for message in websocket.iter_text():
        await websocket.send_text(f"Message text was: {message}")
    await websocket.close()
