"""The Python client against the real channels server on a real uvicorn (tests/e2e/channels_client_app.py):
many rooms on one connection, recovery after a cut TCP connection, history lost for one room, refusals,
tokens, ``kill -9`` of one of two workers on Redis and on NATS, and 1,000 clients."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from sockjet.client import (
    ChannelError,
    Client,
    ClientClosed,
    ClientState,
    Message,
    Position,
    Resync,
    Subscription,
)
from sockjet.client.events import Event
from tests.conftest import MS
from tests.servers.nats_server import running_nats
from tests.servers.redis_server import running_redis
from tests.servers.servers import Server, free_port, start_process, stop_process
from tests.servers.tcp_proxy import tcp_proxy
from tests.timing import Backoff, until

pytestmark = [pytest.mark.e2e]

APP = "tests.e2e.channels_client_app:app"
FAST: Backoff = {"backoff_min": 20 * MS, "backoff_max": 200 * MS}


def start_app(env: dict[str, str] | None = None) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return start_process(argv, port, env=env)


def stop(server: Server) -> None:
    stop_process(server.process)
    if server.process.stdout is not None:
        server.process.stdout.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    running = start_app()
    try:
        yield running
    finally:
        stop(running)


def ws_url(server: Server | int) -> str:
    port = server if isinstance(server, int) else server.port
    return f"ws://127.0.0.1:{port}/ws"


async def take(sub: Subscription, n: int, timeout: float = 10000 * MS) -> list[Event]:
    return [await asyncio.wait_for(sub.__anext__(), timeout) for _ in range(n)]


def offsets(events: list[Event]) -> list[int]:
    return [e.position.offset for e in events if isinstance(e, Message) and e.position is not None]


async def test_one_connection_in_ten_rooms(server: Server) -> None:
    async with Client(ws_url(server), token="ada") as reader, Client(ws_url(server), token="bob") as writer:
        rooms = [f"room:ten-{n}" for n in range(10)]
        subs = [await reader.subscribe(room) for room in rooms]
        outs = [await writer.subscribe(room) for room in rooms]
        for i in range(5):
            for out in outs:
                assert (await out.publish({"i": i, "room": out.room})).offset == i + 1  # type: ignore[union-attr]
        for sub in subs:
            events = await take(sub, 5)
            assert [e.data for e in events if isinstance(e, Message)] == [{"i": i, "room": sub.room} for i in range(5)]
            assert offsets(events) == [1, 2, 3, 4, 5] and {e.room for e in events if isinstance(e, Message)} == {
                sub.room
            }
        assert set(reader.subscriptions) == set(rooms)
        presence = await subs[0].presence()
        assert presence[reader.connection_id or ""] == {"user": "ada"}


async def test_after_a_cut_connection_what_was_published_meanwhile_arrives_once_in_order(server: Server) -> None:
    rooms = [f"room:cut-{n}" for n in range(3)]
    async with (
        tcp_proxy(server.port) as proxy,
        Client(ws_url(proxy.port), token="ada", **FAST) as client,
        Client(ws_url(server), token="pub") as publisher,
    ):
        subs = [await client.subscribe(room) for room in rooms]
        for room in rooms:
            await publisher.call("fill", {"room": room, "count": 3})
        for sub in subs:
            assert offsets(await take(sub, 3)) == [1, 2, 3]
        first_connection = client.connection_id
        proxy.refuse = True
        proxy.cut()
        await until(lambda: client.state is ClientState.RECONNECTING)
        for room in rooms:
            await publisher.call("fill", {"room": room, "count": 20})
        proxy.refuse = False
        await until(lambda: all(sub.missed == 20 for sub in subs))  # every resubscription answered
        for room in rooms:
            await publisher.call("fill", {"room": room, "count": 2})  # live, after the replay
        for sub in subs:
            assert offsets(await take(sub, 22)) == list(range(4, 26))
            assert sub.recovered and client.state is ClientState.CONNECTED
        assert client.connection_id != first_connection and proxy.accepted >= 2
        for sub in subs:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(sub.__anext__(), 200 * MS)  # nothing twice


async def test_a_refused_subscribe_raises_with_403_and_an_unknown_room_with_404(server: Server) -> None:
    async with Client(ws_url(server), token="ada") as client:
        with pytest.raises(ChannelError, match=re.escape("403: members only")) as refused:
            await client.subscribe("chat:secret")
        assert refused.value.code == 403
        with pytest.raises(ChannelError, match=re.escape("404: No room matches 'lobby'.")) as missing:
            await client.subscribe("lobby")
        assert missing.value.code == 404
        assert client.subscriptions == {} and client.state is ClientState.CONNECTED


async def test_publish_refused_where_not_allowed_and_validated_where_allowed(server: Server) -> None:
    async with Client(ws_url(server), token="ada") as client:
        news = await client.subscribe("news")
        with pytest.raises(ChannelError, match=re.escape("403: Clients may not publish to 'news'.")):
            await news.publish({"text": "breaking"})
        chat = await client.subscribe("chat:e2e")
        with pytest.raises(ChannelError, match=re.escape("422: data failed validation")) as invalid:
            await chat.publish({"text": 42})
        assert invalid.value.code == 422 and invalid.value.details and invalid.value.details[0]["loc"] == ["text"]
        position = await chat.publish({"text": "hello"})
        [event] = await take(chat, 1)
        assert event == Message("chat:e2e", {"user": "ada", "text": "hello"}, position)
        filled = await client.call("fill", {"room": "room:rpc", "count": 2})
        assert [Position.parse(token).offset for token in filled] == [1, 2]
        with pytest.raises(ChannelError, match=re.escape("404: No method named 'multiply'.")):
            await client.call("multiply", {"a": 1})


async def test_tokens_refused_stop_expired_ones_are_renewed(server: Server) -> None:
    with pytest.raises(ClientClosed, match=re.escape("The client is closed (4003: authentication refused).")):
        async with Client(ws_url(server), token="wrong"):
            pass  # pragma: no cover - never reached
    with pytest.raises(ClientClosed, match=re.escape("(4001: token expired)")):
        await Client(ws_url(server), token="expired").connect()
    tokens = ["expired", "ada"]

    async def get_token() -> str:
        return tokens.pop(0)

    async with Client(ws_url(server), get_token=get_token) as client:
        sub = await client.subscribe("room:token")
        assert (await sub.presence())[client.connection_id or ""] == {"user": "ada"}
    assert tokens == []


@pytest.mark.redis
async def test_history_lost_for_one_room_is_unsubscribed_resubscribed_and_a_resync() -> None:
    with running_redis() as redis_server:
        app = start_app({"HUB_URL": redis_server.url})
        try:
            async with Client(ws_url(app), token="ada", **FAST) as client, Client(ws_url(app), token="pub") as pub:
                lost, kept = await client.subscribe("room:lost"), await client.subscribe("room:kept")
                for room in ("room:lost", "room:kept"):
                    await pub.call("fill", {"room": room, "count": 3})
                assert offsets(await take(lost, 3)) == [1, 2, 3] and offsets(await take(kept, 3)) == [1, 2, 3]
                old = lost.position
                redis = aioredis.from_url(redis_server.url)
                async with redis:
                    keys = [key async for key in redis.scan_iter(match="*room:lost*")]
                    assert keys
                    await redis.delete(*keys)  # the room's stream and epoch are gone (evicted, say)
                await pub.call("fill", {"room": "room:lost", "count": 1})  # starts a new epoch
                [resync] = await take(lost, 1)
                assert isinstance(resync, Resync) and resync.room == "room:lost"
                assert lost.recovered is False and old is not None and lost.position is not None
                assert lost.position.epoch != old.epoch
                await pub.call("fill", {"room": "room:lost", "count": 1})
                [live] = await take(lost, 1)
                assert isinstance(live, Message) and live.position == Position(lost.position.epoch, 2)
                await pub.call("fill", {"room": "room:kept", "count": 1})
                assert offsets(await take(kept, 1)) == [4]  # the other room was never touched
                assert client.state is ClientState.CONNECTED
        finally:
            stop(app)


class Reader:
    """One client in ``rooms``, recording each room's offsets and any Resync."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.offsets: dict[str, list[int]] = {}
        self.resyncs = 0
        self.tasks: list[asyncio.Task[None]] = []

    async def join(self, rooms: list[str]) -> None:
        for room in rooms:
            sub = await self.client.subscribe(room)
            self.offsets[room] = []
            self.tasks.append(asyncio.create_task(self._read(sub)))

    async def _read(self, sub: Subscription) -> None:
        async for event in sub:
            if isinstance(event, Resync):
                self.resyncs += 1
            elif isinstance(event, Message) and event.position is not None:
                self.offsets[sub.room].append(event.position.offset)

    def has(self, count: int) -> bool:
        return all(len(seen) >= count for seen in self.offsets.values())


