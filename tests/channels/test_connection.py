"""A channels connection in this process (fake ASGI, a real Hub): every op, error code and push."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from typing import Any

import pytest

from sockjet import Hub, status
from sockjet.channels import Channels, Connection, Refuse, RoomOptions, token_subprotocol
from sockjet.channels.codec import Codec
from sockjet.hub.position import Position
from tests.asgi import websocket_scope
from tests.channels.helpers import Peer
from tests.conftest import MS
from tests.hub_fakes import FakeSocket


@dataclasses.dataclass
class Text:
    text: str


def declare(channels: Channels) -> None:
    @channels.room("chat:{room_id}")
    async def chat(conn: Connection, room_id: str, params: dict[str, Any]) -> RoomOptions | None:
        if room_id == "secret":
            raise Refuse("members only")
        if room_id == "broken":
            raise RuntimeError("boom")
        if params.get("quiet"):
            return RoomOptions(presence_events=False)
        return RoomOptions(presence={"user": conn.user})

    @chat.on_publish
    async def chat_publish(conn: Connection, room_id: str, data: Text) -> dict[str, Any]:
        if data.text == "forbidden":
            raise Refuse("mind your words")
        if data.text == "crash":
            raise RuntimeError("publish handler bug")
        if data.text == "unencodable":
            return {"x": object()}
        return {"user": conn.user, "room": room_id, "text": data.text}

    @channels.room("news")
    async def news(conn: Connection) -> None:
        return None

    @channels.room("open:{name}")
    async def open_room(conn: Connection, name: str) -> RoomOptions:
        return RoomOptions(publish=True)

    @channels.rpc("add")
    async def add(conn: Connection, data: dict[str, int]) -> int:
        return data["a"] + data["b"]

    @channels.rpc("whoami")
    async def whoami(conn: Connection) -> dict[str, Any]:
        return {"user": conn.user, "rooms": sorted(conn.rooms)}

    @channels.rpc("deny")
    async def deny(conn: Connection, data: Any) -> None:
        raise Refuse("not you")

    @channels.rpc("weird")
    async def weird(conn: Connection) -> object:
        return object()

    @channels.rpc("slow")
    async def slow(conn: Connection) -> str:
        await asyncio.sleep(3600)
        return "never"

    @channels.rpc("kick")
    async def kick(conn: Connection, data: str) -> None:
        await conn.unsubscribe(data, reason="you were kicked")

    @channels.rpc("count")
    async def count(conn: Connection) -> int:
        conn.state["calls"] = conn.state.get("calls", 0) + 1
        return int(conn.state["calls"])

    @channels.room("big:{n}")
    async def big(conn: Connection, n: str) -> RoomOptions:
        return RoomOptions(presence={"blob": "x" * 5000})

    @channels.rpc("bye")
    async def bye(conn: Connection) -> None:
        conn.close(status.WS_4003_AUTHENTICATION_REFUSED, "session ended")


@pytest.fixture
def channels(hub: Hub) -> Channels:
    channels = Channels(hub, ping_interval=0)
    declare(channels)
    return channels


async def connect(channels: Channels, **kwargs: Any) -> Peer:
    peer = Peer(channels, user=kwargs.pop("user", "alice"), **kwargs)
    hello = await peer.start()
    assert hello["op"] == "connected" and hello["protocol"] == 1 and len(hello["connection"]) == 16
    return peer


async def until(peer: Peer, predicate: Any) -> dict[str, Any]:
    """The first frame that satisfies ``predicate`` (presence frames may repeat what the state held)."""
    while True:
        frame = await peer.recv()
        if predicate(frame):
            return frame


def error(frame: dict[str, Any]) -> tuple[int, str]:
    return frame["error"]["code"], frame["error"]["message"]


async def test_subscribe_publish_and_leave(channels: Channels) -> None:
    peer = await connect(channels)
    subscribed = (await peer.ask({"id": 1, "op": "subscribe", "room": "chat:1"}))["ok"]
    assert subscribed == {"room": "chat:1", "position": subscribed["position"], "recovered": True, "missed": 0}
    assert Position.parse(subscribed["position"]).offset == 0  # a stream from the start: a place to resume from
    peer.send({"id": 2, "op": "publish", "room": "chat:1", "data": {"text": "hi"}})
    push, reply = await peer.recv(), await peer.recv()
    assert push == {
        "op": "message",
        "room": "chat:1",
        "position": reply["ok"]["position"],
        "data": {"user": "alice", "room": "1", "text": "hi"},
    }
    assert Position.parse(reply["ok"]["position"]).offset == 1
    assert (await peer.ask({"id": 3, "op": "call", "method": "whoami"}))["ok"] == {
        "data": {"user": "alice", "rooms": ["chat:1"]}
    }
    assert (await peer.ask({"id": 4, "op": "unsubscribe", "room": "chat:1"}))["ok"] == {}
    assert (await peer.ask({"id": 5, "op": "unsubscribe", "room": "chat:1"}))["ok"] == {}  # idempotent
    await channels.hub.publish("chat:1", {"after": True})
    assert (await peer.ask({"id": 6, "op": "call", "method": "whoami"}))["ok"]["data"]["rooms"] == []
    assert peer.pending() == []
    await peer.stop()
    assert channels.connections == frozenset()


async def test_server_code_and_plain_members_share_the_rooms(channels: Channels, hub: Hub) -> None:
    peer = await connect(channels)
    await peer.ask({"id": 1, "op": "subscribe", "room": "open:x"})
    plain = FakeSocket()
    await plain.accept()
    async with hub.join("open:x", plain.websocket):
        position = await hub.publish("open:x", "from the server")
        assert await peer.recv() == {
            "op": "message",
            "room": "open:x",
            "position": str(position),
            "data": "from the server",
        }
        await hub.publish("open:x", b"\x01")
        assert (await peer.recv())["bytes"] == "AQ=="
        peer.send({"id": 2, "op": "publish", "room": "open:x", "data": [1, "two"]})
        assert (await peer.recv())["data"] == [1, "two"]
        assert (await peer.recv())["ok"]["position"].endswith(".3")
        await plain.wait_data(3)
        assert plain.data[2] == '[1,"two"]'
    await peer.stop()


async def test_a_room_without_history_has_no_positions(channels: Channels) -> None:
    hub = Hub()
    plain_channels = Channels(hub, ping_interval=0)
    declare(plain_channels)
    async with hub:
        peer = await connect(plain_channels)
        reply = await peer.ask({"id": 1, "op": "subscribe", "room": "open:a", "since": "e.1"})
        assert reply["ok"] == {"room": "open:a", "position": None, "recovered": False, "missed": 0}
        peer.send({"id": 2, "op": "publish", "room": "open:a", "data": {"n": 1}})
        assert await peer.recv() == {"op": "message", "room": "open:a", "position": None, "data": {"n": 1}}
        assert (await peer.recv())["ok"] == {"position": None}
        assert (await peer.ask({"id": 3, "op": "history", "room": "open:a"}))["ok"] == {
            "position": None,
            "recovered": True,
            "messages": [],
        }
        assert (await peer.ask({"id": 4, "op": "history", "room": "open:a", "since": "e.1"}))["ok"][
            "recovered"
        ] is False
        await peer.stop()


async def test_recovery_replays_what_was_missed_after_the_reply(channels: Channels, hub: Hub) -> None:
    first = await hub.publish("news", {"n": 1})
    assert first is not None
    for n in (2, 3):
        await hub.publish("news", {"n": n})
    peer = await connect(channels)
    reply = await peer.ask({"id": 1, "op": "subscribe", "room": "news", "since": str(first)})
    assert reply["ok"] == {"room": "news", "position": f"{first.epoch}.3", "recovered": True, "missed": 2}
    assert [(await peer.recv())["data"] for _ in range(2)] == [{"n": 2}, {"n": 3}]
    await hub.publish("news", {"n": 4})
    assert (await peer.recv())["position"] == f"{first.epoch}.4"
    history = await peer.ask({"id": 2, "op": "history", "room": "news", "since": str(first), "limit": 1})
    assert history["ok"] == {
        "position": f"{first.epoch}.4",
        "recovered": True,
        "messages": [{"position": f"{first.epoch}.2", "data": {"n": 2}}],
    }
    await hub.publish("news", b"\x00")
    await peer.recv()
    history = await peer.ask({"id": 3, "op": "history", "room": "news", "since": f"{first.epoch}.4"})
    assert history["ok"]["messages"] == [{"position": f"{first.epoch}.5", "bytes": "AA=="}]
    other = await connect(channels)
    reply = await other.ask({"id": 1, "op": "subscribe", "room": "news", "since": "gone.2"})
    assert reply["ok"] == {"room": "news", "position": f"{first.epoch}.5", "recovered": False, "missed": 0}
    await peer.stop()
    await other.stop()


async def test_live_messages_during_a_subscribe_follow_its_reply(
    channels: Channels, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, go = asyncio.Event(), asyncio.Event()
    peer = await connect(channels)
    await hub.publish("chat:slow", "before")
    real_join = hub._presence.join

    async def join(*args: Any) -> None:
        started.set()
        await go.wait()  # the subscription is live in the hub, its reply not sent yet
        await real_join(*args)

    monkeypatch.setattr(hub._presence, "join", join)
    peer.send({"id": 1, "op": "subscribe", "room": "chat:slow"})
    await started.wait()
    await hub.publish("chat:slow", "during")
    await hub.publish("chat:slow", "during 2")
    go.set()
    reply = await peer.recv()
    assert reply["ok"]["position"].endswith(".1") and reply["ok"]["missed"] == 0
    assert [(await peer.recv())["data"] for _ in range(2)] == ["during", "during 2"]
    await peer.stop()


async def test_presence_and_presence_events(channels: Channels) -> None:
    alice = await connect(channels, user="alice")
    reply = await alice.ask({"id": 1, "op": "subscribe", "room": "chat:p", "presence_events": True})
    assert reply["ok"]["room"] == "chat:p"
    state = await alice.recv()
    assert state["op"] == "presence" and state["room"] == "chat:p" and len(state["state"]) == 1
    bob = await connect(channels, user="bob")
    await bob.ask({"id": 1, "op": "subscribe", "room": "chat:p"})
    joined = await until(alice, lambda f: any(e["info"] == {"user": "bob"} for e in f.get("joins", ())))
    assert joined["op"] == "presence" and joined["room"] == "chat:p"
    presence = (await bob.ask({"id": 2, "op": "presence", "room": "chat:p"}))["ok"]["presence"]
    assert sorted(info["user"] for info in presence.values()) == ["alice", "bob"]
    await bob.stop()
    await until(alice, lambda f: any(e["info"] == {"user": "bob"} for e in f.get("leaves", ())))
    quiet = await connect(channels)
    reply = await quiet.ask(
        {"id": 1, "op": "subscribe", "room": "chat:q", "params": {"quiet": True}, "presence_events": True}
    )
    assert error(reply) == (403, "Presence events are not allowed in 'chat:q'.")
    await quiet.ask({"id": 2, "op": "subscribe", "room": "chat:q", "params": {"quiet": True}})
    assert error(await quiet.ask({"id": 3, "op": "presence", "room": "chat:q"})) == (
        403,
        "Presence is not visible in 'chat:q'.",
    )
    await alice.stop()
    await quiet.stop()


async def test_every_error_code(channels: Channels, hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    peer = await connect(channels)
    peer.send("not json")
    assert error(await peer.recv()) == (400, "The frame is not valid JSON.")
    peer.send(b"\x00")
    assert error(await peer.recv())[0] == 400
    assert error(await peer.ask({"id": 1, "op": "subscribe", "room": "chat:secret"})) == (403, "members only")
    assert error(await peer.ask({"id": 2, "op": "subscribe", "room": "lobby"})) == (404, "No room matches 'lobby'.")
    await peer.ask({"id": 3, "op": "subscribe", "room": "news"})
    assert error(await peer.ask({"id": 4, "op": "subscribe", "room": "news"})) == (409, "Already subscribed to 'news'.")
    assert error(await peer.ask({"id": 5, "op": "publish", "room": "news", "data": 1})) == (
        403,
        "Clients may not publish to 'news'.",
    )
    assert error(await peer.ask({"id": 6, "op": "publish", "room": "chat:9", "data": 1})) == (
        403,
        "Not subscribed to 'chat:9': subscribe first.",
    )
    assert error(await peer.ask({"id": 7, "op": "history", "room": "nope"})) == (404, "No room matches 'nope'.")
    await peer.ask({"id": 8, "op": "subscribe", "room": "chat:9"})
    reply = await peer.ask({"id": 9, "op": "publish", "room": "chat:9", "data": {"text": 5}})
    assert reply["error"] == {
        "code": 422,
        "message": "data failed validation",
        "details": [{"loc": ["text"], "msg": "Input should be a valid string", "type": "string_type"}],
    }
    assert error(await peer.ask({"id": 10, "op": "publish", "room": "chat:9", "data": {"text": "forbidden"}})) == (
        403,
        "mind your words",
    )
    with caplog.at_level(logging.ERROR, "sockjet.channels"):
        assert error(await peer.ask({"id": 11, "op": "publish", "room": "chat:9", "data": {"text": "crash"}})) == (
            500,
            "The publish handler of room 'chat:9' failed; the error is logged on the server.",
        )
        assert error(await peer.ask({"id": 12, "op": "subscribe", "room": "chat:broken"})) == (
            500,
            "The handler of room 'chat:broken' failed; the error is logged on the server.",
        )
        assert error(await peer.ask({"id": 13, "op": "call", "method": "weird"})) == (
            500,
            "The method 'weird' failed; the error is logged on the server.",
        )
    assert "publish handler bug" in caplog.text and "boom" in caplog.text
    code, message = error(
        await peer.ask({"id": 14, "op": "publish", "room": "chat:9", "data": {"text": "unencodable"}})
    )
    assert code == 500 and message.startswith("Could not publish to 'chat:9': Cannot publish 'dict'")
    assert error(await peer.ask({"id": 15, "op": "call", "method": "nope"})) == (404, "No method named 'nope'.")
    assert error(await peer.ask({"id": 16, "op": "call", "method": "deny", "data": 1})) == (403, "not you")
    reply = await peer.ask({"id": 17, "op": "call", "method": "add", "data": {"a": 1, "b": "2"}})
    assert reply["error"]["code"] == 422 and reply["error"]["details"][0]["loc"] == ["b"]
    assert peer.pending() == []
    await peer.stop()


async def test_limits_answer_413_and_429_and_the_malformed_budget_closes() -> None:
    async with Hub(max_payload=50) as hub:
        channels = Channels(hub, ping_interval=0, max_subscriptions=1, command_rate=(3, 60.0), max_frame_size=120)
        declare(channels)
        peer = await connect(channels)
        await limits(peer)
        await peer.stop()


async def limits(peer: Peer) -> None:
    await peer.ask({"id": 1, "op": "subscribe", "room": "open:big"})
    reply = await peer.ask({"id": 2, "op": "subscribe", "room": "chat:1"})
    assert error(reply) == (429, "Too many subscriptions: at most 1 per connection.")
    reply = await peer.ask({"id": 3, "op": "publish", "room": "open:big", "data": "x" * 100})
    assert error(reply) == (413, "The frame is 158 bytes; this server takes at most 120 bytes per frame.")
    reply = await peer.ask({"id": 3, "op": "publish", "room": "open:big", "data": "x" * 52})
    assert error(reply) == (413, "The data is too large: this server takes at most 50 bytes per message.")
    assert error(await peer.ask({"id": 4, "op": "unsubscribe", "room": "news"})) == (
        429,
        "Too many commands: at most 3 per 60 s.",
    )
    for _ in range(10):
        peer.send("{")
        assert error(await peer.recv())[0] == 400
    peer.send("{")
    assert await peer.recv() == {"closed": 1008, "reason": "too many malformed frames"}


async def test_calls_run_beside_room_commands(channels: Channels) -> None:
    peer = await connect(channels)
    peer.send({"id": 1, "op": "call", "method": "slow"})
    assert (await peer.ask({"id": 2, "op": "call", "method": "add", "data": {"a": 1, "b": 2}}))["ok"] == {"data": 3}
    assert (await peer.ask({"id": 3, "op": "subscribe", "room": "news"}))["ok"]["room"] == "news"
    peer.send({"id": 1, "op": "call", "method": "add", "data": {"a": 1, "b": 1}})
    assert error(await peer.recv()) == (
        400,
        "Command id 1 is already pending: use an id unique among commands awaiting a reply.",
    )
    await peer.stop()  # the slow call is cancelled


async def test_the_app_can_revoke_a_subscription_and_close_the_connection(channels: Channels) -> None:
    peer = await connect(channels)
    await peer.ask({"id": 1, "op": "subscribe", "room": "news"})
    peer.send({"id": 2, "op": "call", "method": "kick", "data": "news"})
    assert await peer.recv() == {"op": "unsubscribed", "room": "news", "code": 4403, "reason": "you were kicked"}
    assert (await peer.recv())["ok"] == {"data": None}
    assert (await peer.ask({"id": 3, "op": "call", "method": "kick", "data": "news"}))["ok"] == {"data": None}
    assert (await peer.ask({"id": 4, "op": "subscribe", "room": "news"}))["ok"]["room"] == "news"
    peer.send({"id": 5, "op": "call", "method": "bye"})  # closed at once: its reply is not sent
    assert await peer.recv() == {"closed": 4003, "reason": "session ended"}
    await peer.stop()


async def test_history_lost_for_one_room_ends_that_subscription_only(hub: Hub) -> None:
    async with Hub(history_size=2) as small:
        channels = Channels(small, ping_interval=0)
        declare(channels)
        peer = await connect(channels)
        await peer.ask({"id": 1, "op": "subscribe", "room": "news"})
        await peer.ask({"id": 2, "op": "subscribe", "room": "open:other"})
        history = small._history
        assert history is not None
        real = history.deliver
        history.deliver = lambda p: None if p.room == "news" and 2 <= p.offset <= 4 else real(p)  # type: ignore[method-assign,assignment]
        await small.publish("news", 1)
        assert (await peer.recv())["data"] == 1
        for n in range(2, 6):
            await small.publish("news", n)  # 2 is trimmed by the time 5 reveals the gap
        assert await peer.recv() == {"op": "unsubscribed", "room": "news", "code": 3410, "reason": "history lost"}
        await small.publish("open:other", "still here")
        assert (await peer.recv())["data"] == "still here"
        history.deliver = real  # type: ignore[method-assign]
        reply = await peer.ask({"id": 3, "op": "subscribe", "room": "news", "since": "x.1"})
        assert reply["ok"]["recovered"] is False and reply["ok"]["position"].endswith(".5")
        await peer.stop()


async def test_one_outbox_for_all_rooms_and_a_slow_client_is_closed(hub: Hub) -> None:
    async with Hub(max_queue=4) as small:
        channels = Channels(small, ping_interval=0)
        declare(channels)
        peer = await connect(channels)
        for n, room in enumerate(("open:a", "open:b"), start=1):
            await peer.ask({"id": n, "op": "subscribe", "room": room})
        member = small.member(peer.websocket)
        assert member is not None and member.rooms == {"open:a", "open:b"}
        peer.released.clear()  # the client stops reading
        for n in range(4):
            await small.publish("open:a" if n % 2 else "open:b", n)
        assert member.queued == 3  # one in flight, both rooms in the one outbox
        await small.publish("open:a", "fits")
        assert member.queued == 4
        await small.publish("open:a", "over")
        peer.released.set()
        assert await peer.recv() == {"closed": 1013, "reason": "outbox full"}
        await peer.stop()


async def test_a_publish_is_encoded_once_for_every_subscriber(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    peers = [await connect(channels) for _ in range(5)]
    for peer in peers:
        await peer.ask({"id": 1, "op": "subscribe", "room": "news"})
    calls = []
    real = Codec.frame

    def counting(self: Codec, source: Any) -> Any:
        calls.append(source)
        return real(self, source)

    monkeypatch.setattr(Codec, "frame", counting)
    await channels.hub.publish("news", {"once": True})
    pushes = [await peer.recv() for peer in peers]
    assert len(calls) == 1 and all(push["data"] == {"once": True} for push in pushes)
    for peer in peers:
        await peer.stop()


async def test_protocol_versions_and_credentials(channels: Channels) -> None:
    peer = Peer(channels, subprotocols=["sockjet.v1", token_subprotocol("t")])
    await peer.start()
    assert peer.accepted is not None and peer.accepted["subprotocol"] == "sockjet.v1"
    await peer.stop()
    future = Peer(channels, subprotocols=["sockjet.v2"])
    assert await future.start() == {"closed": 4002, "reason": "protocol version unsupported"}
    assert future.accepted is not None and future.accepted["subprotocol"] == "sockjet.v2"
    await future.stop()
    refused = Peer(channels, subprotocols=["sockjet.v1"])
    refused.incoming.put_nowait({"type": "websocket.connect"})
    await channels.reject(refused.websocket, status.WS_4001_TOKEN_EXPIRED, "token expired")
    assert await refused.recv() == {"closed": 4001, "reason": "token expired"}


async def test_pings_when_nothing_else_was_sent(hub: Hub) -> None:
    channels = Channels(hub, ping_interval=40 * MS)
    declare(channels)
    peer = await connect(channels)
    await peer.ask({"id": 1, "op": "subscribe", "room": "news"})
    assert await peer.recv(timeout=1000 * MS) == {"op": "ping"}
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(8):  # messages keep the link busy: no ping among them
        await hub.publish("news", n)
        assert (await peer.recv())["op"] == "message"
        await asyncio.sleep(10 * MS)
    assert loop.time() - start >= 60 * MS
    await peer.stop()
    assert channels._ticker is None


async def test_channels_is_an_asgi_app(hub: Hub) -> None:
    channels = Channels(hub, ping_interval=0)
    declare(channels)
    frames: list[Any] = []
    incoming: asyncio.Queue[Any] = asyncio.Queue()
    for message in (
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": json.dumps({"id": 1, "op": "call", "method": "whoami"})},
    ):
        incoming.put_nowait(message)

    async def send(message: Any) -> None:
        frames.append(message)
        if len(frames) == 3:
            incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    await asyncio.wait_for(channels(websocket_scope(), incoming.get, send), 2000 * MS)
    assert json.loads(frames[2]["text"]) == {"id": 1, "ok": {"data": {"user": None, "rooms": []}}}
    http: list[Any] = []

    async def no_body() -> Any:
        return {"type": "http.request", "body": b""}

    async def record(message: Any) -> None:
        http.append(message)

    await channels({"type": "http", "method": "GET", "path": "/", "headers": []}, no_body, record)
    assert http[0]["status"] == 404


async def test_the_asgi_lifespan_starts_and_closes_the_hub() -> None:
    hub = Hub("redis://127.0.0.1:1/0", timeout=50 * MS)
    assert (await lifespan(Channels(Hub())))[0]["type"] == "lifespan.startup.complete"
    failed = (await lifespan(Channels(hub)))[0]
    assert failed["type"] == "lifespan.startup.failed" and "Cannot connect" in failed["message"]


async def lifespan(target: Channels) -> list[Any]:
    messages: asyncio.Queue[Any] = asyncio.Queue()
    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        messages.put_nowait(message)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(target({"type": "lifespan"}, messages.get, send), 2000 * MS)
    return sent


def test_bad_options_are_refused() -> None:
    from sockjet.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match=re.escape("Channels needs a sockjet Hub, got None.")):
        Channels(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=re.escape("ping_interval must be a number of seconds >= 0")):
        Channels(Hub(), ping_interval=-1)
    assert "0 room pattern(s), 0 open" in repr(Channels(Hub()))


async def test_two_channels_on_one_hub_and_a_plain_member_share_a_room(hub: Hub) -> None:
    first, second = Channels(hub, ping_interval=0), Channels(hub, ping_interval=0)
    declare(first)
    declare(second)
    peers = [await connect(first), await connect(first), await connect(second), await connect(second)]
    for peer in peers:
        await peer.ask({"id": 1, "op": "subscribe", "room": "news"})
    plain = FakeSocket()
    await plain.accept()
    async with hub.join("news", plain.websocket):
        position = await hub.publish("news", {"n": 1})
        for peer in peers:
            assert await peer.recv() == {"op": "message", "room": "news", "position": str(position), "data": {"n": 1}}
        assert await plain.wait_data(1) == ['{"n":1}']
    for peer in peers:
        await peer.stop()
    assert hub._codecs == {} and hub._framed == {}
    assert "Connection" in repr(Connection(first, plain.websocket, "u", None))


async def test_state_hub_failures_and_a_loss_while_subscribing(
    channels: Channels, hub: Hub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sockjet.exceptions import HubError

    peer = await connect(channels)
    assert [(await peer.ask({"id": n, "op": "call", "method": "count"}))["ok"]["data"] for n in (1, 2)] == [1, 2]
    with caplog.at_level(logging.ERROR, "sockjet.channels"):
        code, message = error(await peer.ask({"id": 3, "op": "subscribe", "room": "big:1"}))
    assert code == 500 and message.startswith("Could not subscribe to 'big:1': ")
    await peer.ask({"id": 4, "op": "subscribe", "room": "news"})

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise HubError("the broker is away")

    monkeypatch.setattr(hub, "presence", down)
    monkeypatch.setattr(hub, "history", down)
    assert error(await peer.ask({"id": 5, "op": "presence", "room": "news"})) == (
        500,
        "Could not read the presence of 'news': the broker is away",
    )
    assert error(await peer.ask({"id": 6, "op": "history", "room": "news"})) == (
        500,
        "Could not read the history of 'news': the broker is away",
    )
    monkeypatch.undo()
    started, go = asyncio.Event(), asyncio.Event()
    real_join = hub._presence.join

    async def join(*args: Any) -> None:
        started.set()
        await go.wait()
        await real_join(*args)

    monkeypatch.setattr(hub._presence, "join", join)
    peer.send({"id": 7, "op": "subscribe", "room": "chat:late"})
    await started.wait()
    (connection,) = channels.connections
    connection.lost("chat:late")  # the room's history is lost while its subscribe goes live
    go.set()
    assert (await peer.recv())["ok"]["room"] == "chat:late"
    assert await peer.recv() == {"op": "unsubscribed", "room": "chat:late", "code": 3410, "reason": "history lost"}
    monkeypatch.undo()
    assert (await peer.ask({"id": 8, "op": "subscribe", "room": "chat:late"}))["ok"]["room"] == "chat:late"
    connection.lost("chat:late")
    connection.lost("chat:late")  # once is enough
    assert (await peer.recv())["op"] == "unsubscribed"
    assert (await peer.ask({"id": 9, "op": "unsubscribe", "room": "chat:late"}))["ok"] == {}
    await peer.stop()
