"""End to end on a real uvicorn, with raw ``websockets`` frames (no client library): every op,
error code and push of docs/protocol.md, authentication closes, history lost for one room."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sockjet.channels import token_subprotocol
from sockjet.hub.position import Position
from tests.conftest import MS
from tests.servers.servers import Server

pytestmark = pytest.mark.e2e
WAIT = 5000 * MS


class Raw:
    """A raw websockets connection speaking JSON frames."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.next_id = 0

    async def recv(self) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.websocket.recv(), WAIT)
        assert isinstance(frame, str)
        parsed: dict[str, Any] = json.loads(frame)
        return parsed

    async def recv_op(self, op: str) -> dict[str, Any]:
        """The next push that is not a ping (kept by ``command`` or still to come), which must be ``op``."""
        while self.pushes:
            frame = self.pushes.pop(0)
            if frame.get("op") != "ping":
                assert frame.get("op") == op, frame
                return frame
        while True:
            frame = await self.recv()
            if frame.get("op") != "ping":
                assert frame.get("op") == op, frame
                return frame

    async def command(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send a command; return its reply (pushes before it are kept in ``pushes``)."""
        self.next_id += 1
        await self.websocket.send(json.dumps({"id": self.next_id, "op": op, **fields}))
        while True:
            frame = await self.recv()
            if frame.get("id") == self.next_id:
                return frame
            assert "op" in frame, frame  # a push, not another reply
            self.pushes.append(frame)

    pushes: list[dict[str, Any]]

    async def error(self, op: str, **fields: Any) -> tuple[int, str]:
        reply = await self.command(op, **fields)
        assert "error" in reply, reply
        return reply["error"]["code"], reply["error"]["message"]


@asynccontextmanager
async def client(server: Server, user: str = "ann") -> AsyncIterator[Raw]:
    protocols: Any = ["sockjet.v1", token_subprotocol(f"user:{user}")]
    async with connect(f"{server.url}/ws", subprotocols=protocols, open_timeout=WAIT) as websocket:
        raw = Raw(websocket)
        raw.pushes = []
        hello = await raw.recv()
        assert hello["op"] == "connected" and hello["ping"] == 1 and hello["protocol"] == 1
        raw.connection = hello["connection"]  # type: ignore[attr-defined]
        yield raw


async def test_every_op_and_push(e2e_server: Server) -> None:
    async with client(e2e_server, "ann") as ann, client(e2e_server, "ben") as ben:
        reply = await ann.command("subscribe", room="chat:1", presence_events=True)
        start = Position.parse(reply["ok"]["position"])
        assert reply["ok"] == {"room": "chat:1", "position": str(start), "recovered": True, "missed": 0}
        state = await ann.recv_op("presence")
        assert [entry["info"] for entry in state["state"]] == [{"user": "ann"}]
        await ben.command("subscribe", room="chat:1")
        while True:  # the frames may first repeat ann's own join
            joined = await ann.recv_op("presence")
            if any(entry["info"] == {"user": "ben"} for entry in joined["joins"]):
                break
        reply = await ben.command("publish", room="chat:1", data={"text": "hi"})
        position = reply["ok"]["position"]
        assert Position.parse(position).offset == start.offset + 1
        assert await ann.recv_op("message") == {
            "op": "message",
            "room": "chat:1",
            "position": position,
            "data": {"from": "ben", "text": "hi"},
        }
        presence = (await ann.command("presence", room="chat:1"))["ok"]["presence"]
        assert sorted(info["user"] for info in presence.values()) == ["ann", "ben"]
        history = (await ann.command("history", room="chat:1", since=str(start)))["ok"]
        assert history == {
            "position": position,
            "recovered": True,
            "messages": [{"position": position, "data": {"from": "ben", "text": "hi"}}],
        }
        assert (await ann.command("call", method="echo", data=[1, {"a": None}]))["ok"] == {"data": [1, {"a": None}]}
        assert (await ben.command("unsubscribe", room="chat:1"))["ok"] == {}
        while True:
            left = await ann.recv_op("presence")
            if any(entry["info"] == {"user": "ben"} for entry in left["leaves"]):
                break
        assert ann.pushes == [] and await ann.recv() == {"op": "ping"}  # a quiet second: the server pings


async def test_every_error_code(e2e_server: Server) -> None:
    async with client(e2e_server) as ann:
        await ann.websocket.send("{nope")
        assert await ann.recv() == {"id": None, "error": {"code": 400, "message": "The frame is not valid JSON."}}
        await ann.websocket.send(b"\x00")
        assert (await ann.recv())["error"]["code"] == 400
        assert await ann.error("fly", room="x") == (
            400,
            "Unknown op 'fly': expected one of subscribe, unsubscribe, publish, call, presence, history.",
        )
        assert await ann.error("subscribe", room="chat:vip") == (403, "VIPs only")
        assert await ann.error("subscribe", room="lobby") == (404, "No room matches 'lobby'.")
        assert await ann.error("call", method="nope") == (404, "No method named 'nope'.")
        await ann.command("subscribe", room="feed:1")
        assert await ann.error("subscribe", room="feed:1") == (409, "Already subscribed to 'feed:1'.")
        assert await ann.error("publish", room="feed:1", data=1) == (403, "Clients may not publish to 'feed:1'.")
        assert await ann.error("publish", room="feed:2", data=1) == (
            403,
            "Not subscribed to 'feed:2': subscribe first.",
        )
        code, message = await ann.error("call", method="echo", data="x" * 2000)
        assert (code, message.endswith("this server takes at most 1024 bytes per frame.")) == (413, True)
        await ann.command("subscribe", room="chat:2")
        reply = await ann.command("publish", room="chat:2", data={"text": ["not", "a", "string"]})
        assert reply["error"] == {
            "code": 422,
            "message": "data failed validation",
            "details": [{"loc": ["text"], "msg": "Input should be a valid string", "type": "string_type"}],
        }
        assert await ann.error("publish", room="chat:2", data={"text": "  "}) == (403, "say something")
        for room in ("feed:2", "feed:4"):
            await ann.command("subscribe", room=room)
        assert await ann.error("subscribe", room="feed:6") == (429, "Too many subscriptions: at most 4 per connection.")
        assert await ann.error("call", method="boom") == (
            500,
            "The method 'boom' failed; the error is logged on the server.",
        )
        assert "ok" in await ann.command("call", method="echo", data="still open")
        await ann.websocket.send("[]")  # the budget is 3 malformed frames: the 4th closes
        with pytest.raises(ConnectionClosed) as closed:
            await ann.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "too many malformed frames")


async def test_client_publish_refused_where_not_allowed_and_as_is_where_allowed(e2e_server: Server) -> None:
    async with client(e2e_server) as ann:
        await ann.command("subscribe", room="feed:8")
        reply = await ann.command("publish", room="feed:8", data={"anything": [1, 2]})
        push = await ann.recv_op("message")
        assert (push["data"], push["position"]) == ({"anything": [1, 2]}, reply["ok"]["position"])
        await ann.command("subscribe", room="feed:9")
        assert await ann.error("publish", room="feed:9", data={}) == (403, "Clients may not publish to 'feed:9'.")


async def test_server_code_and_plain_members_share_channel_rooms(e2e_server: Server) -> None:
    async with (
        client(e2e_server) as ann,
        connect(f"{e2e_server.url}/plain/chat:mixed", open_timeout=WAIT) as plain,
    ):
        await ann.command("subscribe", room="chat:mixed")
        while (await ann.command("call", method="members", data="chat:mixed"))["ok"]["data"] < 2:
            await asyncio.sleep(10 * MS)  # the plain member's join is under way on the server
        await ann.command("publish", room="chat:mixed", data={"text": "to everyone"})
        assert json.loads(await asyncio.wait_for(plain.recv(), WAIT)) == {"from": "ann", "text": "to everyone"}
        assert (await ann.recv_op("message"))["data"] == {"from": "ann", "text": "to everyone"}
        reply = await ann.command("call", method="server_publish", data={"room": "chat:mixed", "data": "from code"})
        push = await ann.recv_op("message")
        assert (push["data"], push["position"]) == ("from code", reply["ok"]["data"])
        assert await asyncio.wait_for(plain.recv(), WAIT) == "from code"


async def test_history_lost_for_one_room_unsubscribes_it_while_others_continue(e2e_server: Server) -> None:
    async with client(e2e_server) as ann:
        reply_since = (await ann.command("subscribe", room="fragile:a"))["ok"]["position"]
        await ann.command("subscribe", room="feed:10")
        await ann.command("call", method="outage", data={"room": "fragile:a", "count": 3})
        for n in range(1, 5):  # 1-3 never reach this process; 4 reveals the gap, 1 and 2 are trimmed
            await ann.command("call", method="server_publish", data={"room": "fragile:a", "data": n})
        frame = await ann.recv_op("unsubscribed")
        assert frame == {"op": "unsubscribed", "room": "fragile:a", "code": 3410, "reason": "history lost"}
        await ann.command("call", method="server_publish", data={"room": "feed:10", "data": "still live"})
        push = await ann.recv_op("message")
        assert (push["room"], push["data"]) == ("feed:10", "still live")
        reply = await ann.command("subscribe", room="fragile:a", since=reply_since)
        assert reply["ok"]["recovered"] is False and Position.parse(reply["ok"]["position"]).offset == 4


@pytest.mark.parametrize(
    ("token", "code", "reason"),
    [
        ("who?", 4003, "authentication refused"),
        ("expired", 4001, "token expired"),
        (None, 4003, "authentication refused"),
    ],
)
async def test_refused_and_expired_credentials_close_with_their_codes(
    e2e_server: Server, token: str | None, code: int, reason: str
) -> None:
    protocols: Any = ["sockjet.v1"] if token is None else ["sockjet.v1", token_subprotocol(token)]
    async with connect(f"{e2e_server.url}/ws", subprotocols=protocols, open_timeout=WAIT) as websocket:
        assert websocket.subprotocol == "sockjet.v1"
        with pytest.raises(ConnectionClosed) as closed:
            await websocket.recv()
    assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)


async def test_an_unsupported_protocol_version_closes_with_4002(e2e_server: Server) -> None:
    protocols: Any = ["sockjet.v9", token_subprotocol("user:ann")]
    async with connect(f"{e2e_server.url}/ws", subprotocols=protocols, open_timeout=WAIT) as websocket:
        assert websocket.subprotocol == "sockjet.v9"
        with pytest.raises(ConnectionClosed) as closed:
            await websocket.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, "protocol version unsupported")
