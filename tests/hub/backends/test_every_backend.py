"""One suite for every hub backend (ids ``memory``, ``redis``, ``nats``), then what only the
distributed ones can do: span processes, survive an outage, refuse a bad server. Redis and NATS
are a real ``redis-server`` / ``nats-server`` the tests start on a free port."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from sockjet import Hub
from sockjet.exceptions import HubError, PayloadTooLarge, PublishError, PublishOutcomeUnknown
from sockjet.hub import MAX_ROOM_NAME_BYTES, Envelope, Position
from sockjet.hub.backends.redis import RedisBackend, redacted
from tests.conftest import MS
from tests.hub_fakes import FakeSocket, connected
from tests.servers.redis_server import RedisServer
from tests.servers.servers import free_port


def make_hub(url: str | None, **options: Any) -> Hub:
    """A hub whose Redis keys and channels no other test uses."""
    return Hub(url, prefix=f"test-{uuid.uuid4().hex[:8]}:", **options)


@pytest.fixture
async def hub(hub_url: str | None) -> AsyncIterator[Hub]:
    async with make_hub(hub_url) as running:
        yield running


async def joined_socket(hub: Hub, room: str, **options: Any) -> tuple[FakeSocket, Any]:
    sock = await connected(**options)
    join = hub.join(room, sock.websocket)
    await join.__aenter__()
    return sock, join


def other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


# -- the shared suite ---------------------------------------------------------------------------------
async def test_publish_reaches_every_member_in_order(hub: Hub) -> None:
    socks = [(await joined_socket(hub, "r"))[0] for _ in range(3)]
    expected: list[str | bytes] = []
    for i in range(50):
        await hub.publish("r", f"t{i}")
        await hub.publish("r", f"b{i}".encode())
        expected += [f"t{i}", f"b{i}".encode()]
    await hub.publish("r", {"done": True})
    for sock in socks:
        assert await sock.wait_data(101) == [*expected, '{"done":true}']


async def test_subscriptions_follow_membership(hub: Hub) -> None:
    sock, join = await joined_socket(hub, "r")
    await hub.publish("r", "in")
    await sock.wait_data(1)
    await join.__aexit__(None, None, None)
    await hub.publish("r", "after leaving")
    sock2, join2 = await joined_socket(hub, "r")
    await hub.publish("r", "rejoined")
    assert await sock2.wait_data(1) == ["rejoined"]
    assert sock.data == ["in"]
    await join2.__aexit__(None, None, None)


TRICKY_ROOMS = ["a", "a.b", "a.*", "*", ">", "a.>", "a b", "%2E", ".", "a..b", "日本", "x" * 300, "x" * 301]


async def test_room_names_never_reach_other_rooms(hub: Hub) -> None:
    """Dots, wildcards, spaces, escapes and long names are each their own room on every backend."""
    socks = {room: (await joined_socket(hub, room))[0] for room in TRICKY_ROOMS}
    for room in TRICKY_ROOMS:
        await hub.publish(room, f"to {room}")
    for room, sock in socks.items():
        assert await sock.wait_data(1) == [f"to {room}"]
    await hub.publish("a", "last")
    assert await socks["a"].wait_data(2) == ["to a", "last"]
    assert all(len(sock.data) == 1 for room, sock in socks.items() if room != "a")


async def test_counts(hub: Hub) -> None:
    joins = [(await joined_socket(hub, "r"))[1] for _ in range(3)]
    assert (hub.local_count("r"), await hub.count("r")) == (3, 3)
    await joins[0].__aexit__(None, None, None)
    assert (hub.local_count("r"), await hub.count("r")) == (2, 2)
    assert await hub.count("elsewhere") == 0


async def test_payload_limit_and_publishing_to_an_empty_room(hub_url: str | None) -> None:
    async with make_hub(hub_url, max_payload=10) as hub:
        await hub.publish("nobody", "fine")
        with pytest.raises(PayloadTooLarge, match=re.escape("Cannot publish 11 bytes to room 'r'")):
            await hub.publish("r", "x" * 11)


async def test_shutdown_ends_every_task_and_the_hub_restarts(hub_url: str | None) -> None:
    before = other_tasks()
    hub = make_hub(hub_url, drain_timeout=50 * MS)
    for round_ in range(2):
        async with hub:
            sock, _ = await joined_socket(hub, "r")
            await hub.publish("r", f"round {round_}")
            assert await sock.wait_data(1) == [f"round {round_}"]
        assert (await sock.wait_closed())["code"] == 1001
        assert other_tasks() == before


async def test_a_hub_stopped_right_after_it_started_stops_at_once(hub_url: str | None) -> None:
    """The backend's tasks end even when stopped mid-command (redis-py can swallow a cancellation)."""
    for _ in range(3):
        hub = make_hub(hub_url)
        await hub.start()
        started = time.monotonic()
        await asyncio.wait_for(hub.aclose(), 2000 * MS)
        assert time.monotonic() - started < 1000 * MS


