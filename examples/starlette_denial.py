"""The Starlette docs' denial example: an HTTPException before ``accept`` refuses the handshake with HTTP 401.

``starlette.`` swapped for ``sockjet.`` and ``Starlette(...)`` for ``App(...)``; the rest is the docs verbatim.
Run: ``uvicorn examples.starlette_denial:app``; test with
``npx wscat -c ws://localhost:8000/ws -s Authorization -s token``.
"""

from sockjet.applications import App
from sockjet.exceptions import HTTPException
from sockjet.routing import WebSocketRoute
from sockjet.websockets import WebSocket


def is_authorized(subprotocols: list[str]):
    if len(subprotocols) != 2:
        return False
    if subprotocols[0] != "Authorization":
        return False
    # Here we are hard coding the token, in a real application you would validate the token
    # against a database or an external service.
    if subprotocols[1] != "token":  # noqa: SIM103 - as in the Starlette docs
        return False
    return True


async def websocket_endpoint(websocket: WebSocket):
    subprotocols = websocket.scope["subprotocols"]
    if not is_authorized(subprotocols):
        raise HTTPException(status_code=401, detail="Unauthorized")
    await websocket.accept("Authorization")
    await websocket.send_text("Hello, world!")
    await websocket.close()


app = App(debug=True, routes=[WebSocketRoute("/ws", websocket_endpoint)])
