"""The Hub's history contract -- ``publish`` -> ``Position``, ``history``, ``join(since=...)``,
``member.recovered``, gap filling -- one suite over memory, Redis and NATS, then Redis only:
publishers in two processes, a subscriber that drops, a Redis restart."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sockjet import History, Hub, Position
from sockjet.exceptions import ConfigurationError, HubError
from sockjet.hub import HISTORY_LOST_CLOSE_CODE, json_frame
from sockjet.hub.backends.redis import RedisBackend
from tests.conftest import MS
from tests.hub_fakes import FakeSocket, connected
from tests.servers.redis_server import RedisServer


def make_hub(url: str | None, prefix: str | None = None, **options: Any) -> Hub:
    options.setdefault("history_size", 100)
    return Hub(url, prefix=prefix or f"test-{uuid.uuid4().hex[:8]}:", **options)


@pytest.fixture
async def hub(hub_url: str | None) -> AsyncIterator[Hub]:
    async with make_hub(hub_url) as running:
        yield running


async def join(hub: Hub, room: str, since: Position | str | None = None, **options: Any) -> tuple[FakeSocket, Any]:
    sock = await connected()
    context = hub.join(room, sock.websocket, since=since, **options)
    member = await context.__aenter__()
    return sock, member


# -- publish and history ------------------------------------------------------------------------------------
async def test_publish_returns_consecutive_positions_and_history_gives_data_back(hub: Hub) -> None:
    values: list[Any] = ["text", b"\x00bytes", {"json": [1, 2]}, [1, "é"], 3.5, None]
    positions = [await hub.publish("r", value) for value in values]
    assert all(isinstance(p, Position) for p in positions)
    assert [p.offset for p in positions if p] == [1, 2, 3, 4, 5, 6]
    history = await hub.history("r")
    assert isinstance(history, History)
    assert [m.data for m in history.messages] == values
    assert [m.position for m in history.messages] == positions
    assert history.top == positions[-1] and history.recovered


async def test_history_after_since_with_limit(hub: Hub) -> None:
    positions = [await hub.publish("r", i) for i in range(10)]
    assert all(positions)
    since = positions[3]
    assert since is not None
    history = await hub.history("r", since=since)
    assert [m.data for m in history.messages] == [4, 5, 6, 7, 8, 9] and history.recovered
    history = await hub.history("r", since=str(since), limit=2)
    assert [m.data for m in history.messages] == [4, 5] and history.recovered
    assert history.top == positions[-1]
    history = await hub.history("r", since=positions[-1])
    assert history.messages == () and history.recovered
    history = await hub.history("r", limit=0)
    assert history.messages == () and history.top == positions[-1]


async def test_history_of_a_room_never_published_to(hub: Hub) -> None:
    history = await hub.history("empty")
    assert history == History((), None, True)
    assert (await hub.history("empty", since=Position("abc", 3))).recovered is False


async def test_history_never_presents_a_partial_list_as_complete(hub_url: str | None) -> None:
    async with make_hub(hub_url, history_size=3) as hub:
        positions = [await hub.publish("r", i) for i in range(1, 8)]
        assert positions[0] is not None and positions[-1] is not None
        retained = await hub.history("r")
        assert [m.data for m in retained.messages] == [5, 6, 7] and retained.recovered
        trimmed = await hub.history("r", since=positions[0])  # 2, 3, 4 are gone
        assert trimmed.messages == () and not trimmed.recovered and trimmed.top == positions[-1]
        assert (await hub.history("r", since=positions[3])).recovered  # 5, 6, 7 are all there
        future = Position(positions[-1].epoch, 99)
        assert not (await hub.history("r", since=future)).recovered
        other_epoch = Position("0ther", 5)
        assert not (await hub.history("r", since=other_epoch)).recovered
        other_room = await hub.publish("other", "x")
        assert other_room is not None and other_room.epoch != positions[0].epoch
        assert not (await hub.history("r", since=other_room)).recovered


async def test_history_ttl(hub_url: str | None) -> None:
    async with make_hub(hub_url, history_ttl=1.0) as hub:  # wide enough that load cannot expire "new" too
        first = await hub.publish("r", "old")
        await asyncio.sleep(1100 * MS)
        await hub.publish("r", "new")
        assert [m.data for m in (await hub.history("r")).messages] == ["new"]
        assert not (await hub.history("r", since=Position(first.epoch, 0) if first else None)).recovered


async def test_bad_arguments_are_clear_errors(hub: Hub) -> None:
    with pytest.raises(ValueError, match=re.escape("Not a sockjet position: 'garbage'")):
        await hub.history("r", since="garbage")
    with pytest.raises(ValueError, match=re.escape("limit must be None or an int >= 0, got -1.")):
        await hub.history("r", limit=-1)
    with pytest.raises(ValueError, match=re.escape("limit must be None or an int >= 0, got True.")):
        await hub.history("r", limit=True)
    sock = await connected()
    with pytest.raises(ValueError, match=re.escape("Not a sockjet position: 'nope'")):
        hub.join("r", sock.websocket, since="nope")


async def test_without_history_publish_returns_none_and_since_is_refused(hub_url: str | None) -> None:
    async with make_hub(hub_url, history_size=0) as hub:
        sock, _ = await join(hub, "r")
        assert await hub.publish("r", "x") is None
        assert await sock.wait_data(1) == ["x"]
        with pytest.raises(
            ConfigurationError, match=re.escape("hub.history('r') needs a hub that keeps history for that room")
        ):
            await hub.history("r")
        message = "Cannot join room 'r' with since='e.1': this hub keeps no history for it."
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            hub.join("r", sock.websocket, since="e.1")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"history_size": -1}, "history_size must be an int >= 0 (0: no history), got -1."),
        ({"history_size": 1.5}, "history_size must be an int >= 0 (0: no history), got 1.5."),
        ({"history_size": 5, "history_ttl": 0}, "history_ttl must be a number > 0, got 0."),
        ({"history_size": 5, "history_meta_ttl": -1}, "history_meta_ttl must be a number > 0, got -1."),
        (
            {"history_size": 5, "history_ttl": 60, "history_meta_ttl": 10},
            "history_meta_ttl (10) must be >= history_ttl (60): a room's position must outlive its messages.",
        ),
        ({"history_size": 5, "frame": "json"}, "frame must be a callable (Publication) -> str | bytes, or None"),
    ],
)
def test_history_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Hub(**options)


# -- join with since ---------------------------------------------------------------------------------------
async def test_join_since_replays_then_goes_live_exactly_once(hub: Hub) -> None:
    positions = [await hub.publish("r", f"m{i}") for i in range(1, 6)]
    sock, member = await join(hub, "r", since=positions[1])
    assert member.recovered is True
    await hub.publish("r", "m6")
    assert await sock.wait_data(4) == ["m3", "m4", "m5", "m6"]
    await asyncio.sleep(20 * MS)
    assert sock.data == ["m3", "m4", "m5", "m6"]


async def test_join_since_the_top_or_a_token(hub: Hub) -> None:
    top = await hub.publish("r", "seen")
    sock, member = await join(hub, "r", since=str(top))
    await hub.publish("r", "next")
    assert await sock.wait_data(1) == ["next"] and member.recovered


async def test_join_since_with_concurrent_publishing_has_no_gap_and_no_duplicate(hub: Hub) -> None:
    done = asyncio.Event()
    published: list[int] = []

    async def publisher() -> None:
        i = 0
        while not done.is_set():
            i += 1
            await hub.publish("r", i)
            published.append(i)
            await asyncio.sleep(0)

    task = asyncio.create_task(publisher())
    joined: list[tuple[FakeSocket, int]] = []
    try:
        for _ in range(8):
            await asyncio.sleep(2 * MS)
            while not published:  # a slow backend (or machine) may not have stored the first one yet
                await asyncio.sleep(MS)
            since = (await hub.history("r", limit=0)).top
            assert since is not None
            sock, member = await join(hub, "r", since=Position(since.epoch, max(0, since.offset - 3)))
            assert member.recovered
            joined.append((sock, max(0, since.offset - 3)))
    finally:
        done.set()
        await task
    last = published[-1]
    for sock, after in joined:
        got = await sock.wait_data(last - after)
        assert [json.loads(d) for d in got] == list(range(after + 1, last + 1))


async def test_join_since_a_trimmed_position_replays_nothing_and_stays_live(hub_url: str | None) -> None:
    async with make_hub(hub_url, history_size=2) as hub:
        first = await hub.publish("r", "1")
        for i in range(2, 6):
            await hub.publish("r", str(i))
        sock, member = await join(hub, "r", since=first)
        assert member.recovered is False
        await hub.publish("r", "live")
        assert await sock.wait_data(1) == ["live"]
        assert not (await join(hub, "r", since=Position("other", 1)))[1].recovered
        top = (await hub.history("r", limit=0)).top
        assert top is not None
        assert not (await join(hub, "r", since=Position(top.epoch, top.offset + 5)))[1].recovered


async def test_join_since_on_a_room_never_published_to(hub: Hub) -> None:
    sock, member = await join(hub, "fresh", since=Position("abc", 0))
    assert member.recovered is False
    await hub.publish("fresh", "hello")
    assert await sock.wait_data(1) == ["hello"]


# -- member.position: where a member stands when it goes live --------------------------------------------------
async def test_member_position_is_the_rooms_latest_position_with_and_without_since(hub: Hub) -> None:
    positions = [await hub.publish("r", f"m{i}") for i in range(1, 4)]
    _, plain = await join(hub, "r")
    assert plain.position == positions[-1]
    sock, caught_up = await join(hub, "r", since=positions[0])
    assert caught_up.recovered and caught_up.position == positions[-1]
    assert await sock.wait_data(2) == ["m2", "m3"]
    _, lost = await join(hub, "r", since=Position("0ther", 1))  # not recovered: still a position to go on from
    assert not lost.recovered and lost.position == positions[-1]


async def test_a_client_that_drops_before_any_message_resumes_from_its_position(hub: Hub) -> None:
    """The hole the position closes: a fresh member of an idle room has somewhere to resume from."""
    sock = await connected()
    async with hub.join("idle", sock.websocket) as member:
        start = member.position
    assert start is not None and start.offset == 0
    assert (await hub.history("idle")).top == start
    missed = [await hub.publish("idle", f"while away {i}") for i in range(2)]
    assert [p.offset for p in missed if p] == [1, 2] and {p.epoch for p in missed if p} == {start.epoch}
    back, rejoined = await join(hub, "idle", since=start)
    assert rejoined.recovered and rejoined.position == missed[-1]
    assert await back.wait_data(2) == ["while away 0", "while away 1"]
    _, fresh = await join(hub, "never", since=Position("abc", 0))  # a since for a room without a stream
    assert not fresh.recovered and fresh.position is not None and fresh.position.offset == 0


async def test_every_publication_after_a_members_position_reaches_it(hub_url: str | None) -> None:
    """Joins racing a publisher: each member gets, once and in order, every offset above its position."""
    done = asyncio.Event()
    published: list[Position] = []
    async with make_hub(hub_url, frame=json_frame) as hub:

        async def publisher() -> None:
            while not done.is_set():
                position = await hub.publish("r", "x")
                assert position is not None
                published.append(position)
                await asyncio.sleep(0)

        task = asyncio.create_task(publisher())
        joined: list[tuple[FakeSocket, Position | None, Position]] = []
        try:
            for i in range(6):
                await asyncio.sleep(2 * MS)
                since = published[-1] if i % 2 and published else None
                sock, member = await join(hub, "r", since=since)
                assert member.position is not None
                joined.append((sock, since, member.position))
            while len(published) < 3:
                await asyncio.sleep(MS)
        finally:
            done.set()
            await task
        last = published[-1]
        for sock, since, position in joined:
            assert position.epoch == last.epoch
            await sock.wait_until(lambda s: bool(s.data) and json.loads(s.data[-1])["position"] == str(last))
            await asyncio.sleep(10 * MS)
            offsets = [Position.parse(json.loads(frame)["position"]).offset for frame in sock.data]
            # Frames delivered while it joined may be at or below its position; every one above it comes.
            first = offsets[0] - 1 if since is None else since.offset
            assert first <= position.offset
            assert offsets == list(range(first + 1, last.offset + 1)), (since, position, offsets)


async def test_member_position_is_none_without_history(hub_url: str | None) -> None:
    async with make_hub(hub_url, history_size=0) as plain:
        await plain.publish("r", "x")
        _, member = await join(plain, "r")
        assert member.position is None
    async with make_hub(hub_url, history_by_prefix={"presence:": 0}) as mixed:
        _, kept = await join(mixed, "chat")
        assert kept.position is not None
        _, member = await join(mixed, "presence:chat")
        assert member.position is None


async def test_json_frame_tells_clients_each_position(hub_url: str | None) -> None:
    async with make_hub(hub_url, frame=json_frame) as hub:
        await hub.publish("r", {"before": True})
        sock, _ = await join(hub, "r", since=Position("x", 0))  # not recovered: live only
        position = await hub.publish("r", {"n": 1})
        await hub.publish("r", "text")
        await hub.publish("r", b"\x01\x02")
        frames = [json.loads(d) for d in await sock.wait_data(3)]
        assert frames[0] == {"room": "r", "position": str(position), "data": {"n": 1}}
        assert frames[1]["data"] == "text" and Position.parse(frames[1]["position"]).offset == 3
        assert frames[2]["bytes"] == "AQI=" and "data" not in frames[2]
        replay, _ = await join(hub, "r", since=frames[0]["position"])  # the client's last position
        assert [json.loads(d)["position"] for d in await replay.wait_data(2)] == [
            frames[1]["position"],
            frames[2]["position"],
        ]


async def test_a_nested_join_of_the_same_room_replays_nothing_twice(hub: Hub) -> None:
    first = await hub.publish("r", "a")
    await hub.publish("r", "b")
    sock = await connected()
    async with (
        hub.join("r", sock.websocket, since=first) as member,
        hub.join("r", sock.websocket, since=first) as again,
    ):
        assert again is member
        await hub.publish("r", "c")
        assert await sock.wait_data(2) == ["b", "c"]
        await asyncio.sleep(20 * MS)
        assert sock.data == ["b", "c"]


async def test_rooms_are_forgotten_when_their_last_member_leaves(hub: Hub) -> None:
    sock = await connected()
    async with hub.join("r", sock.websocket):
        await hub.publish("r", "x")
        await sock.wait_data(1)
        assert hub._history is not None and "r" in hub._history.feeds
    assert "r" not in hub._history.feeds


# -- a live member that misses messages -----------------------------------------------------------------------
async def test_a_gap_on_the_live_stream_is_filled_from_history(hub: Hub) -> None:
    """Simulate a publication the live stream lost: the next one reveals the gap, the hub fills it."""
    sock, _ = await join(hub, "r")
    history = hub._history
    assert history is not None
    await hub.publish("r", "1")
    await sock.wait_data(1)
    real = history.deliver
    dropped: list[Any] = []
    history.deliver = lambda publication: (  # type: ignore[method-assign]
        dropped.append(publication) if publication.offset == 2 else real(publication)
    )
    await hub.publish("r", "2")
    await hub.publish("r", "3")
    assert await sock.wait_data(3) == ["1", "2", "3"]
    assert len(dropped) == 1


async def test_a_gap_history_cannot_fill_closes_the_member_with_history_lost(hub_url: str | None) -> None:
    async with make_hub(hub_url, history_size=2) as hub:
        sock, member = await join(hub, "r")
        history = hub._history
        assert history is not None
        await hub.publish("r", "1")
        await sock.wait_data(1)
        real = history.deliver
        history.deliver = lambda publication: (  # type: ignore[method-assign]
            None if 2 <= publication.offset <= 4 else real(publication)
        )
        for i in range(2, 6):
            await hub.publish("r", str(i))  # 2 is trimmed by the time 5 reveals the gap
        close = await sock.wait_closed()
        assert (close["code"], close["reason"]) == (HISTORY_LOST_CLOSE_CODE, "history lost")
        assert member.closed and sock.data == ["1"]


async def test_a_failed_fill_read_is_reported_not_silent(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    sock, _ = await join(hub, "r")
    history = hub._history
    assert history is not None
    monkeypatch.setattr("sockjet.hub.history._FILL_RETRIES", (0.001,))
    await hub.publish("r", "1")
    await sock.wait_data(1)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise HubError("Redis went away")

    monkeypatch.setattr(hub._backend, "read_stream", broken)
    history.interrupted(["r", "not-here"])
    assert (await sock.wait_closed())["code"] == HISTORY_LOST_CLOSE_CODE


# -- Redis only ----------------------------------------------------------------------------------------------
PUBLISHER = """
import asyncio, sys
from sockjet import Hub

