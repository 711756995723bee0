"""The channels server of the end-to-end tests (uvicorn tests.channels.e2e_app:app).

Small limits so that each is reached in a few frames; rooms ``fragile:*`` keep 2 messages, so an
outage (the ``outage`` method drops a room's next live deliveries, as a lost broker link would)
loses history; ``/plain/{room}`` is a plain ``hub.join`` member that forwards what it receives.
"""

from __future__ import annotations

from typing import Any, TypedDict

from sockjet import App, Depends, Hub, WebSocket, status
from sockjet.channels import Channels, Connection, Refuse, RoomOptions, channel_token
from sockjet.hub.position import Publication

hub = Hub(history_size=100, history_by_prefix={"fragile:": 2})
channels = Channels(
    hub, ping_interval=1.0, max_subscriptions=4, command_rate=(200, 1.0), max_frame_size=1024, malformed_budget=3
)
app = App(lifespan=hub.lifespan)


class Post(TypedDict):
    text: str


@channels.room("chat:{room_id}")
async def chat(conn: Connection, room_id: str, params: dict[str, Any]) -> RoomOptions:
    if room_id == "vip" and conn.user != "admin":
        raise Refuse("VIPs only")
    return RoomOptions(presence={"user": conn.user})


@chat.on_publish
async def chat_publish(conn: Connection, room_id: str, data: Post) -> dict[str, Any]:
    if not data["text"].strip():
        raise Refuse("say something")
    return {"from": conn.user, "text": data["text"]}


@channels.room("fragile:{name}")
async def fragile(conn: Connection, name: str) -> None:
    return None


@channels.room("feed:{n:int}")
async def feed(conn: Connection, n: int) -> RoomOptions:
    return RoomOptions(publish=n % 2 == 0)  # even feeds take anything as it is, odd ones nothing


@channels.rpc("echo")
async def echo(conn: Connection, data: Any) -> Any:
    return data


@channels.rpc("boom")
async def boom(conn: Connection) -> None:
    raise ValueError("a bug in the app")


@channels.rpc("server_publish")
async def server_publish(conn: Connection, data: dict[str, Any]) -> str | None:
    position = await hub.publish(data["room"], data["data"])
    return None if position is None else str(position)


@channels.rpc("members")
async def members(conn: Connection, data: str) -> int:
    return hub.local_count(data)


@channels.rpc("outage")
async def outage(conn: Connection, data: dict[str, Any]) -> None:
    """The next ``count`` live publications of ``room`` never reach this process (a broker link down)."""
    history = hub._history
    assert history is not None
    real, room, left = history.deliver, data["room"], [data["count"]]

    def deliver(publication: Publication) -> None:
        if publication.room == room and left[0] > 0:
            left[0] -= 1
            return
        real(publication)

    history.deliver = deliver  # type: ignore[method-assign]


@app.websocket("/ws")
async def ws(websocket: WebSocket, token: str | None = Depends(channel_token)) -> None:
    if token == "expired":
        return await channels.reject(websocket, status.WS_4001_TOKEN_EXPIRED, "token expired")
    if token is None or not token.startswith("user:"):
        return await channels.reject(websocket, status.WS_4003_AUTHENTICATION_REFUSED, "authentication refused")
    user = token.removeprefix("user:")
    await channels.serve(websocket, user=user, info={"user": user})


@app.websocket("/plain/{room}")
async def plain(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    async with hub.join(room, websocket):
        async for _ in websocket.iter_text():
            pass