async def connect_all(clients: list[Client], batch: int = 100) -> None:
    for start in range(0, len(clients), batch):
        await asyncio.gather(*(c.connect() for c in clients[start : start + batch]))


async def fill_all(publisher: Client, rooms: list[str], count: int) -> None:
    await asyncio.gather(*(publisher.call("fill", {"room": room, "count": count}) for room in rooms))


@pytest.fixture(params=["redis", pytest.param("nats", marks=pytest.mark.nats)])
def two_workers(request: pytest.FixtureRequest) -> Iterator[tuple[Server, Server]]:
    with running_redis() if request.param == "redis" else running_nats() as backend:
        workers = [start_app({"HUB_URL": backend.url}), start_app({"HUB_URL": backend.url})]
        try:
            yield workers[0], workers[1]
        finally:
            for worker in workers:
                stop(worker)


@pytest.mark.timeout(180)
async def test_kill_9_of_one_of_two_workers_every_client_ends_with_every_offset_once_in_order(
    two_workers: tuple[Server, Server],
) -> None:
    doomed, survivor = two_workers
    rooms = [f"room:k9-{n}" for n in range(5)]
    per_phase = 20
    async with tcp_proxy(doomed.port, survivor.port) as balancer, Client(ws_url(survivor), token="pub") as publisher:
        clients = [Client(ws_url(balancer.port), token=f"u{n}", backoff_max=2.0) for n in range(100)]
        readers = [Reader(c) for c in clients]
        try:
            await connect_all(clients)
            await asyncio.gather(*(r.join(rooms) for r in readers))
            await fill_all(publisher, rooms, per_phase)
            await until(lambda: all(r.has(per_phase) for r in readers), 30000 * MS)
            before = [c.connection_id for c in clients]
            doomed.process.kill()  # SIGKILL: no close frame, no drain
            await fill_all(publisher, rooms, per_phase)  # while half the clients are away
            await until(lambda: all(c.state is ClientState.CONNECTED for c in clients), 30000 * MS)
            await fill_all(publisher, rooms, per_phase)
            total = 3 * per_phase
            await until(lambda: all(r.has(total) for r in readers), 30000 * MS)
            await asyncio.sleep(200 * MS)  # nothing more arrives, nothing twice
            for reader in readers:
                for room in rooms:
                    assert reader.offsets[room] == list(range(1, total + 1)), (room, reader.offsets[room])
                assert reader.resyncs == 0
            moved = sum(1 for c, old in zip(clients, before, strict=True) if c.connection_id != old)
            assert moved == 50  # the balancer gave the doomed worker every other client: each came back
        finally:
            await asyncio.gather(*(c.close() for c in clients))


@pytest.mark.timeout(240)
async def test_a_thousand_clients_in_ten_rooms(server: Server) -> None:
    rooms = [f"room:k-{n}" for n in range(10)]
    clients = [Client(ws_url(server), token=f"u{n}", command_timeout=60.0, open_timeout=30.0) for n in range(1000)]
    readers = [Reader(c) for c in clients]
    started = time.monotonic()
    try:
        await connect_all(clients)
        await asyncio.gather(*(r.join(rooms) for r in readers))
        async with Client(ws_url(server), token="pub") as publisher:
            await fill_all(publisher, rooms, 3)
            await until(lambda: all(r.has(3) for r in readers), 60000 * MS)
        for reader in readers:
            assert all(seen == [1, 2, 3] for seen in reader.offsets.values())
        assert time.monotonic() - started < 180
    finally:
        await asyncio.gather(*(c.close() for c in clients))
