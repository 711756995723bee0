"""The presence feed of one hub: buffering a joiner until its state, modes side by side, timers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sockjet.hub.backends.presence import NO_SINK, MemoryPresenceStore
from sockjet.hub.presence import PresenceEvent, PresenceMode
from sockjet.hub.presence_feed import PresenceFeed
from sockjet.types import Message
from tests.conftest import MS


class Recorder:
    def __init__(self) -> None:
        self.got: dict[str, list[Any]] = {}

    def offer(self, member: str, message: Message, size: int) -> None:
        assert size == len(message["text"].encode())
        self.got.setdefault(member, []).append(json.loads(message["text"]))


def join(connection: str, user: str, first: bool = True) -> PresenceEvent:
    return PresenceEvent("r", "join", connection, json.dumps({"user": user}), user_changed=first)


def leave(connection: str, user: str, last: bool = True) -> PresenceEvent:
    return PresenceEvent("r", "leave", connection, json.dumps({"user": user}), user_changed=last)


async def test_a_joiner_gets_its_state_then_what_came_meanwhile() -> None:
    rec = Recorder()
    feed: PresenceFeed[str] = PresenceFeed(rec.offer, interval=0)
    assert not feed.wants("r")
    feed.subscribe("r", "conns", PresenceMode.CONNECTIONS)
    feed.subscribe("r", "users", PresenceMode.USERS)
    assert feed.wants("r")
    feed.deliver(join("c2", "bob"))
    feed.deliver(join("c3", "bob", first=False))  # bob's second tab: nothing for "users"
    assert rec.got == {}  # both still wait for their state
    feed.ready("r", "conns", {"c1": '{"user":"ada"}', "c2": '{"user":"bob"}'})
    assert [f.get("state", f.get("joins")) for f in rec.got["conns"]] == [
        [{"id": "c1", "info": {"user": "ada"}}, {"id": "c2", "info": {"user": "bob"}}],
        [{"id": "c2", "info": {"user": "bob"}}],
        [{"id": "c3", "info": {"user": "bob"}}],
    ]
    assert "users" not in rec.got
    feed.ready("r", "users", {"c1": '{"user":"ada"}', "c2": '{"user":"bob"}', "c3": '{"user":"bob"}'})
    assert [f.get("state", f.get("joins")) for f in rec.got["users"]] == [
        [{"id": "c1", "info": {"user": "ada"}}, {"id": "c2", "info": {"user": "bob"}}],
        [{"id": "c2", "info": {"user": "bob"}}],
    ]
    feed.ready("elsewhere", "users", {})  # a room nobody listens to: nothing
    feed.unsubscribe("elsewhere", "users")
    feed.unsubscribe("r", "conns")
    feed.deliver(leave("c1", "ada"))
    assert len(rec.got["conns"]) == 3 and rec.got["users"][-1]["leaves"] == [{"id": "c1", "info": {"user": "ada"}}]
    feed.unsubscribe("r", "users")
    assert not feed.wants("r")
    feed.deliver(leave("c2", "bob"))  # nobody listens any more


async def test_held_changes_go_out_when_the_interval_is_up_and_timers_end_with_the_room() -> None:
    rec = Recorder()
    feed: PresenceFeed[str] = PresenceFeed(rec.offer, interval=50 * MS)
    feed.subscribe("r", "a", PresenceMode.CONNECTIONS)
    feed.subscribe("r", "b", PresenceMode.CONNECTIONS)
    feed.ready("r", "a", {})
    feed.ready("r", "b", {})
    feed.deliver(join("c1", "ada"))  # at once
    feed.deliver(join("c2", "bob"))  # held
    feed.deliver(join("c3", "cy"))
    assert [len(f.get("joins", [])) for f in rec.got["a"]] == [0, 1]
    await asyncio.sleep(120 * MS)
    assert rec.got["a"][-1]["joins"] == [{"id": "c2", "info": {"user": "bob"}}, {"id": "c3", "info": {"user": "cy"}}]
    assert rec.got["a"] == rec.got["b"]
    feed.deliver(join("c4", "dee"))  # a quiet interval passed: at once again
    feed.deliver(join("c5", "eve"))  # held...
    feed.deliver(leave("c5", "eve"))  # ...and cancelled: the timer fires and sends nothing
    count = len(rec.got["a"])
    await asyncio.sleep(120 * MS)
    assert len(rec.got["a"]) == count
    feed.deliver(join("c6", "fay"))  # held behind c4? no: c4 went out over 50 ms ago
    feed.deliver(join("c7", "gus"))  # held, with a timer
    feed.unsubscribe("r", "a")
    feed.unsubscribe("r", "b")  # the last listener: its timer is cancelled
    await asyncio.sleep(120 * MS)
    assert rec.got["a"][-1]["joins"] == [{"id": "c6", "info": {"user": "fay"}}]
    feed.subscribe("r", "a", PresenceMode.CONNECTIONS)
    feed.ready("r", "a", {})
    feed.deliver(join("c8", "hal"))
    feed.deliver(join("c9", "ivy"))  # held with a timer...
    feed.clear()  # ...that clear() cancels
    await asyncio.sleep(120 * MS)
    assert rec.got["a"][-1]["joins"] == [{"id": "c8", "info": {"user": "hal"}}]


async def test_a_timer_that_fires_early_waits_again() -> None:
    rec = Recorder()
    feed: PresenceFeed[str] = PresenceFeed(rec.offer, interval=60 * MS)
    feed.subscribe("r", "a", PresenceMode.CONNECTIONS)
    feed.ready("r", "a", {})
    feed.deliver(join("c1", "ada"))
    feed.deliver(join("c2", "bob"))
    feed._flush("r", PresenceMode.CONNECTIONS)  # as if the loop ran the timer early: re-armed
    feed._flush("gone", PresenceMode.CONNECTIONS)
    feed._flush("r", PresenceMode.USERS)
    assert len(rec.got["a"]) == 2
    await asyncio.sleep(150 * MS)
    assert rec.got["a"][-1]["joins"] == [{"id": "c2", "info": {"user": "bob"}}]


async def test_memory_store_ignores_repeats_and_unknown_connections() -> None:
    store = MemoryPresenceStore()
    await store.join("r", "c1", "{}", "")  # before start: nobody is told
    await store.join("r", "c1", '{"other":1}', "")  # already there: unchanged
    assert await store.entries("r") == {"c1": "{}"}
    await store.leave("r", "c2")
    await store.leave("nowhere", "c1")
    assert tuple(await store.stats("r")) == (1, 1)
    assert NO_SINK.wants("r") is False
    NO_SINK.observe(join("c", "u"))  # no-ops (they return None: typed, and checked by mypy)
    NO_SINK.deliver(join("c", "u"))


async def test_after_a_reconnect_listeners_get_a_fresh_state_or_at_least_what_was_kept() -> None:
    from sockjet.exceptions import HubError
    from sockjet.hub.presence_tracker import PresenceTracker

    rec = Recorder()
    spawned: list[Any] = []
    tracker = PresenceTracker(rec.offer, interval=0, spawn=spawned.append)  # type: ignore[arg-type]
    store = MemoryPresenceStore()
    await tracker.start(store)
    await store.join("r", "c1", '{"user":"ada"}', '"ada"')
    tracker.feed.subscribe("r", "m", PresenceMode.CONNECTIONS)  # type: ignore[arg-type]
    tracker.feed.ready("r", "m", await store.entries("r"))  # type: ignore[arg-type]
    tracker.interrupted(["r", "quiet"])  # "quiet" has no listener: nothing to do for it
    assert tracker.feed.restart("quiet") == []
    await spawned.pop()
    assert [list(f) for f in rec.got["m"]] == [["type", "room", "state"], ["type", "room", "state"]]

    async def unreachable(room: str) -> dict[str, str]:
        raise HubError("Redis is away again")

    store.entries = unreachable  # type: ignore[method-assign]
    tracker.interrupted(["r"])
    tracker.deliver(join("c2", "bob"))  # kept aside while the state is being read...
    await spawned.pop()  # ...which fails: what was kept goes out anyway, and the member is live again
    assert rec.got["m"][-1]["joins"] == [{"id": "c2", "info": {"user": "bob"}}]
    tracker.deliver(join("c3", "cy"))
    assert rec.got["m"][-1]["joins"] == [{"id": "c3", "info": {"user": "cy"}}]
    await tracker.stop()
