"""Channels series, through an in-process channels peer: each counted on the path that changes it."""

from __future__ import annotations

from typing import Any

from sockjet import Hub
from sockjet.channels import Channels, Connection, Refuse, RoomOptions
from tests.channels.helpers import Peer
from tests.metrics.conftest import Reading


def channels_of(hub: Hub) -> Channels:
    channels = Channels(hub, ping_interval=0)

    @channels.room("chat:{room_id}")
    async def chat(conn: Connection, room_id: str) -> RoomOptions:
        if room_id == "secret":
            raise Refuse("members only")
        return RoomOptions(publish=True, presence={"user": conn.user})

    @channels.rpc("add")
    async def add(conn: Connection, data: dict[str, int]) -> int:
        return data["a"] + data["b"]

    @channels.rpc("kick")
    async def kick(conn: Connection, data: str) -> None:
        await conn.unsubscribe(data, reason="you were kicked")

    return channels


async def connect(channels: Channels, user: str = "alice") -> Peer:
    peer = Peer(channels, user=user)
    assert (await peer.start())["op"] == "connected"
    return peer


def commands(metrics: Reading, op: str, code: int) -> float:
    return metrics("sockjet_channels_commands_total", op=op, code=code)


async def test_commands_are_counted_by_op_and_result_code(metrics: Reading) -> None:
    async with Hub(history_size=10) as hub:
        peer = await connect(channels_of(hub))
        assert "ok" in await peer.ask({"id": 1, "op": "subscribe", "room": "chat:1"})
        assert (await peer.ask({"id": 2, "op": "subscribe", "room": "chat:1"}))["error"]["code"] == 409
        assert (await peer.ask({"id": 3, "op": "subscribe", "room": "nowhere"}))["error"]["code"] == 404
        assert (await peer.ask({"id": 4, "op": "subscribe", "room": "chat:secret"}))["error"]["code"] == 403
        assert (await peer.ask({"id": 5, "op": "subscribe"}))["error"]["code"] == 400  # no room: malformed
        assert (await peer.ask({"id": 6, "op": "call", "method": "add", "data": {"a": 1, "b": 2}}))["ok"] == {"data": 3}
        assert (await peer.ask({"id": 7, "op": "call", "method": "nope"}))["error"]["code"] == 404
        assert (await peer.ask({"id": 8, "op": "presence", "room": "chat:2"}))["error"]["code"] == 403
        assert "ok" in await peer.ask({"id": 9, "op": "history", "room": "chat:1"})
        assert "ok" in await peer.ask({"id": 10, "op": "unsubscribe", "room": "chat:1"})
        peer.send("not json")
        assert (await peer.recv())["error"]["code"] == 400
        peer.send({"id": 11, "op": "dance"})
        assert (await peer.recv())["error"]["code"] == 400
        await peer.stop()
    assert commands(metrics, "subscribe", 0) == 1
    assert commands(metrics, "subscribe", 409) == 1
    assert commands(metrics, "subscribe", 404) == 1
    assert commands(metrics, "subscribe", 403) == 1
    assert commands(metrics, "subscribe", 400) == 1
    assert commands(metrics, "call", 0) == 1
    assert commands(metrics, "call", 404) == 1
    assert commands(metrics, "presence", 403) == 1  # not subscribed
    assert commands(metrics, "history", 0) == 1
    assert commands(metrics, "unsubscribe", 0) == 1
    assert commands(metrics, "unknown", 400) == 2  # not JSON; an op the protocol does not have (never its name)
    assert commands(metrics, "dance", 400) == 0


async def test_subscriptions_open_follow_subscribe_unsubscribe_kick_and_disconnect(metrics: Reading) -> None:
    async with Hub(history_size=10) as hub:
        peer = await connect(channels_of(hub))
        for n, room in enumerate(("chat:1", "chat:2", "chat:3"), start=1):
            await peer.ask({"id": n, "op": "subscribe", "room": room})
        assert metrics("sockjet_channels_subscriptions_open") == 3
        await peer.ask({"id": 4, "op": "unsubscribe", "room": "chat:1"})
        assert metrics("sockjet_channels_subscriptions_open") == 2
        peer.send({"id": 5, "op": "call", "method": "kick", "data": "chat:2"})
        frames = [await peer.recv(), await peer.recv()]
        assert {"op": "unsubscribed", "room": "chat:2", "code": 4403, "reason": "you were kicked"} in frames
        assert metrics("sockjet_channels_subscriptions_open") == 1
        await peer.stop()  # the client leaves while still subscribed to chat:3
    assert metrics("sockjet_channels_subscriptions_open") == 0
    assert metrics("sockjet_channels_pushes_total") == 1  # the unsubscribed push


async def test_pushes_count_messages_per_subscriber_presence_and_pings(metrics: Reading) -> None:
    async with Hub(history_size=10) as hub:
        channels = channels_of(hub)
        alice, bob = await connect(channels, "alice"), await connect(channels, "bob")
        for peer in (alice, bob):
            await peer.ask({"id": 1, "op": "subscribe", "room": "chat:1"})
        before = metrics("sockjet_channels_pushes_total")
        await hub.publish("chat:1", {"n": 1})
        for peer in (alice, bob):
            assert (await peer.recv())["op"] == "message"
        assert metrics("sockjet_channels_pushes_total") - before == 2  # one push per subscriber

        before = metrics("sockjet_channels_pushes_total")
        assert "ok" in await alice.ask({"id": 2, "op": "subscribe", "room": "chat:p", "presence_events": True})
        assert "state" in await alice.recv()  # the room's state, held back until the reply went out
        assert "joins" in await alice.recv()  # and her own join
        assert metrics("sockjet_channels_pushes_total") - before == 2
        before = metrics("sockjet_channels_pushes_total")
        await bob.ask({"id": 2, "op": "subscribe", "room": "chat:p"})
        change: dict[str, Any] = await alice.recv()
        assert change["op"] == "presence" and change["joins"][0]["info"] == {"user": "bob"}
        assert metrics("sockjet_channels_pushes_total") - before == 1

        connection = next(c for c in channels.connections if c.user == "bob")
        before = metrics("sockjet_channels_pushes_total")
        for _ in range(4):  # a look that sees its reply went out, then three quiet ones: a ping
            connection.tick(set())
        assert await bob.recv() == {"op": "ping"}
        assert metrics("sockjet_channels_pushes_total") - before == 1
        await alice.stop()
        await bob.stop()
