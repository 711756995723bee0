"""WebSocket routes in routers, as real FastAPI code keeps them: dependencies on the app, on
``include_router``, on the router and on the route, run in that order; and a dependency that
``yield``s a session closed after the endpoint ends. Only the imports differ from FastAPI.
Run: ``sockjet run examples.fastapi_ws_routers:app``.
"""

import json
from typing import Annotated

from sockjet import APIRouter, App, Depends, Header, WebSocket, WebSocketException, status


def trail() -> list[str]:
    # Cached per connection: every dependency below appends to the same list the endpoint gets.
    return []


Trail = Annotated[list[str], Depends(trail)]


def mark(name: str):
    def add(steps: Trail):
        steps.append(name)

    return Depends(add)


async def require_key(x_api_key: Annotated[str | None, Header()] = None):
    if x_api_key != "sesame":
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="bad API key")


closed_sessions: list[str] = []


async def session(steps: Trail):
    steps.append("session open")
    try:
        yield {"user": "alice"}
    finally:
        closed_sessions.append("closed")


app = App(dependencies=[mark("app")])
rooms = APIRouter(prefix="/rooms", dependencies=[mark("router"), Depends(require_key)])


@app.websocket("/ws", dependencies=[mark("route")])
async def top(websocket: WebSocket, steps: Trail):
    await websocket.accept()
    await websocket.send_text(json.dumps(steps))
    await websocket.close()


@rooms.websocket("/{room}", dependencies=[mark("route")])
async def room(websocket: WebSocket, room: str, steps: Trail, current: Annotated[dict, Depends(session)]):
    await websocket.accept()
    await websocket.send_text(json.dumps({"room": room, "user": current["user"], "steps": steps}))
    await websocket.close()


app.include_router(rooms, prefix="/v1", dependencies=[mark("include")])