async def main(url, prefix, count):
    async with Hub(url, prefix=prefix, history_size=10000) as hub:
        for i in range(count):
            await hub.publish("r", f"p{i}")

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_publishers_in_two_processes_and_members_joining_mid_stream(shared_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    count = 300
    options: dict[str, Any] = {"history_size": 10000, "max_queue": 10000}  # members read at the test's pace
    async with (
        make_hub(shared_url, prefix, **options) as here,
        make_hub(shared_url, prefix, **options) as there,
    ):
        watcher, _ = await join(there, "r")
        process = subprocess.Popen([sys.executable, "-c", PUBLISHER, shared_url, prefix, str(count)])
        try:
            members: list[tuple[FakeSocket, int]] = []
            for i in range(count):
                await here.publish("r", f"h{i}")
                if i % 50 == 25:
                    top = (await there.history("r", limit=0)).top
                    assert top is not None
                    after = max(0, top.offset - 7)
                    sock, member = await join(there, "r", since=Position(top.epoch, after))
                    assert member.recovered
                    members.append((sock, after))
            assert await asyncio.to_thread(process.wait, 30) == 0
        finally:
            process.kill()
        everything = await watcher.wait_data(2 * count, 10000 * MS)
        history = await here.history("r")
        assert [m.data for m in history.messages] == everything  # one total order, as stored
        assert [m.position.offset for m in history.messages] == list(range(1, 2 * count + 1))
        for sock, after in members:
            assert await sock.wait_data(2 * count - after, 10000 * MS) == everything[after:]


@pytest.mark.redis
async def test_a_dropped_subscriber_fills_its_members_gaps_from_the_stream(shared_redis: RedisServer) -> None:
    import redis.asyncio as aioredis

    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with make_hub(shared_redis.url, prefix) as here, make_hub(shared_redis.url, prefix) as there:
        sock, member = await join(here, "r")
        await there.publish("r", "before")
        await sock.wait_data(1)
        backend = here._backend
        assert isinstance(backend, RedisBackend)
        probe = aioredis.Redis.from_url(shared_redis.url)
        try:
            await probe.client_kill_filter(_type="pubsub")  # CLIENT KILL TYPE pubsub: every subscriber drops
            for i in range(5):
                await there.publish("r", f"during {i}")  # the live stream of `here` is gone meanwhile
        finally:
            await probe.aclose()
        await there.publish("r", "after")
        got = await sock.wait_data(7, 5000 * MS)
        assert got == ["before", *[f"during {i}" for i in range(5)], "after"]
        assert not member.closed and backend.failed_reads >= 1


@pytest.mark.redis
async def test_a_redis_restart_tells_live_members_and_old_positions_do_not_recover(
    redis_server: RedisServer,
) -> None:
    async with make_hub(redis_server.url, timeout=300 * MS) as hub:
        sock, _ = await join(hub, "r")
        before = await hub.publish("r", "before")
        await sock.wait_data(1)
        redis_server.restart()
        close = await sock.wait_closed(5000 * MS)
        assert close["code"] == HISTORY_LOST_CLOSE_CODE
        deadline = time.monotonic() + 5000 * MS
        while True:
            try:
                after = await hub.publish("r", "after")
                break
            except Exception:
                assert time.monotonic() < deadline
                await asyncio.sleep(20 * MS)
        assert after is not None and before is not None and after.epoch != before.epoch and after.offset == 1
        _, member = await join(hub, "r", since=before)
        assert member.recovered is False
        assert (await hub.history("r", since=before)).recovered is False


async def test_memory_forgets_quiet_rooms_without_members() -> None:
    async with make_hub(None, history_meta_ttl=0.1) as hub:
        sock, _ = await join(hub, "busy")
        quiet = await hub.publish("quiet", "x")
        busy = await hub.publish("busy", "x")
        await asyncio.sleep(150 * MS)
        await hub.publish("other", "wakes the sweep")
        assert (await hub.history("quiet")).top is None  # forgotten: a new epoch next time
        again = await hub.publish("quiet", "y")
        assert quiet is not None and again is not None and again.epoch != quiet.epoch and again.offset == 1
        assert (await hub.history("busy")).top == busy  # has a member: kept
        await sock.wait_data(1)


async def test_memory_frees_quiet_rooms_without_any_further_call() -> None:
    """The sweep timer frees them: nothing is published, read or joined after the rooms go quiet."""
    from sockjet.hub.backends.memory import SWEEP_BATCH, MemoryBackend

    meta_ttl = 0.2
    async with make_hub(None, history_meta_ttl=meta_ttl) as hub:
        backend = hub._backend
        assert isinstance(backend, MemoryBackend)
        sock, _ = await join(hub, "busy")
        rooms = 3 * SWEEP_BATCH + 7  # several sweeps' worth, freed a batch per turn of the loop
        for i in range(rooms):
            await hub.publish(f"quiet {i}", "x" * 100)
        assert len(backend._streams) == rooms + 1
        deadline = time.monotonic() + meta_ttl + 2000 * MS
        while len(backend._streams) > 1:
            assert time.monotonic() < deadline, f"{len(backend._streams)} rooms still kept"
            await asyncio.sleep(10 * MS)
        assert len(backend._streams) == 1  # "busy": it has a member
        assert (await hub.history("busy")).top is not None
        assert backend._sweep is not None  # armed for "busy", looked at again a meta_ttl later
    assert backend._sweep is None  # stopping the hub cancelled the timer: nothing is left behind
    await asyncio.sleep(meta_ttl + 50 * MS)
    assert sock.data == []


async def test_binary_publications_reach_members_as_binary_frames(hub: Hub) -> None:
    sock, _ = await join(hub, "r")
    await hub.publish("r", b"\x00\x01")
    assert await sock.wait_data(1) == [b"\x00\x01"]


async def test_history_by_room_name_prefix(hub_url: str | None) -> None:
    async with make_hub(hub_url, history_size=5, history_by_prefix={"presence:": 0, "audit:": 1000}) as hub:
        sock, _ = await join(hub, "presence:lobby")
        assert await hub.publish("presence:lobby", "here") is None  # no history: published as without
        assert await sock.wait_data(1) == ["here"]
        with pytest.raises(ConfigurationError, match=re.escape("hub.history('presence:lobby') needs a hub")):
            await hub.history("presence:lobby")
        with pytest.raises(ConfigurationError, match=re.escape("this hub keeps no history for it")):
            hub.join("presence:lobby", sock.websocket, since="e.1")
        for i in range(10):
            await hub.publish("audit:x", i)
            await hub.publish("lobby", i)
        if hub_url is None or hub_url.startswith("redis"):  # NATS: one JetStream stream, one per-room limit
            assert len((await hub.history("audit:x")).messages) == 10
            assert len((await hub.history("lobby")).messages) == 5
    async with make_hub(hub_url, history_size=0, history_by_prefix={"kept:": 3}) as hub:
        assert await hub.publish("plain", "x") is None
        assert (await hub.publish("kept:a", "x")) is not None


@pytest.mark.parametrize("value", [{"": 3}, {3: 3}, [("a", 3)]])
def test_history_by_prefix_is_checked(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="history_by_prefix must be a dict of non-empty room-name prefixes"):
        Hub(history_size=5, history_by_prefix=value)
    with pytest.raises(ConfigurationError, match="history_size must be an int >= 0"):
        Hub(history_size=5, history_by_prefix={"a": -1})
