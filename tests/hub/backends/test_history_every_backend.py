"""The backend history interface (``publish_history``, ``read_stream``, ``stream_interrupted``), one
suite over every backend (ids ``memory``, ``redis``, ``nats``), then what only Redis can do: several
processes publishing at once, a restart that loses the stream, keys that expire.

These drive the backends directly with a recording ``LocalRooms``; the hub's use of them is
tested in tests/hub/test_history.py.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from sockjet.exceptions import HubError, PublishError
from sockjet.hub.backends.base import Backend, Retention
from sockjet.hub.backends.memory import MemoryBackend
from sockjet.hub.backends.nats import NatsBackend
from sockjet.hub.backends.redis import RedisBackend
from sockjet.hub.backends.redis_history import meta_key, parse_live, parse_slice, stream_key
from sockjet.hub.envelope import Envelope
from sockjet.hub.position import KIND_BYTES, KIND_JSON, KIND_TEXT, Position, Publication, kind_of
from tests.conftest import BACKENDS, MS, server_url
from tests.servers.redis_server import RedisServer


class Recorder:
    """A ``LocalRooms`` that has one member in every room it was told about, and records deliveries."""

    def __init__(self, rooms: tuple[str, ...] = ("r",)) -> None:
        self.rooms = list(rooms)
        self.envelopes: list[Envelope] = []
        self.publications: list[Publication] = []
        self.interruptions: list[list[str]] = []
        self.changed = asyncio.Event()

    def deliver(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)
        self.changed.set()

    def deliver_publication(self, publication: Publication) -> None:
        self.publications.append(publication)
        self.changed.set()

    def stream_interrupted(self, rooms: list[str]) -> None:
        self.interruptions.append(rooms)
        self.changed.set()

    def local_count(self, room: str) -> int:
        return 1 if room in self.rooms else 0

    def local_rooms(self) -> list[str]:
        return list(self.rooms)

    async def wait_for(self, count: int, timeout: float = 5000 * MS) -> list[Publication]:
        deadline = time.monotonic() + timeout
        while len(self.publications) < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"got {len(self.publications)} publications of {count}"
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                continue
        return self.publications


def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}:"


def make_backend(url: str | None, prefix_: str | None = None, **options: float) -> Backend:
    if url is None:
        return MemoryBackend()
    if url.startswith("nats://"):
        return NatsBackend(url, prefix=prefix_ or prefix(), **options)  # type: ignore[arg-type]
    return RedisBackend(url, prefix=prefix_ or prefix(), **options)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest) -> str | None:
    return server_url(request, request.param)


@pytest.fixture
async def started(backend_url: str | None) -> AsyncIterator[tuple[Backend, Recorder]]:
    backend = make_backend(backend_url)
    local = Recorder()
    await backend.start(local)
    await backend.sync_room("r")
    try:
        yield backend, local
    finally:
        await backend.stop()


KEEP = Retention(size=100)


async def publish(backend: Backend, room: str, data: object, retention: Retention = KEEP) -> Position:
    envelope = Envelope.build(room, data, max_payload=1 << 20)
    position = await backend.publish_history(envelope, kind_of(data), retention)
    assert position is not None
    return position


# -- the shared suite ---------------------------------------------------------------------------------
async def test_offsets_increase_by_one_and_are_delivered_with_their_positions(
    started: tuple[Backend, Recorder],
) -> None:
    backend, local = started
    positions = [await publish(backend, "r", f"m{i}") for i in range(1, 21)]
    assert [p.offset for p in positions] == list(range(1, 21))
    assert len({p.epoch for p in positions}) == 1
    delivered = await local.wait_for(20)
    assert [p.position for p in delivered] == positions
    assert [p.data for p in delivered] == [f"m{i}" for i in range(1, 21)]
    assert local.envelopes == []


async def test_data_comes_back_as_published(started: tuple[Backend, Recorder]) -> None:
    backend, local = started
    values: list[object] = ["text é", b"\x00\xffbytes", {"json": [1, None, "é"]}, 42, None, ""]
    for value in values:
        await publish(backend, "r", value)
    read = await backend.read_stream("r", after=0, limit=None, retention=KEEP)
    assert [p.data for p in read.publications] == values
    assert [p.kind for p in read.publications] == [KIND_TEXT, KIND_BYTES, KIND_JSON, KIND_JSON, KIND_JSON, KIND_TEXT]
    assert [p.data for p in await local.wait_for(len(values))] == values


async def test_read_after_an_offset_with_a_limit(started: tuple[Backend, Recorder]) -> None:
    backend, _ = started
    empty = await backend.read_stream("r", after=0, limit=None, retention=KEEP)
    assert (empty.epoch, empty.top, empty.publications) == (None, 0, ())
    for i in range(1, 11):
        top = await publish(backend, "r", i)
    read = await backend.read_stream("r", after=4, limit=None, retention=KEEP)
    assert (read.epoch, read.top) == (top.epoch, 10)
    assert [p.offset for p in read.publications] == [5, 6, 7, 8, 9, 10]
    assert [p.data for p in (await backend.read_stream("r", after=4, limit=2, retention=KEEP)).publications] == [5, 6]
    assert (await backend.read_stream("r", after=10, limit=None, retention=KEEP)).publications == ()
    assert (await backend.read_stream("r", after=99, limit=None, retention=KEEP)).publications == ()


async def test_open_stream_starts_an_idle_rooms_epoch_at_offset_zero(started: tuple[Backend, Recorder]) -> None:
    backend, local = started
    opened = await backend.open_stream("r", retention=KEEP)
    assert opened.offset == 0
    assert await backend.open_stream("r", retention=KEEP) == opened  # the same epoch, not a new one
    read = await backend.read_stream("r", after=0, limit=None, retention=KEEP)
    assert (read.epoch, read.top, read.publications) == (opened.epoch, 0, ())
    assert read.continues(opened)
    first = await publish(backend, "r", "first")
    assert first == Position(opened.epoch, 1)
    read = await backend.read_stream("r", after=opened.offset, limit=None, retention=KEEP)
    assert read.continues(opened) and [p.data for p in read.publications] == ["first"]
    assert [p.data for p in await local.wait_for(1)] == ["first"]  # the epoch's start is never delivered
    await asyncio.sleep(20 * MS)
    assert [p.position for p in local.publications] == [first]
    assert await backend.open_stream("r", retention=KEEP) == first  # a room with a stream: its top


async def test_the_stream_keeps_the_last_size_messages(started: tuple[Backend, Recorder]) -> None:
    backend, _ = started
    small = Retention(size=3)
    for i in range(1, 8):
        await publish(backend, "r", i, small)
    read = await backend.read_stream("r", after=0, limit=None, retention=small)
    assert [p.offset for p in read.publications] == [5, 6, 7] and read.top == 7
    assert read.continues(Position(read.epoch or "", 4))
    assert not read.continues(Position(read.epoch or "", 3))


async def test_messages_older_than_ttl_are_not_read(started: tuple[Backend, Recorder]) -> None:
    backend, _ = started
    short = Retention(size=10, ttl=1.0)  # wide enough that load cannot expire "new" before the first read
    await publish(backend, "r", "old", short)
    await asyncio.sleep(1100 * MS)
    await publish(backend, "r", "new", short)
    read = await backend.read_stream("r", after=0, limit=None, retention=short)
    assert [p.data for p in read.publications] == ["new"] and read.top == 2
    await asyncio.sleep(1100 * MS)
    read = await backend.read_stream("r", after=0, limit=None, retention=short)
    assert read.publications == () and read.top == 2


async def test_rooms_have_their_own_streams_and_epochs(started: tuple[Backend, Recorder]) -> None:
    backend, _ = started
    a = await publish(backend, "a", 1)
    b = await publish(backend, "b", 1)
    assert a.offset == b.offset == 1 and a.epoch != b.epoch


# -- Redis and NATS -------------------------------------------------------------------------------------------
async def test_concurrent_publishers_in_two_processes_get_one_gap_free_order(shared_url: str) -> None:
    shared = prefix()
    locals_ = [Recorder(), Recorder()]
    # Bounds for a loaded machine: two publishers racing for one room's offsets in one event loop.
    backends = [make_backend(shared_url, shared, timeout=10000 * MS) for _ in locals_]
    for backend, local in zip(backends, locals_, strict=True):
        await backend.start(local)
        await backend.sync_room("r")
    try:

        async def publisher(backend: Backend, name: str) -> list[Position]:
            return [await publish(backend, "r", f"{name}{i}") for i in range(100)]

        one, two = await asyncio.gather(publisher(backends[0], "a"), publisher(backends[1], "b"))
        assert sorted(p.offset for p in one + two) == list(range(1, 201))
        for local in locals_:
            got = await local.wait_for(200, 20000 * MS)
            assert [p.offset for p in got] == list(range(1, 201))  # every process: offset order
            assert [p.data for p in got if p.data.startswith("a")] == [f"a{i}" for i in range(100)]
        read = await backends[0].read_stream("r", after=0, limit=None, retention=KEEP)
        assert [p.data for p in read.publications] == [p.data for p in locals_[0].publications][-100:]
    finally:
        for backend in backends:
            await backend.stop()


# -- Redis only ---------------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_a_redis_restart_starts_a_new_epoch_and_reports_the_interruption(
    redis_server: RedisServer,
) -> None:
    backend = make_backend(redis_server.url, timeout=300 * MS, backoff=(0.01, 0.05))  # type: ignore[arg-type]
    local = Recorder()
    await backend.start(local)
    await backend.sync_room("r")
    try:
        before = await publish(backend, "r", "before")
        redis_server.restart()
        deadline = time.monotonic() + 5000 * MS
        while not local.interruptions:
            assert time.monotonic() < deadline, "the subscriber did not reconnect"
            await asyncio.sleep(5 * MS)
        assert local.interruptions == [["r"]]
        read = await backend.read_stream("r", after=0, limit=None, retention=KEEP)
        assert (read.epoch, read.top) == (None, 0)
        after = await publish(backend, "r", "after")  # the script is loaded again by itself
        assert after.offset == 1 and after.epoch != before.epoch
        assert [p.position for p in await local.wait_for(2)] == [before, after]
    finally:
        await backend.stop()


@pytest.mark.redis
async def test_publish_and_read_while_redis_is_down_fail_clearly(
    redis_server: RedisServer,
) -> None:
    backend = make_backend(redis_server.url, timeout=300 * MS)
    await backend.start(Recorder())
    try:
        redis_server.stop()
        with pytest.raises(PublishError, match=re.escape("Could not publish to room 'r': Redis at")):
            await publish(backend, "r", "x")
        with pytest.raises(HubError, match=re.escape("Cannot read the history of room 'r': Redis at")):
            await backend.read_stream("r", after=0, limit=None, retention=KEEP)
        with pytest.raises(HubError, match=re.escape("Cannot read the history of room 'r': Redis at")):
            await backend.open_stream("r", retention=KEEP)
    finally:
        await backend.stop()


@pytest.mark.redis
async def test_keys_expire_when_the_room_goes_quiet_and_a_lost_meta_is_a_new_epoch(shared_redis: RedisServer) -> None:
    import redis.asyncio as aioredis

    name = prefix()
    backend = make_backend(shared_redis.url, name)
    await backend.start(Recorder())
    probe = aioredis.Redis.from_url(shared_redis.url)
    try:
        first = await publish(backend, "r", "x", Retention(size=5, meta_ttl=60))
        assert 0 < await probe.ttl(meta_key(name, "r")) <= 60
        assert 0 < await probe.ttl(stream_key(name, "r")) <= 60
        await publish(backend, "r", "y", Retention(size=5, ttl=2.5, meta_ttl=60))
        assert 0 < await probe.pttl(stream_key(name, "r")) <= 2500
        await probe.delete(meta_key(name, "r"))  # evicted, or expired before the stream
        again = await publish(backend, "r", "z", Retention(size=5, meta_ttl=60))
        assert again.offset == 1 and again.epoch != first.epoch
        read = await backend.read_stream("r", after=0, limit=None, retention=KEEP)
        assert [p.data for p in read.publications] == ["z"]  # nothing of the old epoch is left
        await probe.xadd(stream_key(name, "idle"), {"d": "tleft over"}, id="5-0")  # a stream without its meta
        opened = await backend.open_stream("idle", retention=Retention(size=5, meta_ttl=60))
        assert opened.offset == 0 and 0 < await probe.ttl(meta_key(name, "idle")) <= 60
        assert not await probe.exists(stream_key(name, "idle"))  # an old epoch's entries never come back
    finally:
        await probe.aclose()
        await backend.stop()


def test_redis_replies_that_no_hub_wrote_are_refused() -> None:
    with pytest.raises(ValueError, match="Not a hub publication on room 'r'"):
        parse_live("r", b"hepoch notanumber tx")
    with pytest.raises(ValueError, match="Not a hub publication"):
        parse_live("r", b"xepoch 1 tx")
    assert parse_live("r", b"he1 7 thello") == Publication("r", Position("e1", 7), "hello")
    assert parse_slice("r", [None, 0, 0]).epoch is None
    read = parse_slice("r", [b"e1", 3, 3, b"bxy"])
    assert read.publications == (Publication("r", Position("e1", 3), b"xy", KIND_BYTES),)


async def test_the_memory_sweep_stops_with_nothing_left_and_never_runs_stopped() -> None:
    backend = MemoryBackend()
    await backend.start(Recorder(rooms=()))
    short = Retention(size=10, meta_ttl=0.05)
    await publish(backend, "quiet", "x", short)
    assert backend._sweep is not None
    deadline = time.monotonic() + 2000 * MS
    while len(backend._streams) or backend._sweep is not None:  # freed, and no timer left for an empty hub
        assert time.monotonic() < deadline
        await asyncio.sleep(10 * MS)
    await backend.stop()
    await publish(backend, "after stop", "x", short)  # kept, but a stopped backend arms no timer
    assert len(backend._streams) == 1 and backend._sweep is None


async def test_a_backend_without_history_says_so() -> None:
    class Plain(MemoryBackend):
        publish_history = Backend.publish_history
        read_stream = Backend.read_stream
        open_stream = Backend.open_stream

    plain = Plain()
    with pytest.raises(NotImplementedError, match=re.escape("Plain keeps no history: use Hub(history_size=0).")):
        await plain.publish_history(Envelope("r", "x"), "t", KEEP)
    with pytest.raises(NotImplementedError, match=re.escape("Plain keeps no history")):
        await plain.read_stream("r", after=0, limit=None, retention=KEEP)
    with pytest.raises(NotImplementedError, match=re.escape("Plain keeps no history")):
        await plain.open_stream("r", retention=KEEP)


async def test_a_redis_backend_that_is_not_started_keeps_no_history() -> None:
    backend = RedisBackend("redis://127.0.0.1:1/0")
    with pytest.raises(PublishError, match=re.escape("Cannot publish: the hub is not running")):
        await publish(backend, "r", "x")
    with pytest.raises(HubError, match=re.escape("Cannot read history: the hub is not running")):
        await backend.read_stream("r", after=0, limit=None, retention=KEEP)
    with pytest.raises(HubError, match=re.escape("Cannot read history: the hub is not running")):
        await backend.open_stream("r", retention=KEEP)
