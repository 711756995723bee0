"""The client against a steerable protocol v1 server: reconnects, recovery, Resync, errors, closes."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from sockjet.client import (
    ChannelError,
    Client,
    ClientClosed,
    ClientState,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    Message,
    Position,
    PresenceEvent,
    Resync,
    Subscription,
    SubscriptionEnded,
)
from sockjet.client.events import Event
from tests.client.fake_server import FakeServer, fake_server
from tests.conftest import MS
from tests.timing import Backoff, until

FAST: Backoff = {"backoff_min": 10 * MS, "backoff_max": 50 * MS}


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with fake_server() as running:
        yield running


async def take(sub: Subscription, n: int, timeout: float = 5000 * MS) -> list[Event]:
    return [await asyncio.wait_for(sub.__anext__(), timeout) for _ in range(n)]


async def outage(server: FakeServer, client: Client) -> None:
    """Drop every connection and refuse new ones (1013, try again later) until ``back``."""
    server.token_check = lambda token: (1013, "try again later")
    server.drop_all()
    await until(lambda: client.state is ClientState.RECONNECTING)


async def back(server: FakeServer, client: Client) -> None:
    server.token_check = lambda token: None
    await until(lambda: client.state is ClientState.CONNECTED and len(server.conns) == 1)


def datas(events: list[Event]) -> list[Any]:
    return [e.data for e in events if isinstance(e, Message)]


async def test_subscribe_publish_and_receive(server: FakeServer) -> None:
    async with Client(server.url, token="s3cret") as client:
        assert (client.state, client.connection_id) == (ClientState.CONNECTED, "c1")
        sub = await client.subscribe("chat:1")
        assert (sub.position, sub.recovered, sub.missed) == (None, True, 0)
        position = await sub.publish({"text": "hi"})
        assert position == Position("e1", 1)
        [event] = await take(sub, 1)
        assert event == Message("chat:1", {"text": "hi"}, Position("e1", 1))
        assert sub.position == Position("e1", 1)
        assert await client.call("echo", [1, 2]) == [1, 2]
        assert await sub.presence() == {"c1": {"token": "s3cret"}}
        history = await sub.history(since="e1.0", limit=5)
        assert history.recovered and [m.data for m in history.messages] == [{"text": "hi"}]
        assert history.position == Position("e1", 1)
        assert set(client.subscriptions) == {"chat:1"}
    assert server.tokens == ["s3cret"]
    assert server.commands[-1] == {"id": 5, "op": "history", "room": "chat:1", "since": "e1.0", "limit": 5}
    assert client.state is ClientState.CLOSED


async def test_a_new_subscription_starts_at_the_rooms_position(server: FakeServer) -> None:
    for n in range(3):
        await server.publish("news", n)
    async with Client(server.url) as client:
        sub = await client.subscribe("news", params={"lang": "en"}, presence_events=True)
        assert sub.position == Position("e1", 3)
        await server.publish("news", 3)
        assert datas(await take(sub, 1)) == [3]
    assert server.commands[0] == {
        "id": 1,
        "op": "subscribe",
        "room": "news",
        "params": {"lang": "en"},
        "presence_events": True,
    }
    assert server.tokens == [None]


async def test_after_a_drop_what_was_missed_arrives_once_in_order_then_live(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        subs = [await client.subscribe(f"room:{n}") for n in range(3)]
        for sub in subs:
            await server.publish(sub.room, "before")
        for sub in subs:
            assert datas(await take(sub, 1)) == ["before"]
        await outage(server, client)
        for n in range(5):
            for sub in subs:
                await server.publish(sub.room, n)
        await back(server, client)
        for sub in subs:
            await server.publish(sub.room, "live")
        for sub in subs:
            assert datas(await take(sub, 6)) == [0, 1, 2, 3, 4, "live"]
            assert sub.recovered and sub.missed == 5 and sub.position == Position("e1", 7)
    resubscribes = [c for c in server.commands if c["op"] == "subscribe" and "since" in c]
    assert sorted(c["since"] for c in resubscribes) == ["e1.1", "e1.1", "e1.1"]


async def test_a_replay_that_repeats_a_message_is_deduplicated(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        await server.publish("chat:1", "a")
        await server.publish("chat:1", "b")
        await server.push_all({"op": "message", "room": "chat:1", "position": "e1.1", "data": "a again"})
        await server.publish("chat:1", "c")
        assert datas(await take(sub, 3)) == ["a", "b", "c"]


async def test_history_lost_unsubscribed_then_resubscribe_then_resync(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        other = await client.subscribe("chat:2")
        await server.publish("chat:1", "old")
        assert datas(await take(sub, 1)) == ["old"]
        server.lose_history("chat:1", new_epoch="e2")
        await server.publish("chat:1", "first of e2", deliver=False)  # lost, hence the unsubscribed push
        await server.unsubscribe_all("chat:1", 3410, "history lost")
        [resync] = await take(sub, 1)
        assert resync == Resync("chat:1", Position("e2", 1))
        assert sub.recovered is False and sub.position == Position("e2", 1)
        await server.publish("chat:1", "live")
        await server.publish("chat:2", "untouched")
        assert datas(await take(sub, 1)) == ["live"]
        assert datas(await take(other, 1)) == ["untouched"]
    assert [c.get("since") for c in server.commands if c["op"] == "subscribe"] == [None, None, "e1.1"]


async def test_a_resubscription_that_cannot_recover_after_a_drop_says_resync(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        await server.publish("chat:1", "a")
        assert datas(await take(sub, 1)) == ["a"]
        await outage(server, client)
        await server.publish("chat:1", "b")
        server.lose_history("chat:1")  # trimmed: e1.2 can no longer be replayed
        await back(server, client)
        [resync] = await take(sub, 1)
        assert resync == Resync("chat:1", Position("e1", 2))
        await server.publish("chat:1", "c")
        assert datas(await take(sub, 1)) == ["c"]


async def test_presence_events_are_delivered_only_when_asked(server: FakeServer) -> None:
    async with Client(server.url) as client:
        watching = await client.subscribe("chat:1", presence_events=True)
        blind = await client.subscribe("chat:2")
        await server.push_all({"op": "presence", "room": "chat:1", "state": [{"id": "c1", "info": {}}]})
        await server.push_all({"op": "presence", "room": "chat:1", "joins": [{"id": "c2", "info": {}}], "leaves": []})
        await server.push_all({"op": "presence", "room": "chat:2", "joins": [{"id": "c2", "info": {}}]})
        await server.push_all({"op": "some-future-push", "room": "chat:2"})
        await server.publish("chat:2", "after")
        assert await take(watching, 2) == [
            PresenceEvent("chat:1", state=({"id": "c1", "info": {}},)),
            PresenceEvent("chat:1", joins=({"id": "c2", "info": {}},)),
        ]
        assert datas(await take(blind, 1)) == ["after"]


async def test_errors_carry_the_protocols_code_and_message(server: FakeServer) -> None:
    server.refuse.add("chat:secret")
    async with Client(server.url) as client:
        with pytest.raises(ChannelError, match=re.escape("403: members only")) as refused:
            await client.subscribe("chat:secret")
        assert (refused.value.code, refused.value.message) == (403, "members only")
        assert "chat:secret" not in client.subscriptions
        news = await client.subscribe("news")
        with pytest.raises(ChannelError, match=re.escape("409: Already subscribed to 'news'.")):
            await client.subscribe("news")
        with pytest.raises(ChannelError, match=re.escape("403: Clients may not publish to 'news'.")):
            await news.publish({"text": "x"})
        chat = await client.subscribe("chat:1")
        with pytest.raises(ChannelError, match=re.escape("422: data failed validation")) as invalid:
            await chat.publish("not an object")
        assert invalid.value.details == [{"loc": [], "msg": "not an object", "type": "x"}]
        with pytest.raises(ChannelError, match=re.escape("404: No method named 'nope'.")):
            await client.call("nope")


async def test_get_token_is_awaited_before_every_connection(server: FakeServer) -> None:
    issued: list[str] = []

    async def get_token() -> str:
        issued.append(f"t{len(issued)}")
        return issued[-1]

    async with Client(server.url, get_token=get_token, **FAST) as client:
        server.drop_all()
        await until(lambda: len(issued) == 2 and client.state is ClientState.CONNECTED)
    assert server.tokens == ["t0", "t1"]


async def test_an_expired_token_asks_the_provider_for_a_new_one(server: FakeServer) -> None:
    tokens = ["stale", "fresh", "stale", "stale", "fresh"]
    issued: list[float] = []

    async def get_token() -> str:
        issued.append(time.monotonic())
        return tokens[len(issued) - 1]

    server.token_check = lambda token: (4001, "token expired") if token == "stale" else None
    async with Client(server.url, get_token=get_token, backoff_min=0.3, backoff_max=0.3) as client:
        sub = await client.subscribe("chat:1")  # the first connect was retried at once with a new token
        assert server.tokens == ["stale", "fresh"]
        server.drop_all()
        await until(lambda: server.tokens[-1:] == ["fresh"] and len(server.tokens) == 5)
        await until(lambda: client.state is ClientState.CONNECTED)
        await server.publish("chat:1", "back")
        assert datas(await take(sub, 1)) == ["back"]
    assert issued[3] - issued[2] < 0.1  # the first 4001 in a row: a new token at once


async def test_an_expired_token_without_a_provider_closes_the_client(server: FakeServer) -> None:
    server.token_check = lambda token: (4001, "token expired")
    with pytest.raises(ClientClosed, match=re.escape("The client is closed (4001: token expired).")) as closed:
        async with Client(server.url, token="old"):
            pass  # pragma: no cover - never reached
    assert (closed.value.code, closed.value.reason) == (4001, "token expired")


async def test_a_refused_token_is_not_retried_in_a_loop(server: FakeServer) -> None:
    async def get_token() -> str:
        return "wrong"

    server.token_check = lambda token: (4003, "authentication refused")
    with pytest.raises(ClientClosed, match=re.escape("(4003: authentication refused)")):
        await Client(server.url, get_token=get_token).connect()
    assert server.tokens == ["wrong"]


async def test_a_terminal_close_mid_session_raises_on_iteration(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        await server.publish("chat:1", "last")
        await server.close_all(1008, "too many malformed frames")
        assert datas(await take(sub, 1)) == ["last"]  # what arrived is still delivered
        with pytest.raises(ClientClosed, match=re.escape("(1008: too many malformed frames)")) as closed:
            await take(sub, 1)
        assert closed.value.code == 1008 and client.state is ClientState.CLOSED
        with pytest.raises(ClientClosed, match=re.escape("(1008: too many malformed frames)")):
            await sub.publish({"text": "x"})
        with pytest.raises(ClientClosed):
            await client.subscribe("chat:2")
    assert server.connections_made == 1


async def test_a_going_away_close_reconnects(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        await client.subscribe("chat:1")
        await server.close_all(1012, "service restart")
        await until(lambda: server.connections_made == 2 and client.state is ClientState.CONNECTED)


async def test_a_silent_link_is_dead_after_ping_plus_grace() -> None:
    async with fake_server(ping=0.2) as server:
        server.silent = True
        async with Client(server.url, ping_grace=0.2, **FAST) as client:
            started = time.monotonic()
            await until(lambda: server.connections_made == 2, 3000 * MS)
            assert time.monotonic() - started >= 0.35
            server.silent = False
            await until(lambda: client.state is ClientState.CONNECTED)


async def test_a_publish_in_flight_when_the_link_drops_is_connection_lost(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        server.hold_replies = True
        publish = asyncio.create_task(sub.publish({"text": "x"}))
        history = asyncio.create_task(sub.history())
        await until(lambda: len(server.commands) == 3)
        server.hold_replies = False
        server.drop_all()
        lost = "The connection dropped before the server answered publish."
        with pytest.raises(ConnectionLost, match=re.escape(lost)):
            await publish
        assert (await history).recovered  # a read: sent again on the next connection


async def test_a_command_without_reply_times_out(server: FakeServer) -> None:
    async with Client(server.url, command_timeout=0.2) as client:
        sub = await client.subscribe("chat:1")
        server.hold_replies = True
        with pytest.raises(CommandTimeout, match=re.escape("No reply to call within 0.2 s.")):
            await client.call("echo", 1)
        with pytest.raises(CommandTimeout, match=re.escape("No reply to subscribe 'chat:2' within 0.2 s.")):
            await client.subscribe("chat:2")
        assert set(client.subscriptions) == {sub.room}


async def test_a_command_waits_for_the_next_connection(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        await outage(server, client)
        subscribing = asyncio.create_task(client.subscribe("chat:1"))
        calling = asyncio.create_task(client.call("echo", "later"))
        await asyncio.sleep(100 * MS)
        assert not subscribing.done() and not calling.done()
        await back(server, client)
        assert (await subscribing).active and await calling == "later"


async def test_a_subscription_revoked_by_the_server_ends(server: FakeServer) -> None:
    async with Client(server.url) as client:
        sub = await client.subscribe("chat:1")
        await server.unsubscribe_all("chat:1", 4403, "revoked")
        with pytest.raises(SubscriptionEnded, match=re.escape("ended the subscription to 'chat:1' (4403: revoked)")):
            await take(sub, 1)
        assert not sub.active and "chat:1" not in client.subscriptions
        again = await client.subscribe("chat:1")
        assert again.active


async def test_a_resubscription_refused_ends_the_subscription_with_the_error(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        server.refuse.add("chat:1")
        server.drop_all()
        with pytest.raises(ChannelError, match=re.escape("403: members only")):
            await take(sub, 1)


async def test_unsubscribe_ends_iteration_and_close_ends_the_rest(server: FakeServer) -> None:
    client = Client(server.url)
    await client.connect()
    one = await client.subscribe("chat:1")
    two = await client.subscribe("chat:2")
    await server.publish("chat:1", "kept")
    await until(lambda: one.position is not None)
    await one.unsubscribe()
    await one.unsubscribe()  # once is enough
    assert [e async for e in one] == [Message("chat:1", "kept", Position("e1", 1))]
    assert server.commands[-1]["op"] == "unsubscribe"
    await client.close()
    await client.close()
    assert [e async for e in two] == []
    with pytest.raises(ClientClosed, match=re.escape("The client is closed (1000: closed by the client).")):
        await client.call("echo")
    with pytest.raises(RuntimeError, match=re.escape("Client.connect() was already called")):
        await client.connect()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:1/ws", "Cannot connect to 'http://127.0.0.1:1/ws': not a ws:// or wss:// URL."),
        ("ws://127.0.0.1:1/ws", "Cannot connect to ws://127.0.0.1:1/ws: Connect call failed"),
    ],
)
async def test_an_unreachable_server_is_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(ConnectError, match=re.escape(message)) as failed:
        async with Client(url):
            pass  # pragma: no cover - never reached
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    assert "\n" not in str(failed.value)


async def test_an_http_answer_is_one_clear_line() -> None:
    from tests.servers.servers import free_port

    port = free_port()

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", port)
    async with server:
        url = f"ws://127.0.0.1:{port}/nowhere"
        with pytest.raises(ConnectError, match=re.escape(f"Cannot connect to {url}: the server answered HTTP 404.")):
            await Client(url).connect()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token": "a", "get_token": object()}, "Give Client either token= or get_token=, not both."),
        ({"ping_grace": 0}, "ping_grace must be > 0 seconds, got 0."),
        ({"command_timeout": -1}, "command_timeout must be > 0 seconds, got -1."),
        ({"open_timeout": 0}, "open_timeout must be > 0 seconds, got 0."),
        ({"backoff_min": 0}, "backoff_min must be > 0 seconds, got 0."),
        ({"max_size": 0}, "max_size must be an int >= 1 (bytes), got 0."),
        ({"max_size": 1.5}, "max_size must be an int >= 1 (bytes), got 1.5."),
    ],
)
def test_options_that_cannot_work_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Client("ws://127.0.0.1:1/ws", **kwargs)


async def test_a_client_that_dropped_before_the_rooms_first_message_gets_it_from_history(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("fresh")
        assert sub.position is None  # never published to: the protocol has no position to give
        await outage(server, client)
        for n in range(3):
            await server.publish("fresh", n)
        await back(server, client)
        await server.publish("fresh", "live")
        assert datas(await take(sub, 4)) == [0, 1, 2, "live"]
        assert sub.recovered and sub.missed == 3 and sub.position == Position("e1", 4)


async def test_when_history_no_longer_starts_at_the_first_message_it_is_a_resync(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("fresh")
        await outage(server, client)
        await server.publish("fresh", "trimmed")
        server.lose_history("fresh")
        await server.publish("fresh", "kept")
        await back(server, client)
        [resync] = await take(sub, 1)
        assert resync == Resync("fresh", Position("e1", 2)) and sub.recovered is False
        await server.publish("fresh", "live")
        assert datas(await take(sub, 1)) == ["live"]


@pytest.mark.parametrize(
    "frame",
    [
        '{"op": "message", "room": "chat:1", "position": "not a token", "data": 1}',
        '{"op": "connected", "connection": "again", "ping": 25, "protocol": 1}',
    ],
)
async def test_a_frame_the_protocol_does_not_allow_drops_the_link_and_the_client_comes_back(
    server: FakeServer, frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        await server.send_raw(frame)
        await until(lambda: server.connections_made == 2 and client.state is ClientState.CONNECTED)
        await until(lambda: len(server.conns) == 1)
        await server.publish("chat:1", "after")
        assert datas(await take(sub, 1)) == ["after"]
    assert "sockjet client: The server sent" in caplog.text


async def test_replies_to_nothing_pending_and_pushes_for_other_rooms_are_ignored(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client(server.url) as client:
        sub = await client.subscribe("chat:1")
        await server.send_raw('{"id": 999, "ok": {}}')
        await server.send_raw('{"id": null, "error": {"code": 400, "message": "The frame is not valid JSON."}}')
        await server.send_raw('{"op": "message", "room": "elsewhere", "position": null, "data": 1}')
        await server.send_raw('{"op": "presence", "room": "elsewhere", "joins": [], "leaves": []}')
        await server.send_raw('{"op": "unsubscribed", "room": "elsewhere", "code": 3410, "reason": "history lost"}')
        await server.publish("chat:1", "still here")
        assert datas(await take(sub, 1)) == ["still here"]
    assert "the server answered an unknown command: 400: The frame is not valid JSON." in caplog.text


@pytest.mark.parametrize(
    ("first", "message"),
    [
        ('{"op": "ping"}', "The server's first frame is not connected"),
        ("[]", "The server sent a frame that is not a JSON object"),
    ],
)
async def test_a_server_that_does_not_say_connected_first(server: FakeServer, first: str, message: str) -> None:
    server.first_frame = first
    with pytest.raises(ConnectError, match=re.escape(f"Cannot connect to {server.url}: {message}")):
        await Client(server.url).connect()


async def test_a_server_that_says_nothing_is_a_timeout(server: FakeServer) -> None:
    server.first_frame = ""
    expected = f"Cannot connect to {server.url}: no connected frame within 0.2 s."
    with pytest.raises(ConnectError, match=re.escape(expected)):
        await Client(server.url, open_timeout=0.2).connect()


async def test_a_websocket_server_that_is_not_a_channels_server_is_named_as_such() -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0) as plain:  # selects no subprotocol, never says connected
        url = f"ws://127.0.0.1:{plain.sockets[0].getsockname()[1]}/"
        expected = (
            f"Cannot connect to {url}: no connected frame within 0.2 s"
            " (it selected no sockjet.v1 subprotocol: is it a sockjet channels server?)."
        )
        with pytest.raises(ConnectError, match=re.escape(expected)):
            await Client(url, open_timeout=0.2).connect()


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"HTTP/1.0 200 OK\r\n\r\n<html>", "unsupported protocol; expected HTTP/1.1: HTTP/1.0 200 OK"),
        (b"", "connection closed while reading HTTP status line"),
    ],
)
async def test_a_server_that_does_not_answer_in_http_is_one_line(answer: bytes, why: str) -> None:
    async def answer_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        writer.close()

    listener = await asyncio.start_server(answer_and_close, "127.0.0.1", 0)
    async with listener:
        url = f"ws://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
        expected = f"Cannot connect to {url}: no WebSocket handshake in its answer ({why})."
        with pytest.raises(ConnectError, match=f"^{re.escape(expected)}$"):
            await Client(url, open_timeout=2.0).connect()


async def test_a_first_connect_closed_with_a_reconnect_code_is_a_connect_error(server: FakeServer) -> None:
    server.token_check = lambda token: (1013, "try again later")
    expected = f"Cannot connect to {server.url}: the server closed the connection (1013 try again later)."
    with pytest.raises(ConnectError, match=re.escape(expected)):
        await Client(server.url).connect()


async def test_a_token_provider_that_fails_first_is_raised_then_retried_on_reconnect(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    async def get_token() -> str:
        calls.append(1)
        if len(calls) in (1, 3):
            raise RuntimeError("identity provider down")
        return "t"

    with pytest.raises(RuntimeError, match=re.escape("identity provider down")):
        await Client(server.url, get_token=get_token).connect()
    async with Client(server.url, get_token=get_token, **FAST) as client:
        server.drop_all()
        await until(lambda: len(calls) == 4 and client.state is ClientState.CONNECTED)
    assert "get_token failed (identity provider down): retrying" in caplog.text


async def test_a_refusal_while_reconnecting_closes_the_client_and_fails_what_waits(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        server.token_check = lambda token: (4003, "authentication refused")
        server.hold_replies = True
        waiting = asyncio.create_task(client.call("echo", 1))
        await until(lambda: len(server.commands) == 2)
        server.drop_all()
        with pytest.raises(ClientClosed, match=re.escape("(4003: authentication refused)")):
            await take(sub, 1)
        with pytest.raises(ConnectionLost):
            await waiting
        assert client.state is ClientState.CLOSED


async def test_closing_fails_the_commands_in_flight(server: FakeServer) -> None:
    client = Client(server.url)
    await client.connect()
    await client.subscribe("chat:1")
    server.hold_replies = True
    waiting = asyncio.create_task(client.call("echo", 1))
    subscribing = asyncio.create_task(client.subscribe("chat:2"))
    await until(lambda: len(server.commands) == 3)
    await client.close()
    with pytest.raises(ClientClosed, match=re.escape("(1000: closed by the client)")):
        await waiting
    with pytest.raises(ClientClosed, match=re.escape("(1000: closed by the client)")):
        await subscribing
    assert repr(client) == f"<Client {server.url} CLOSED>"


async def test_an_unsubscribe_in_flight_when_the_link_drops_is_done(server: FakeServer) -> None:
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        server.hold_replies = True
        leaving = asyncio.create_task(sub.unsubscribe())
        await until(lambda: len(server.commands) == 2)
        server.hold_replies = False
        server.drop_all()
        await leaving
        await until(lambda: client.state is ClientState.CONNECTED and len(server.conns) == 1)
        assert client.subscriptions == {}
        assert [c["op"] for c in server.commands] == ["subscribe", "unsubscribe"]


async def test_without_pings_there_is_no_liveness_check() -> None:
    async with fake_server(ping=0) as server, Client(server.url, ping_grace=0.05) as client:
        await asyncio.sleep(300 * MS)
        assert client.state is ClientState.CONNECTED and server.connections_made == 1


async def test_pings_keep_a_quiet_link_alive() -> None:
    async with fake_server(ping=0.1) as server, Client(server.url, ping_grace=0.1) as client:
        await asyncio.sleep(600 * MS)
        assert client.state is ClientState.CONNECTED and server.connections_made == 1


async def test_waiting_for_a_connection_is_bounded_by_the_command_timeout(server: FakeServer) -> None:
    async with Client(server.url, command_timeout=0.2, backoff_reset_after=0.0, **FAST) as client:
        sub = await client.subscribe("chat:1")
        await outage(server, client)
        with pytest.raises(CommandTimeout, match=re.escape("No connection for call within 0.2 s.")):
            await client.call("echo", 1)
        await back(server, client)
        server.hold_replies = True
        with pytest.raises(CommandTimeout, match=re.escape("No reply to unsubscribe within 0.2 s.")):
            await sub.unsubscribe()
        assert not sub.active


async def test_a_server_that_never_answers_the_handshake_is_one_clear_line() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws"
        with pytest.raises(ConnectError, match=re.escape(f"Cannot connect to {url}: no answer within 0.2 s.")):
            await Client(url, open_timeout=0.2).connect()
        for writer in writers:
            writer.close()
            await writer.wait_closed()


async def test_a_resubscription_over_the_command_rate_is_retried(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sockjet.client.client.RESUBSCRIBE_RETRY", 0.05)
    async with Client(server.url, **FAST) as client:
        sub = await client.subscribe("chat:1")
        await server.publish("chat:1", "a")
        assert datas(await take(sub, 1)) == ["a"]
        await outage(server, client)
        await server.publish("chat:1", "b")
        server.too_many = 2
        await back(server, client)
        assert datas(await take(sub, 1)) == ["b"]  # after two 429s, the third resubscription went through
        assert sub.active and server.too_many == 0
        with pytest.raises(ChannelError, match=re.escape("429: Too many commands")):
            server.too_many = 1
            await client.subscribe("chat:2")  # a first subscribe: the application decides