CONCURRENT = 2000


@pytest.mark.parametrize("history_size", [0, CONCURRENT], ids=["history-off", "history-on"])
@pytest.mark.parametrize("rooms", [1, CONCURRENT], ids=["one-room", "a-room-each"])
async def test_concurrent_publishes_never_fail_on_a_healthy_broker(
    hub_url: str | None, history_size: int, rooms: int
) -> None:
    """2,000 publishes at once: none fails, each lands once (one offset each, every offset once)."""
    async with make_hub(hub_url, history_size=history_size) as hub:
        sock = await connected()
        await hub.join("c0", sock.websocket, max_queue=CONCURRENT).__aenter__()  # room for every message
        names = [f"c{i % rooms}" for i in range(CONCURRENT)]
        results = await asyncio.gather(*(hub.publish(name, i) for i, name in enumerate(names)), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        in_c0 = [i for i, name in enumerate(names) if name == "c0"]
        received = await sock.wait_data(len(in_c0), timeout=10000 * MS)
        assert sorted(int(d) for d in received) == in_c0  # each once at the member
        if not history_size:
            assert results == [None] * CONCURRENT
            return
        offsets: dict[str, list[int]] = {}
        for name, position in zip(names, results, strict=True):
            assert isinstance(position, Position)
            offsets.setdefault(name, []).append(position.offset)
        assert all(sorted(o) == list(range(1, len(o) + 1)) for o in offsets.values())
        stored = (await hub.history("c0")).messages
        assert sorted(m.data for m in stored) == in_c0
        assert [m.position.offset for m in stored] == list(range(1, len(in_c0) + 1))


@pytest.mark.parametrize("history_size", [0, 10], ids=["history-off", "history-on"])
async def test_a_publish_with_a_used_idempotency_key_stores_and_delivers_nothing(
    hub_url: str | None, history_size: int
) -> None:
    async with make_hub(hub_url, history_size=history_size) as hub:
        sock, _ = await joined_socket(hub, "r")
        other, _ = await joined_socket(hub, "s")
        first = await hub.publish("r", "once", idempotency_key="k1")
        again = await hub.publish("r", "a retry with other data", idempotency_key="k1")
        assert again == first and (first is None) == (history_size == 0)
        await hub.publish("s", "same key, other room", idempotency_key="k1")
        await hub.publish("r", "other key", idempotency_key="k2")
        await hub.publish("r", "no key")
        await hub.publish("r", "no key")
        await hub.publish("r", "last")
        assert await sock.wait_data(5) == ["once", "other key", "no key", "no key", "last"]
        assert await other.wait_data(1) == ["same key, other room"]
        if history_size:
            stored = (await hub.history("r")).messages
            assert [m.data for m in stored] == ["once", "other key", "no key", "no key", "last"]
            assert [m.position.offset for m in stored] == [1, 2, 3, 4, 5] and stored[0].position == first


async def test_an_idempotency_key_is_forgotten_after_idempotency_ttl(hub_url: str | None) -> None:
    ttl = 500 * MS
    for history_size in (0, 10):
        async with make_hub(hub_url, history_size=history_size, idempotency_ttl=ttl) as hub:
            sock, _ = await joined_socket(hub, "r")
            first = await hub.publish("r", "first", idempotency_key="k")
            await hub.publish("r", "within the ttl", idempotency_key="k")
            await asyncio.sleep(ttl + 300 * MS)
            later = await hub.publish("r", "after the ttl", idempotency_key="k")
            assert await sock.wait_data(2) == ["first", "after the ttl"]
            if history_size:
                assert isinstance(first, Position) and isinstance(later, Position)
                assert later.offset == first.offset + 1


async def test_room_names_over_the_limit_are_refused_everywhere(hub_url: str | None) -> None:
    async with make_hub(hub_url, history_size=10) as hub:
        longest = "r" * (MAX_ROOM_NAME_BYTES - 3) + "日"  # 1,024 bytes of UTF-8: accepted
        sock, _ = await joined_socket(hub, longest)
        position = await hub.publish(longest, "fits")
        assert await sock.wait_data(1) == ["fits"]
        assert [m.position for m in (await hub.history(longest)).messages] == [position]
        assert await hub.count(longest) == 1

        too_long = "r" * (MAX_ROOM_NAME_BYTES - 2) + "日"  # 1,025 bytes
        message = f"A room name is at most {MAX_ROOM_NAME_BYTES} bytes of UTF-8 (MAX_ROOM_NAME_BYTES); got 1025 bytes"
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "publish": lambda: hub.publish(too_long, "x"),
            "history": lambda: hub.history(too_long),
            "presence": lambda: hub.presence(too_long),
            "presence_stats": lambda: hub.presence_stats(too_long),
            "count": lambda: hub.count(too_long),
        }
        for name, call in calls.items():
            with pytest.raises(ValueError, match=re.escape(message)) as caught:
                await call()
            assert len(str(caught.value)) < 400, name  # the name itself is cut short
        join_sock = await connected()
        with pytest.raises(ValueError, match=re.escape(message)):
            hub.join(too_long, join_sock.websocket)
        assert hub.rooms() == [longest]


