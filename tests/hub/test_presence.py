"""Presence on every backend (ids ``memory``, ``redis`` and ``nats``, the fixtures of the backend suite):
who is in a room, joins and leaves as frames and to observers, users, nesting, several rooms."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from typing import Any

import pytest

from sockjet import Hub
from sockjet.exceptions import ConfigurationError, HubError, PresenceInfoTooLarge
from sockjet.hub import PresenceEvent, PresenceStats
from sockjet.hub.backends.nats import NatsBackend
from sockjet.hub.backends.nats_presence import NatsPresenceStore
from sockjet.hub.backends.redis import RedisBackend
from sockjet.hub.backends.redis_presence import RedisPresenceStore
from tests.conftest import MS
from tests.hub.backends.test_every_backend import make_hub
from tests.hub_fakes import FakeSocket, connected
from tests.servers.nats_server import NatsServer
from tests.servers.redis_server import RedisServer
from tests.timing import until

ROOM = "lobby"


async def enter(hub: Hub, room: str = ROOM, sock: FakeSocket | None = None, **options: Any) -> tuple[FakeSocket, Any]:
    """``sock`` (or a new connection) joins ``room``; returns it and the entered join context."""
    sock = sock or await connected()
    join = hub.join(room, sock.websocket, **options)
    await join.__aenter__()
    return sock, join


def frames(sock: FakeSocket) -> list[Any]:
    return [json.loads(d) if isinstance(d, str) and d.startswith("{") else d for d in sock.data]


def presence_frames(sock: FakeSocket) -> list[dict[str, Any]]:
    return [f for f in frames(sock) if isinstance(f, dict) and f.get("type") == "presence"]


def replay(sock: FakeSocket, key: str = "id") -> dict[Any, dict[str, Any]]:
    """What a client knows after applying every presence frame in order (state, then leaves then joins)."""
    known: dict[Any, dict[str, Any]] = {}

    def key_of(entry: dict[str, Any]) -> Any:
        return entry["id"] if key == "id" else entry["info"].get("user", entry["id"])

    for frame in presence_frames(sock):
        if "state" in frame:
            known = {key_of(e): e["info"] for e in frame["state"]}
            continue
        for entry in frame["leaves"]:
            known.pop(key_of(entry), None)
        for entry in frame["joins"]:
            known[key_of(entry)] = entry["info"]
    return known


@pytest.fixture
async def hub(hub_url: str | None) -> Any:
    async with make_hub(hub_url, presence_interval=0) as running:
        yield running


# -- who is there ---------------------------------------------------------------------------------------
async def test_presence_lists_every_announced_connection(hub: Hub) -> None:
    a, join_a = await enter(hub, presence={"user": "u1", "name": "Ada"})
    b, join_b = await enter(hub, presence={"user": "u2", "name": "Bob"})
    _, quiet = await enter(hub)  # a member that announces nothing is not listed
    ida, idb = hub.member(a.websocket).connection_id, hub.member(b.websocket).connection_id  # type: ignore[union-attr]
    assert await hub.presence(ROOM) == {ida: {"user": "u1", "name": "Ada"}, idb: {"user": "u2", "name": "Bob"}}
    assert await hub.presence_stats(ROOM) == PresenceStats(connections=2, users=2)
    await join_a.__aexit__(None, None, None)
    assert await hub.presence(ROOM) == {idb: {"user": "u2", "name": "Bob"}}
    await join_b.__aexit__(None, None, None)
    await quiet.__aexit__(None, None, None)
    assert await hub.presence(ROOM) == {}
    assert tuple(await hub.presence_stats(ROOM)) == (0, 0)
    assert await hub.presence("never used") == {}


async def test_users_are_counted_by_their_user_key(hub: Hub) -> None:
    joins = [(await enter(hub, presence={"user": "u1", "tab": tab}))[1] for tab in range(3)]
    await enter(hub, presence={"user": "u2"})
    await enter(hub, presence={"user": 2})  # 2 and "2" are different users...
    await enter(hub, presence={"user": "2"})
    await enter(hub, presence={"name": "anonymous"})  # ...and a connection without one is a user of its own
    await enter(hub, presence={})
    assert await hub.presence_stats(ROOM) == (8, 6)
    for join in joins[:2]:
        await join.__aexit__(None, None, None)
    assert await hub.presence_stats(ROOM) == (6, 6)
    await joins[2].__aexit__(None, None, None)
    assert await hub.presence_stats(ROOM) == (5, 5)


async def test_nested_joins_announce_once_and_leave_with_the_outermost(hub: Hub) -> None:
    sock, outer = await enter(hub, presence={"user": "u1"})
    _, inner = await enter(hub, sock=sock)  # no presence: keeps the outer one
    _, same = await enter(hub, sock=sock, presence={"user": "u1"})  # the same presence is fine too
    connection = hub.member(sock.websocket).connection_id  # type: ignore[union-attr]
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            f'This WebSocket is already in room {ROOM!r} with presence={{"user":"u1"}} and presence_events=None; '
            "a nested join of the same room must pass the same presence and presence_events, or none."
        ),
    ):
        await hub.join(ROOM, sock.websocket, presence={"user": "someone else"}).__aenter__()
    await same.__aexit__(None, None, None)
    await inner.__aexit__(None, None, None)
    assert await hub.presence(ROOM) == {connection: {"user": "u1"}}
    await outer.__aexit__(None, None, None)
    assert await hub.presence(ROOM) == {}


async def test_one_connection_in_several_rooms_has_one_id(hub: Hub) -> None:
    sock, in_a = await enter(hub, "a", presence={"user": "u1", "where": "a"})
    _, in_b = await enter(hub, "b", sock=sock, presence={"user": "u1", "where": "b"})
    member = hub.member(sock.websocket)
    assert member is not None
    assert await hub.presence("a") == {member.connection_id: {"user": "u1", "where": "a"}}
    assert await hub.presence("b") == {member.connection_id: {"user": "u1", "where": "b"}}
    await in_a.__aexit__(None, None, None)
    assert (await hub.presence("a"), list(await hub.presence("b"))) == ({}, [member.connection_id])
    await in_b.__aexit__(None, None, None)
    assert await hub.presence("b") == {}


async def test_a_connection_that_goes_away_leaves_every_room(hub: Hub) -> None:
    watcher, _ = await enter(hub, presence_events=True)
    sock = await connected(broken=True)
    await enter(hub, "a", sock=sock, presence={"user": "u1"})
    await enter(hub, ROOM, sock=sock, presence={"user": "u1"})
    assert (await hub.presence_stats(ROOM)).connections == 1
    await hub.publish(ROOM, "to everyone")  # the broken socket's send fails: the member is gone
    await until(lambda: len(presence_frames(watcher)) >= 3)
    assert replay(watcher) == {}
    assert await hub.presence("a") == {}
    assert await hub.presence(ROOM) == {}


# -- events to members ------------------------------------------------------------------------------------
async def test_a_member_gets_the_state_then_changes_in_order_with_messages(hub: Hub) -> None:
    early, _ = await enter(hub, presence={"user": "u0"})
    watcher, _ = await enter(hub, presence={"user": "u1"}, presence_events=True)
    ids = {s: hub.member(s.websocket).connection_id for s in (early, watcher)}  # type: ignore[union-attr]
    await hub.publish(ROOM, "first")
    late, late_join = await enter(hub, presence={"user": "u2", "name": "Lou"})
    late_id = hub.member(late.websocket).connection_id  # type: ignore[union-attr]
    await hub.publish(ROOM, "second")
    await late_join.__aexit__(None, None, None)
    await hub.publish(ROOM, "third")
    await watcher.wait_data(7)  # the state, its own join, three messages, a join and a leave
    got = frames(watcher)
    assert got[0] == {
        "type": "presence",
        "room": ROOM,
        "state": [{"id": ids[early], "info": {"user": "u0"}}, {"id": ids[watcher], "info": {"user": "u1"}}],
    }
    own = {"type": "presence", "room": ROOM, "joins": [{"id": ids[watcher], "info": {"user": "u1"}}], "leaves": []}
    entry = {"id": late_id, "info": {"user": "u2", "name": "Lou"}}
    assert got[1:] == [
        own,  # its own join, already in the state: applying it changes nothing
        "first",
        {"type": "presence", "room": ROOM, "joins": [entry], "leaves": []},
        "second",
        {"type": "presence", "room": ROOM, "joins": [], "leaves": [entry]},
        "third",
    ]
    assert replay(watcher) == {ids[early]: {"user": "u0"}, ids[watcher]: {"user": "u1"}}


async def test_members_without_events_get_no_presence_frames(hub: Hub) -> None:
    quiet, _ = await enter(hub, presence={"user": "u1"})
    await enter(hub, presence={"user": "u2"})
    await hub.publish(ROOM, "only this")
    assert await quiet.wait_data(1) == ["only this"]
    await asyncio.sleep(20 * MS)
    assert quiet.data == ["only this"]


async def test_user_events_are_first_join_and_last_leave(hub: Hub) -> None:
    watcher, _ = await enter(hub, presence_events="users")
    tabs = [await enter(hub, presence={"user": "ada", "tab": n}) for n in range(3)]
    bob, bob_join = await enter(hub, presence={"name": "bob"})  # no user: a user of its own
    for _, join in tabs:
        await join.__aexit__(None, None, None)
    await bob_join.__aexit__(None, None, None)
    await hub.publish(ROOM, "end")
    await until(lambda: "end" in watcher.data)
    first_tab = hub_ids = None
    got = presence_frames(watcher)
    first_tab = got[1]["joins"][0]
    hub_ids = [frame["joins"] + frame["leaves"] for frame in got[1:]]
    assert got[0]["state"] == []
    assert first_tab["info"] == {"user": "ada", "tab": 0}
    assert [[e["info"] for e in entries] for entries in hub_ids] == [
        [{"user": "ada", "tab": 0}],  # the first tab joins the user
        [{"name": "bob"}],
        [{"user": "ada", "tab": 2}],  # the last tab to leave takes the user with it
        [{"name": "bob"}],
    ]
    assert [bool(f["joins"]) for f in got[1:]] == [True, True, False, False]
    assert replay(watcher, key="user") == {}
    assert bob.data == []


async def test_events_without_announcing_and_a_state_in_users_mode(hub: Hub) -> None:
    for tab in range(2):
        await enter(hub, presence={"user": "ada", "tab": tab})
    watcher, _ = await enter(hub, presence_events="users")
    state = presence_frames(await _settled(watcher))[0]["state"]
    assert [e["info"] for e in state] == [{"user": "ada", "tab": 0}]
    assert await hub.presence_stats(ROOM) == (2, 1)


async def _settled(sock: FakeSocket) -> FakeSocket:
    await sock.wait_data(1)
    return sock


async def test_churn_is_grouped_into_few_frames_with_the_right_end_state(hub_url: str | None) -> None:
    async with make_hub(hub_url, presence_interval=200 * MS) as hub:
        watcher, _ = await enter(hub, presence_events=True)
        stay = []
        started = time.monotonic()
        for n in range(60):
            sock, join = await enter(hub, presence={"user": f"u{n}"})
            if n % 3:
                await join.__aexit__(None, None, None)  # joined and left, most often within one wait
            else:
                stay.append(hub.member(sock.websocket).connection_id)  # type: ignore[union-attr]
        elapsed = time.monotonic() - started
        await until(lambda: set(replay(watcher)) == set(stay), 3000 * MS)
        got = presence_frames(watcher)
        # The state, the first change at once, then at most one frame per interval.
        assert len(got) <= 2 + elapsed / (200 * MS) + 1
        listed = sum(len(f.get("joins", [])) + len(f.get("leaves", [])) for f in got[1:])
        assert listed <= len(stay) + 2 * len(got)  # of 100 changes, only who stayed (and pairs split by a frame)


# -- observers --------------------------------------------------------------------------------------------
async def test_observers_see_each_change_once_sync_or_async(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[PresenceEvent] = []
    later: list[str] = []

    @hub.on_presence
    def record(event: PresenceEvent) -> None:
        seen.append(event)

    async def slow(event: PresenceEvent) -> None:
        await asyncio.sleep(0)
        later.append(f"{event.kind} {event.user}")

    def broken(event: PresenceEvent) -> None:
        raise RuntimeError("observer bug")

    async def broken_later(event: PresenceEvent) -> None:
        raise RuntimeError("async observer bug")

    for observer in (slow, broken, broken_later):
        hub.on_presence(observer)
    with caplog.at_level(logging.ERROR, logger="sockjet.hub"):
        sock, one = await enter(hub, presence={"user": "ada"})
        _, two = await enter(hub, presence={"user": "ada"})
        await one.__aexit__(None, None, None)
        hub.off_presence(broken)
        hub.off_presence(broken)  # twice: no error
        await two.__aexit__(None, None, None)
        await until(lambda: len(later) == 4)
    connection = hub.member(sock.websocket)
    assert connection is None  # left its only room
    assert [(e.room, e.kind, e.user, e.user_changed, e.expired) for e in seen] == [
        (ROOM, "join", "ada", True, False),
        (ROOM, "join", "ada", False, False),
        (ROOM, "leave", "ada", False, False),
        (ROOM, "leave", "ada", True, False),
    ]
    assert seen[0].info == {"user": "ada"}
    assert later == ["join ada", "join ada", "leave ada", "leave ada"]
    messages = [r.getMessage() for r in caplog.records]
    errors = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert (errors.count("observer bug"), errors.count("async observer bug")) == (3, 4)
    assert all(m.startswith("Presence observer") for m in messages)
    with pytest.raises(TypeError, match=re.escape("on_presence takes a callable, got 42.")):
        hub.on_presence(42)  # type: ignore[arg-type]


async def test_shutdown_withdraws_every_connection(hub_url: str | None) -> None:
    hub = make_hub(hub_url)
    seen: list[str] = []
    hub.on_presence(lambda event: seen.append(event.kind))
    async with hub:
        await enter(hub, presence={"user": "ada"})
        await enter(hub, "b", presence={"user": "bob"})
    assert sorted(seen) == ["join", "join", "leave", "leave"]
    async with hub:
        assert await hub.presence(ROOM) == {}


# -- bad input --------------------------------------------------------------------------------------------
async def test_presence_must_be_a_small_json_object(hub: Hub) -> None:
    sock = await connected()
    with pytest.raises(TypeError, match=re.escape("presence must be a dict (a JSON object), got 'list'.")):
        hub.join(ROOM, sock.websocket, presence=["ada"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="presence must be JSON-serializable: "):
        hub.join(ROOM, sock.websocket, presence={"when": object()})
    with pytest.raises(
        PresenceInfoTooLarge,
        match=re.escape(
            "presence info is 1035 bytes of JSON; the hub's max_presence_info is 1024 bytes. "
            "Announce less (an id and a display name), or raise Hub(max_presence_info=...)."
        ),
    ):
        hub.join(ROOM, sock.websocket, presence={"name": "x" * 1024})
    with pytest.raises(
        ConfigurationError,
        match=re.escape('presence_events must be False, True, "connections" or "users", got \'all\'.'),
    ):
        hub.join(ROOM, sock.websocket, presence_events="all")  # type: ignore[arg-type]
    assert await hub.presence(ROOM) == {}


def test_presence_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match=re.escape("max_presence_info must be an int >= 2, got 0.")):
        Hub(max_presence_info=0)
    with pytest.raises(ConfigurationError, match=re.escape("presence_interval must be a number >= 0, got -1.")):
        Hub(presence_interval=-1)
    with pytest.raises(TypeError, match="A room is a non-empty str"):
        asyncio.run(Hub().presence(""))


# -- across processes (Redis, NATS): processes, crashes, restarts ------------------------------------------
class _Nobody:
    """The local side of a process that is about to die: no members, no observers."""

    def deliver(self, envelope: object) -> None: ...

    def local_count(self, room: str) -> int:
        return 0

    def local_rooms(self) -> list[str]:
        return []

    def deliver_publication(self, publication: object) -> None: ...

    def stream_interrupted(self, rooms: list[str]) -> None: ...

    def observe(self, event: PresenceEvent) -> None: ...

    def wants(self, room: str) -> bool:
        return False


async def crashed_process(url: str, prefix: str, ttl: float, room: str, users: list[str]) -> list[str]:
    """Announce one connection per user from a process that then dies without a word (as kill -9 leaves it)."""
    backend: Any
    store: Any
    if url.startswith("nats"):
        backend = NatsBackend(url, prefix=prefix, presence_ttl=ttl)
        await backend.start(_Nobody())
        store = NatsPresenceStore(backend)
    else:
        backend = RedisBackend(url, prefix=prefix, presence_ttl=ttl)
        await backend.start(_Nobody())
        store = RedisPresenceStore(backend)
    await store.start(_Nobody())
    assert store._task is not None
    store._task.cancel()  # it stops refreshing...
    with contextlib.suppress(asyncio.CancelledError):
        await store._task
    ids = [f"dead-{user}" for user in users]
    for connection, user in zip(ids, users, strict=True):
        await store.join(room, connection, json.dumps({"user": user}), json.dumps(user))
    store._mine.clear()  # ...and takes nothing with it
    await backend.stop()
    return ids


async def test_two_processes_see_the_same_presence_and_each_change_is_observed_once(shared_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    seen: dict[str, list[tuple[str, str]]] = {"one": [], "two": []}
    async with (
        Hub(shared_url, prefix=prefix, presence_interval=0) as one,
        Hub(shared_url, prefix=prefix, presence_interval=0) as two,
    ):
        one.on_presence(lambda e: seen["one"].append((e.kind, e.user)))
        two.on_presence(lambda e: seen["two"].append((e.kind, e.user)))
        watcher, _ = await enter(one, presence={"user": "ada"}, presence_events=True)
        bob, bob_join = await enter(two, presence={"user": "bob"})
        bob_id = two.member(bob.websocket).connection_id  # type: ignore[union-attr]
        assert await one.presence(ROOM) == await two.presence(ROOM)
        assert await one.presence_stats(ROOM) == (2, 2)
        await bob_join.__aexit__(None, None, None)
        await until(lambda: replay(watcher) == {one.member(watcher.websocket).connection_id: {"user": "ada"}})  # type: ignore[union-attr]
        assert [f.get("joins") for f in presence_frames(watcher)][-2] == [{"id": bob_id, "info": {"user": "bob"}}]
    assert seen == {"one": [("join", "ada"), ("leave", "ada")], "two": [("join", "bob"), ("leave", "bob")]}


async def test_a_dead_process_is_reaped_once_within_the_bound(shared_url: str) -> None:
    prefix, ttl = f"test-{uuid.uuid4().hex[:8]}:", 0.3
    observed: list[PresenceEvent] = []
    async with (
        Hub(shared_url, prefix=prefix, presence_ttl=ttl, presence_interval=0) as one,
        Hub(shared_url, prefix=prefix, presence_ttl=ttl, presence_interval=0) as two,
    ):
        one.on_presence(observed.append)
        two.on_presence(observed.append)
        for hub in (one, two):
            if isinstance(hub._presence.store, RedisPresenceStore):
                hub._presence.store.reap_limit = 1  # two rooms come due at once: one script each
        watchers = [(await enter(hub, presence={"user": "ada"}, presence_events=True))[0] for hub in (one, two)]
        for room in ("elsewhere", ROOM):  # "elsewhere" has no member in any survivor: reaped all the same
            dead = await crashed_process(shared_url, prefix, ttl, room, ["x", "y", "ada"])
        died = time.monotonic()
        assert (await one.presence_stats(ROOM)) == (5, 3)
        await until(lambda: len([e for e in observed if e.expired]) == 6, 3000 * MS)
        took = time.monotonic() - died
        assert took <= ttl + min(ttl / 3, 1.0) + 0.3
        assert sorted((e.room, e.connection, e.user_changed) for e in observed if e.expired) == [
            ("elsewhere", "dead-ada", True),
            ("elsewhere", "dead-x", True),
            ("elsewhere", "dead-y", True),
            (ROOM, "dead-ada", False),  # ada is still here on two other connections
            (ROOM, "dead-x", True),
            (ROOM, "dead-y", True),
        ]
        assert await one.presence_stats(ROOM) == (2, 1)
        for watcher in watchers:  # every member saw exactly the lost connections leave
            left = [e["id"] for f in presence_frames(watcher) for e in f.get("leaves", [])]
            assert sorted(left) == sorted(dead)
        await asyncio.sleep(3 * ttl)  # the survivors keep refreshing: nothing else expires
        assert await two.presence_stats(ROOM) == (2, 1)
        assert len([e for e in observed if e.kind == "leave"]) == 6


@pytest.mark.redis
async def test_presence_comes_back_after_redis_loses_it(redis_server: RedisServer) -> None:
    observed: list[str] = []
    async with Hub(redis_server.url, presence_ttl=0.3, presence_interval=0) as hub:
        hub.on_presence(lambda e: observed.append(e.kind))
        sock, _ = await enter(hub, presence={"user": "ada"})
        watcher, _ = await enter(hub, "other", presence_events=True)
        await enter(hub, "other", sock=watcher, presence_events=True)  # nested: listens once
        await until(lambda: len(presence_frames(watcher)) == 1)
        connection = hub.member(sock.websocket).connection_id  # type: ignore[union-attr]
        redis_server.restart()  # without persistence: every key is gone
        deadline = time.monotonic() + 5000 * MS
        while True:  # announced again by the next refresh once the client reconnects
            with contextlib.suppress(HubError):
                if await hub.presence(ROOM) == {connection: {"user": "ada"}}:
                    break
            assert time.monotonic() < deadline, "presence never came back"
            await asyncio.sleep(20 * MS)
        # The second join event comes over pub/sub and may trail the read above by a moment.
        await until(lambda: observed == ["join", "join"])
        # The listener of "other" may have missed changes while the subscriber was away: a fresh state.
        await until(lambda: len([f for f in presence_frames(watcher) if "state" in f]) == 2)


@pytest.mark.redis
async def test_upkeep_repairs_what_redis_missed(shared_redis: RedisServer) -> None:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    async with Hub(shared_redis.url, prefix=prefix, presence_ttl=60) as hub:
        store = hub._presence.store
        assert isinstance(store, RedisPresenceStore)
        observed: list[tuple[str, str]] = []
        hub.on_presence(lambda e: observed.append((e.kind, e.connection)))
        socks = [(await enter(hub, presence={"user": f"u{n}"}))[0] for n in range(3)]
        ids = [hub.member(s.websocket).connection_id for s in socks]  # type: ignore[union-attr]
        # A leave that Redis did not take is kept and retried.
        real_leave = store._scripts["leave"]
        store._scripts["leave"] = lambda **kw: _raise(RedisConnectionError("Connection reset by peer"))
        member = hub.member(socks[0].websocket)
        assert member is not None
        member.close()
        await until(lambda: (socks[0].close_message is not None) and not hub._background)
        assert store._leaves == {(ROOM, ids[0])}
        store._scripts["leave"] = real_leave
        await store.tick(refresh=False)
        assert (store._leaves, sorted(await hub.presence(ROOM))) == (set(), sorted(ids[1:]))
        # A connection Redis lost is announced again; one it has but we do not is withdrawn.
        probe = aioredis.Redis.from_url(shared_redis.url)
        try:
            await probe.hdel(f"{prefix}presence-info:{ROOM}", ids[1])
            await probe.srem(f"{prefix}presence-conns:{store.backend.process_id}:{ROOM}", ids[1])
            observed.clear()
            await store.tick(refresh=True)
            assert observed == [("join", ids[1])]
            await probe.hset(f"{prefix}presence-info:{ROOM}", "stray", '""\n{}')
            await probe.hincrby(f"{prefix}presence-users:{ROOM}", '""', 1)
            await probe.sadd(f"{prefix}presence-conns:{store.backend.process_id}:{ROOM}", "stray")
        finally:
            await probe.aclose()
        observed.clear()
        await store.tick(refresh=True)
        assert sorted(await hub.presence(ROOM)) == sorted(ids[1:])
        assert observed == [("leave", "stray")]


@pytest.mark.redis
async def test_a_refresh_renews_every_room_in_batches_and_repairs_a_stale_one(
    shared_redis: RedisServer,
) -> None:
    import redis.asyncio as aioredis

    from sockjet.hub.backends.redis_presence import REFRESH_BATCH

    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    rooms = [f"room-{i}" for i in range(REFRESH_BATCH + 20)]  # two scripts' worth
    async with Hub(shared_redis.url, prefix=prefix, presence_ttl=60) as hub:
        store = hub._presence.store
        assert isinstance(store, RedisPresenceStore)
        sock = await connected()
        for room in rooms:
            await enter(hub, room, sock, presence={"user": "u"})
        connection = hub.member(sock.websocket).connection_id  # type: ignore[union-attr]
        pid = store.backend.process_id
        probe = aioredis.Redis.from_url(shared_redis.url)
        try:
            before = [await probe.zscore(f"{prefix}presence-procs:{room}", pid) for room in rooms]
            stale = rooms[-1]  # in the second batch: Redis lost it
            await probe.hdel(f"{prefix}presence-info:{stale}", connection)
            await probe.srem(f"{prefix}presence-conns:{pid}:{stale}", connection)
            await asyncio.sleep(20 * MS)  # Redis's clock moves on
            await store.tick(refresh=True)
            after = [await probe.zscore(f"{prefix}presence-procs:{room}", pid) for room in rooms]
        finally:
            await probe.aclose()
        assert all(a is not None and b is not None and a > b for a, b in zip(after[:-1], before[:-1], strict=True))
        assert list(await hub.presence(stale)) == [connection]  # announced again
        for room in rooms[:3]:
            assert list(await hub.presence(room)) == [connection]


@pytest.mark.redis
async def test_a_store_stopped_with_connections_withdraws_them(shared_redis: RedisServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    backend = RedisBackend(shared_redis.url, prefix=prefix)
    await backend.start(_Nobody())
    store = RedisPresenceStore(backend)
    await store.start(_Nobody())
    await store.join(ROOM, "c1", "{}", "")
    assert await store.stats(ROOM) == (1, 1)
    await store.stop()  # normally the hub has left every room first; if not, the store does
    await backend.stop()
    async with Hub(shared_redis.url, prefix=prefix) as hub:
        assert await hub.presence(ROOM) == {}


async def _raise(exc: BaseException) -> None:
    raise exc


@pytest.mark.redis
async def test_presence_fails_clearly_when_redis_is_down(redis_server: RedisServer) -> None:
    async with Hub(redis_server.url, timeout=0.5, presence_ttl=0.3) as hub:
        redis_server.stop()
        port = redis_server.port
        await asyncio.sleep(0.25)  # the upkeep task fails, logs, and carries on
        for call in (hub.presence(ROOM), hub.presence_stats(ROOM)):
            with pytest.raises(
                HubError,
                match=re.escape(
                    f"Cannot read the presence of room 'lobby': Redis at redis://127.0.0.1:{port}/0 "
                    "did not answer within 0.5s ("
                ),
            ):
                await call
        sock = await connected()
        with pytest.raises(HubError, match=re.escape("Cannot announce presence in room 'lobby': Redis at ")):
            await hub.join(ROOM, sock.websocket, presence={"user": "ada"}).__aenter__()
        assert hub.member(sock.websocket) is None


# -- NATS only ---------------------------------------------------------------------------------------------
@pytest.mark.nats
async def test_nats_presence_comes_back_after_the_server_loses_it(nats_server: NatsServer) -> None:
    observed: list[str] = []
    async with Hub(nats_server.url, presence_ttl=0.3) as hub:
        hub.on_presence(lambda e: observed.append(e.kind))
        sock, _ = await enter(hub, presence={"user": "ada"})
        connection = hub.member(sock.websocket).connection_id  # type: ignore[union-attr]
        nats_server.restart()  # the bucket is kept in memory: it is gone
        deadline = time.monotonic() + 8000 * MS
        while True:  # announced again by the next heartbeat once the client is back
            with contextlib.suppress(HubError):
                if await hub.presence(ROOM) == {connection: {"user": "ada"}}:
                    break
            assert time.monotonic() < deadline, "presence never came back"
            await asyncio.sleep(50 * MS)
        await until(lambda: observed[:2] == ["join", "join"])  # the event may trail the read above


@pytest.mark.nats
async def test_nats_presence_fails_clearly_when_the_server_is_down(nats_server: NatsServer) -> None:
    async with Hub(nats_server.url, timeout=0.5, presence_ttl=0.3) as hub:
        sock, _ = await enter(hub, presence={"user": "ada"})
        nats_server.stop()
        await asyncio.sleep(0.25)  # the upkeep task fails, logs, and carries on
        for call in (hub.presence(ROOM), hub.presence_stats(ROOM)):
            with pytest.raises(HubError, match=re.escape("Cannot read the presence of room 'lobby': NATS at nats://")):
                await call
        with pytest.raises(HubError, match="Presence on NATS needs JetStream"):
            await hub.join(ROOM, (await connected()).websocket, presence={"user": "bob"}).__aenter__()
        store = hub._presence.store
        assert isinstance(store, NatsPresenceStore)
        member = hub.member(sock.websocket)
        assert member is not None
        member.close()  # its leave cannot be recorded now: kept and retried
        await until(lambda: bool(store._leaves) and not hub._background, 3000 * MS)
        nats_server.start()
        await until(lambda: not store._leaves, 8000 * MS)
        assert await hub.presence(ROOM) == {}


@pytest.mark.nats
async def test_nats_concurrent_tabs_of_one_user_make_one_first_join(shared_nats: NatsServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    observed: list[PresenceEvent] = []
    async with Hub(shared_nats.url, prefix=prefix) as one, Hub(shared_nats.url, prefix=prefix) as two:
        one.on_presence(observed.append)
        two.on_presence(observed.append)
        socks = [await connected() for _ in range(12)]
        joins = [
            (one, two)[n % 2].join(ROOM, s.websocket, presence={"user": "ada", "tab": n}) for n, s in enumerate(socks)
        ]
        await asyncio.gather(*(join.__aenter__() for join in joins))  # compare-and-set conflicts, retried
        assert await one.presence_stats(ROOM) == (12, 1)
        assert [e.user_changed for e in observed].count(True) == 1
        await asyncio.gather(*(join.__aexit__(None, None, None) for join in joins))
        assert await two.presence_stats(ROOM) == (0, 0)
        assert [e.kind for e in observed if e.user_changed] == ["join", "leave"]
        # A store stopped with connections still announced withdraws them itself.
        backend = NatsBackend(shared_nats.url, prefix=prefix)
        await backend.start(_Nobody())
        store = NatsPresenceStore(backend)
        await store.start(_Nobody())
        await store.join(ROOM, "c1", "{}", "")
        assert await one.presence(ROOM) == {"c1": {}}
        await store.stop()
        await backend.stop()
        assert await one.presence(ROOM) == {}


def test_nats_key_tokens_are_distinct_for_distinct_rooms() -> None:
    from sockjet.hub.backends.nats_presence import key_token, user_token

    rooms = ["lobby", "a.b", "a-b", "*", ">", "é", "=x", "x" * 200, "y" * 200, "a" * 128, "a" * 129]
    tokens = [key_token(room) for room in rooms]
    assert len(set(tokens)) == len(rooms)
    assert tokens[:3] == ["lobby", "=YS5i", "a-b"]
    assert all(re.fullmatch(r"[-=_A-Za-z0-9]+", token) for token in tokens)
    assert tokens[7].startswith("==") and len(tokens[7]) == 66
    assert len(user_token('"ada"')) == 32
