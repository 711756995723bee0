"""``RoomHistories`` (the hub's side of history) against a scripted backend: the edges of joining
and filling that a real backend only hits by bad luck -- a room lost while a member catches up,
a hub stopped while a fill waits to retry."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from sockjet.exceptions import HubError
from sockjet.hub.backends.base import Retention
from sockjet.hub.backends.memory import MemoryBackend
from sockjet.hub.history import RetentionRules, RoomHistories, frame_message, json_frame
from sockjet.hub.position import KIND_BYTES, Position, Publication, StreamSlice
from sockjet.types import Message


class ScriptedBackend(MemoryBackend):
    """``read_stream`` answers from ``reads`` (a slice, or an exception), after ``gate`` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[StreamSlice | Exception] = []
        self.asked: list[tuple[str, int, int | None]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def read_stream(self, room: str, *, after: int, limit: int | None, retention: Retention) -> StreamSlice:
        self.asked.append((room, after, limit))
        await self.gate.wait()
        answer = self.reads.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def open_stream(self, room: str, *, retention: Retention) -> Position:
        """The next scripted read's top, as the room's position (``asked`` shows it as limit 0)."""
        read = await self.read_stream(room, after=0, limit=0, retention=retention)
        assert read.epoch is not None
        return Position(read.epoch, read.top)


class Room:
    def __init__(self) -> None:
        self.members: dict[str, tuple[str, ...]] = {}
        self.sent: list[tuple[str, Message]] = []
        self.lost: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.backend = ScriptedBackend()
        self.histories: RoomHistories[str] = RoomHistories(
            RetentionRules(Retention(size=10)),
            None,
            members=lambda room: self.members.get(room, ()),
            deliver=lambda members, message, size: self.sent.extend((member, message) for member in members),
            lost=self.lose,
            spawn=self.spawn,
        )
        self.histories.backend = self.backend

    def lose(self, room: str) -> None:
        self.lost.append(room)
        self.members.pop(room, None)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(coro))

    def texts(self, member: str) -> list[str]:
        return [m["text"] for who, m in self.sent if who == member]


def pub(offset: int, epoch: str = "e") -> Publication:
    return Publication("r", Position(epoch, offset), f"m{offset}")


async def test_a_join_without_since_reads_only_while_the_room_is_new() -> None:
    room = Room()
    room.members["r"] = ("a",)
    room.backend.reads = [StreamSlice("e", 4, ())]
    room.histories.enter("r", "a", None)
    assert await room.histories.catch_up(room.backend, "r", "a", None) is True
    assert room.backend.asked == [("r", 0, 0)]  # only the top: limit 0
    room.members["r"] = ("a", "b")
    room.histories.enter("r", "b", None)
    assert await room.histories.catch_up(room.backend, "r", "b", None) is True
    assert len(room.backend.asked) == 1  # the feed is live: nothing to read
    room.histories.deliver(pub(4))  # at or below the top it started from: already seen
    room.histories.deliver(pub(5))
    assert room.texts("a") == room.texts("b") == ["m5"]


async def test_a_join_since_to_a_room_without_a_stream_opens_one_for_the_members_position() -> None:
    room = Room()
    room.members["r"] = ("a",)
    room.histories.enter("r", "a", Position("old", 3))
    room.backend.reads = [StreamSlice(None, 0, ()), StreamSlice("new", 0, ())]
    assert await room.histories.catch_up(room.backend, "r", "a", Position("old", 3)) is False
    assert room.backend.asked == [("r", 3, None), ("r", 0, 0)]  # the replay read, then the opening
    assert room.histories.position("r", "a") == Position("new", 0)
    assert room.histories.position("elsewhere", "a") is None
    room.histories.deliver(Publication("r", Position("new", 1), "first"))
    assert room.texts("a") == ["first"]


async def test_a_room_lost_while_a_member_catches_up_is_not_recovered() -> None:
    room = Room()
    room.members["r"] = ("a",)
    room.histories.enter("r", "a", Position("e", 1))
    room.backend.gate.clear()
    room.backend.reads = [StreamSlice("e", 3, (pub(2), pub(3)))]
    catching = asyncio.create_task(room.histories.catch_up(room.backend, "r", "a", Position("e", 1)))
    await asyncio.sleep(0)
    room.histories.feeds.pop("r")  # lost (its members are being closed)
    room.backend.gate.set()
    assert await catching is False
    assert room.sent == []
    # a member whose catch-up was dropped (closed meanwhile) is not recovered either
    room.histories.enter("r", "a", Position("e", 1))
    room.histories.left("r", "a", emptied=False)
    assert await room.histories.catch_up(room.backend, "r", "a", Position("e", 1)) is False
    room.histories.left("nowhere", "a", emptied=False)  # nothing to forget
    # and a catch-up whose read came back after the member was forgotten
    room.histories.enter("r", "a", Position("e", 1))
    room.backend.gate.clear()
    room.backend.reads = [StreamSlice("e", 3, (pub(2), pub(3)))]
    catching = asyncio.create_task(room.histories.catch_up(room.backend, "r", "a", Position("e", 1)))
    await asyncio.sleep(0)
    room.histories.left("r", "a", emptied=False)
    room.backend.gate.set()
    assert await catching is False and room.sent == []


async def test_a_failed_catch_up_read_forgets_nothing_it_should_keep() -> None:
    room = Room()
    room.members["r"] = ("a",)
    room.histories.enter("r", "a", Position("e", 1))
    room.backend.reads = [HubError("down")]
    with pytest.raises(HubError, match="down"):
        await room.histories.catch_up(room.backend, "r", "a", Position("e", 1))