# -- Redis and NATS: processes ---------------------------------------------------------------------------
async def test_two_processes_share_rooms_and_counts(shared_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with Hub(shared_url, prefix=prefix) as one, Hub(shared_url, prefix=prefix) as two:
        a, _ = await joined_socket(one, "r")
        b, _ = await joined_socket(two, "r")
        c, _ = await joined_socket(two, "r")
        await one.publish("r", "from one")
        await two.publish("r", "from two")
        for sock in (a, b, c):
            assert await sock.wait_data(2) == ["from one", "from two"]
        assert (await one.count("r"), await two.count("r"), one.local_count("r")) == (3, 3, 1)
        await one.aclose()  # its member is closed with 1001 and stops counting at once
        assert await two.count("r") == 2


async def test_a_hub_started_later_counts_the_others_at_once(shared_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with Hub(shared_url, prefix=prefix) as one:
        for _ in range(2):
            await joined_socket(one, "r")
        async with Hub(shared_url, prefix=prefix) as two:
            deadline = time.monotonic() + 2000 * MS  # NATS: the others answer the newcomer's hello
            while await two.count("r") != 2 and time.monotonic() < deadline:
                await asyncio.sleep(MS)
            assert await two.count("r") == 2


# -- Redis only: outages, bad servers ------------------------------------------------------------------


@pytest.mark.redis
async def test_one_pubsub_connection_per_process_with_counted_subscriptions(shared_redis: RedisServer) -> None:
    import redis.asyncio as aioredis

    async with Hub(shared_redis.url, prefix=f"test-{uuid.uuid4().hex[:8]}:") as hub:
        backend = hub._backend
        assert isinstance(backend, RedisBackend)
        joins = [(await joined_socket(hub, room))[1] for room in ("a", "b", "b", "c")]
        probe = aioredis.Redis.from_url(shared_redis.url)
        try:

            async def subscriber_counts() -> list[int]:
                clients = await probe.client_list()
                return [int(c["sub"]) for c in clients if int(c["sub"]) > 0]

            assert await subscriber_counts() == [4]  # control channel + a, b, c
            await joins[1].__aexit__(None, None, None)  # b still has a member
            assert await subscriber_counts() == [4]
            await joins[2].__aexit__(None, None, None)
            deadline = time.monotonic() + 2000 * MS
            while await subscriber_counts() != [3] and time.monotonic() < deadline:
                await asyncio.sleep(MS)
            assert await subscriber_counts() == [3]
        finally:
            await probe.aclose()


@pytest.mark.redis
async def test_foreign_messages_on_a_room_channel_are_ignored(shared_redis: RedisServer) -> None:
    import redis.asyncio as aioredis

    async with Hub(shared_redis.url, prefix=f"test-{uuid.uuid4().hex[:8]}:") as hub:
        sock, _ = await joined_socket(hub, "r")
        backend = hub._backend
        assert isinstance(backend, RedisBackend)
        probe = aioredis.Redis.from_url(shared_redis.url)
        try:
            await probe.publish(backend.channel("r"), b"?not from a hub")
        finally:
            await probe.aclose()
        await hub.publish("r", "next")
        assert await sock.wait_data(1) == ["next"]


@pytest.mark.redis
async def test_a_dead_process_stops_counting_after_presence_ttl(shared_redis: RedisServer) -> None:
    import redis.asyncio as aioredis

    async with Hub(shared_redis.url, prefix=f"test-{uuid.uuid4().hex[:8]}:") as hub:
        await joined_socket(hub, "r")
        backend = hub._backend
        assert isinstance(backend, RedisBackend)
        probe = aioredis.Redis.from_url(shared_redis.url)
        try:
            key = backend.counts_key("r")
            await probe.hset(key, "dead-process", f"5:{time.time() - 1:.3f}")
            await probe.hset(key, "live-process", f"2:{time.time() + 60:.3f}")
        finally:
            await probe.aclose()
        assert await hub.count("r") == 3


async def wait_for_delivery(hub: Hub, room: str, sock: FakeSocket, marker: str) -> None:
    """Publish ``marker-N`` until one arrives: the subscriber has re-subscribed (bounded)."""
    deadline = time.monotonic() + 10000 * MS
    for attempt in itertools.count():
        assert time.monotonic() < deadline, f"{marker}: the hub did not recover after the server came back"
        try:
            await hub.publish(room, f"{marker}-{attempt}")
            await sock.wait_until(lambda s: any(str(d).startswith(marker) for d in s.data), 50 * MS)
            return
        except PublishError:
            await asyncio.sleep(10 * MS)  # refused at once while reconnecting: do not spin
        except asyncio.TimeoutError:
            continue


@pytest.mark.redis
async def test_redis_outage_publish_fails_fast_members_stay_and_messages_flow_again(
    redis_server: RedisServer,
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    timeout = 300 * MS
    async with (
        Hub(redis_server.url, prefix=prefix, timeout=timeout) as one,
        Hub(redis_server.url, prefix=prefix) as two,
    ):
        a, _ = await joined_socket(one, "r")
        b, _ = await joined_socket(two, "r")
        await one.publish("r", "before")
        await b.wait_data(1)

        redis_server.stop()
        where = f"Could not publish to room 'r': Redis at {redis_server.url}"
        for attempt in range(2):  # the loss not yet noticed, then noticed: both within the timeout
            started = time.monotonic()
            with pytest.raises(PublishError) as caught:
                await one.publish("r", "during the outage")
            assert time.monotonic() - started < timeout + 1000 * MS
            text = str(caught.value)
            if isinstance(caught.value, PublishOutcomeUnknown):  # sent on a connection not yet seen closed
                assert attempt == 0
                assert text.startswith(f"{where} did not answer within {timeout:g}s (")
                assert "The message may have been delivered (and stored)" in text
            else:
                assert text.startswith(f"{where} did not take it within {timeout:g}s (")
                assert text.endswith("Nobody received it; retry when Redis is back.")
        assert type(caught.value) is PublishError  # no connection: the hub knows nothing left
        with pytest.raises(HubError, match=re.escape("Cannot count room 'r': Redis at")):
            await one.count("r")
        assert not one.member(a.websocket).closed  # type: ignore[union-attr]
        assert one.local_count("r") == 1
        backend = one._backend
        assert isinstance(backend, RedisBackend)
        deadline = time.monotonic() + 2000 * MS
        while backend.failed_reads < 2:  # lost Redis, then at least one reconnect attempt failed
            assert time.monotonic() < deadline
            await asyncio.sleep(5 * MS)

        redis_server.start()
        await wait_for_delivery(one, "r", b, "one-to-two")
        await wait_for_delivery(two, "r", a, "two-to-one")
        await one.publish("r", "after")
        assert (await a.wait_data(len(a.data) + 1))[-1] == "after"
        assert "during the outage" not in a.data + b.data
        await joined_socket(two, "r")  # a join and a leave during the next outage show up once Redis is back
        redis_server.stop()
        _, extra = await joined_socket(two, "r")
        await extra.__aexit__(None, None, None)
        third, _ = await joined_socket(one, "r")
        redis_server.start()
        await wait_for_delivery(two, "r", third, "after-second-outage")
        expected = 4
        deadline = time.monotonic() + 2000 * MS  # counts are re-written by each process on reconnect
        while await one.count("r") != expected and time.monotonic() < deadline:
            await asyncio.sleep(MS)
        assert await one.count("r") == expected


@pytest.mark.redis
async def test_unreachable_redis_is_a_clear_error_at_start() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    hub = Hub(url, timeout=500 * MS)
    with pytest.raises(HubError, match=re.escape(f"Cannot connect to Redis at {url}: ")) as caught:
        await hub.start()
    assert "Check that redis-server runs there, or fix the hub URL." in str(caught.value)
    assert not hub.running
    with pytest.raises(HubError, match=re.escape(f"Cannot connect to Redis at {url}")):
        await hub.publish("r", "x")


@pytest.mark.redis
@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b""], ids=["http", "silent"])
async def test_a_port_that_is_not_redis_is_a_clear_error(reply: bytes) -> None:
    done = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(100)
        if reply:
            writer.write(reply)
        await done.wait()  # silent: never answers; the hub's timeout must end it

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    try:
        with pytest.raises(HubError, match=re.escape(f"Cannot connect to Redis at {url}: ")):
            await Hub(url, timeout=300 * MS).start()
    finally:
        done.set()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


def test_passwords_are_not_shown_in_errors() -> None:
    assert redacted("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redacted("redis://:secret@host") == "redis://:***@host"
    assert redacted("redis://host") == "redis://host"


async def test_a_redis_backend_that_is_not_started() -> None:
    backend = RedisBackend("redis://127.0.0.1:1/0")
    with pytest.raises(PublishError, match=re.escape("Cannot publish: the hub is not running (use hub.lifespan")):
        await backend.publish(Envelope("r", "x"))
    with pytest.raises(HubError, match=re.escape("Cannot count: the hub is not running (use hub.lifespan")):
        await backend.count("r")
    await backend.sync_room("r")  # nothing to do
    await backend.stop()


@pytest.mark.redis
async def test_a_publish_redis_refuses_is_a_publish_error_and_a_flushed_script_is_loaded_again(
    redis_server: RedisServer,
) -> None:
    import redis.asyncio as aioredis

    probe = aioredis.Redis.from_url(redis_server.url)
    try:
        for history_size in (0, 10):
            async with make_hub(redis_server.url, history_size=history_size) as hub:
                sock, _ = await joined_socket(hub, "r")
                await hub.publish("r", "before", idempotency_key="k0")
                await probe.script_flush()  # a restart or a SCRIPT FLUSH: the next run loads it again
                await hub.publish("r", "after a flush", idempotency_key="k1")
                await probe.config_set("maxmemory", "1")  # every write is refused with OOM
                try:
                    with pytest.raises(
                        PublishError, match=re.escape("Could not publish to room 'r': Redis at")
                    ) as caught:
                        await hub.publish("r", "refused", idempotency_key="k2")
                    assert type(caught.value) is PublishError
                    assert "refused it (OutOfMemoryError: command not allowed when used memory" in str(caught.value)
                    assert str(caught.value).endswith("Nobody received it.")
                finally:
                    await probe.config_set("maxmemory", "0")
                await hub.publish("r", "refused", idempotency_key="k2")  # nothing of it was kept: now it goes
                assert await sock.wait_data(3) == ["before", "after a flush", "refused"]
    finally:
        await probe.aclose()


@pytest.mark.redis
async def test_log_lines_cut_a_long_room_name_short(
    shared_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as aioredis

    room = "x" * MAX_ROOM_NAME_BYTES
    async with make_hub(shared_redis.url) as hub:
        sock, _ = await joined_socket(hub, room)
        backend = hub._backend
        assert isinstance(backend, RedisBackend)
        probe = aioredis.Redis.from_url(shared_redis.url)
        try:
            await probe.publish(backend.channel(room), b"?not from a hub")
        finally:
            await probe.aclose()
        await hub.publish(room, "next")
        assert await sock.wait_data(1) == ["next"]
    ignored = [r for r in caplog.records if r.getMessage().startswith("Ignored a message on")]
    assert len(ignored) == 1 and len(ignored[0].getMessage()) < 2 * 200 + 100
    assert "... (" in ignored[0].getMessage()