async def test_a_fill_retries_then_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sockjet.hub.history._FILL_RETRIES", (0.001, 0.001))
    room = Room()
    room.members["r"] = ("a",)
    room.histories.enter("r", "a", None)
    room.backend.reads = [StreamSlice("e", 1, ())]
    await room.histories.catch_up(room.backend, "r", "a", None)
    room.backend.reads = [HubError("blip"), StreamSlice("e", 3, (pub(2), pub(3)))]
    room.histories.deliver(pub(3))  # 2 is missing: fill
    await asyncio.gather(*room.tasks)
    assert room.texts("a") == ["m2", "m3"] and room.lost == []


async def test_a_fill_ends_quietly_when_the_hub_stops_or_the_room_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sockjet.hub.history._FILL_RETRIES", (0.001,))
    for stop in ("hub stops before the retry", "room goes during the read"):
        room = Room()
        room.members["r"] = ("a",)
        room.histories.enter("r", "a", None)
        room.backend.reads = [StreamSlice("e", 1, ())]
        await room.histories.catch_up(room.backend, "r", "a", None)
        if stop == "hub stops before the retry":
            room.backend.reads = [HubError("blip"), StreamSlice("e", 3, (pub(2), pub(3)))]
            room.histories.interrupted(["r"])
            await asyncio.sleep(0)  # the first read failed; the fill sleeps before its retry
            room.histories.backend = None
        else:
            room.backend.reads = [StreamSlice("e", 3, (pub(2), pub(3)))]
            room.backend.gate.clear()
            room.histories.interrupted(["r"])
            await asyncio.sleep(0)  # the read is under way
            room.histories.left("r", "a", emptied=True)
            room.backend.gate.set()
        await asyncio.gather(*room.tasks)
        assert room.sent == [] and room.lost == [], stop


def test_frames() -> None:
    raw = Publication("r", Position("e", 1), b"\x01", KIND_BYTES)
    assert frame_message(raw, None) == ({"type": "websocket.send", "bytes": b"\x01"}, 1)
    assert frame_message(raw, json_frame) == (
        {"type": "websocket.send", "text": '{"room":"r","position":"e.1","bytes":"AQ=="}'},
        44,
    )
    text = Publication("r é", Position("e", 2), "é")
    message, size = frame_message(text, json_frame)
    assert message["text"] == '{"room":"r é","position":"e.2","data":"é"}' and size == len(message["text"]) + 2


def test_retention_rules_take_the_longest_matching_prefix() -> None:
    hundred, big = Retention(100), Retention(10000)
    rules = RetentionRules(hundred, {"presence:": None, "a": big, "audit:": None})
    assert rules.any
    assert rules("lobby") is hundred and rules("presence:lobby") is None
    assert rules("audit:x") is None and rules("alpha") is big
    assert not RetentionRules(None, {"x": None}).any
    assert rules.widest is big and RetentionRules(None, {"x": None}).widest is None
    assert RetentionRules(None, {"x": hundred}).any


async def test_members_catching_up_together_share_one_stream_read() -> None:
    room = Room()
    members = ("a", "b", "c")
    room.members["r"] = members
    sinces = {"a": 3, "b": 1, "c": 5}
    for member in members:
        room.histories.enter("r", member, Position("e", sinces[member]))
    room.backend.reads = [StreamSlice("e", 6, tuple(pub(o) for o in range(2, 7)))]
    results = await asyncio.gather(
        *(room.histories.catch_up(room.backend, "r", m, Position("e", sinces[m])) for m in members)
    )
    assert results == [True, True, True]
    assert room.backend.asked == [("r", 1, None)]  # one read, from the smallest position
    assert room.texts("a") == ["m4", "m5", "m6"]
    assert room.texts("b") == ["m2", "m3", "m4", "m5", "m6"]
    assert room.texts("c") == ["m6"]


async def test_a_shared_read_that_fails_fails_every_join_sharing_it() -> None:
    room = Room()
    room.members["r"] = ("a", "b")
    for member in ("a", "b"):
        room.histories.enter("r", member, Position("e", 1))
    room.backend.reads = [HubError("down")]
    results = await asyncio.gather(
        *(room.histories.catch_up(room.backend, "r", m, Position("e", 1)) for m in ("a", "b")),
        return_exceptions=True,
    )
    assert [str(r) for r in results] == ["down", "down"]
    assert room.backend.asked == [("r", 1, None)]


async def test_a_shared_read_nobody_waits_for_any_more_is_still_consumed() -> None:
    room = Room()
    room.members["r"] = ("a",)
    room.histories.enter("r", "a", Position("e", 1))
    room.backend.reads = [HubError("down")]
    joining = asyncio.create_task(room.histories.catch_up(room.backend, "r", "a", Position("e", 1)))
    await asyncio.sleep(0)
    joining.cancel()
    await asyncio.sleep(0.01)  # the read fails with no one left to see it: no "exception never retrieved"
    assert joining.cancelled()


def test_a_stream_slice_cut_for_one_reader() -> None:
    read = StreamSlice("e", 6, tuple(pub(o) for o in range(3, 7)))
    assert [p.offset for p in read.after(4).publications] == [5, 6]
    assert read.after(1) is read  # nothing to cut: ``continues`` says 2 is missing
    assert read.after(6).publications == ()
    assert StreamSlice("e", 6, ()).after(3).publications == ()
