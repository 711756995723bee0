"""The hub's side of history: publish with a position, read history, catch a joining member up,
and keep every room's live feed gap-free (``RoomFeed``), in one object the ``Hub`` owns.

The rules live in ``sockjet.hub.recovery`` (pure); this module does the I/O they ask for: it
reads the backend's stream when a member joins with ``since=`` or a feed has a gap, and closes a
room's members with ``HISTORY_LOST_CLOSE_CODE`` when a gap cannot be filled.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from sockjet.exceptions import HubError
from sockjet.hub.backends.base import Backend, Retention
from sockjet.hub.envelope import Envelope, payload_size
from sockjet.hub.loggable import loggable
from sockjet.hub.position import KIND_JSON, History, Position, Publication, StreamSlice, kind_of
from sockjet.hub.recovery import FeedState, RoomFeed, Step
from sockjet.metrics import recorder as _metrics
from sockjet.types import Message

logger = logging.getLogger("sockjet.hub")

HISTORY_LOST_CLOSE_CODE = 3410
"""The hub closes a live member with this code when it missed messages that history cannot give
back (the stream was trimmed, expired, or lost with a Redis restart or a wiped NATS store). A client should reconnect
and resynchronise: reload the state, or join again without ``since``."""
HISTORY_LOST_CLOSE_REASON = "history lost"

Frame = Callable[[Publication], "str | bytes"]
"""Turns a publication into the frame members receive (``Hub(frame=...)``)."""

_M = TypeVar("_M", bound=Hashable)
_FILL_RETRIES = (0.05, 0.25, 1.0)
"""Seconds to wait before retrying a failed fill read; after the last, the gap is reported."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_frame(publication: Publication) -> str:
    """A documented JSON envelope: ``{"room": ..., "position": "<token>", "data": <as published>}``.

    ``data`` is the published JSON value, or the published ``str``; a ``bytes`` publication has
    ``"bytes": "<base64>"`` instead of ``data``. Members receive it as a text frame. A client keeps
    the last ``position`` it saw and sends it back on reconnect (e.g. ``?since=<position>``).
    """
    head = f'{{"room":{_dumps(publication.room)},"position":"{publication.position}",'
    payload = publication.payload
    if isinstance(payload, bytes):
        return f'{head}"bytes":"{base64.b64encode(payload).decode()}"}}'
    if publication.kind == KIND_JSON:
        return f'{head}"data":{payload}}}'
    return f'{head}"data":{_dumps(payload)}}}'


def frame_message(publication: Publication, frame: Frame | None) -> tuple[Message, int]:
    """The ASGI message members get for ``publication`` and its size; without ``frame``, the payload as is."""
    payload = publication.payload if frame is None else frame(publication)
    if isinstance(payload, str):
        return {"type": "websocket.send", "text": payload}, payload_size(payload)
    return {"type": "websocket.send", "bytes": payload}, len(payload)


class _Batch:
    __slots__ = ("after", "task")

    def __init__(self, after: int) -> None:
        self.after = after
        self.task: asyncio.Task[StreamSlice] | None = None


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Every waiter may have gone (cancelled joins): the read's outcome is still consumed."""
    if not task.cancelled():
        task.exception()


class RetentionRules:
    """Which rooms keep history, and how much: the longest matching room-name prefix wins.

    ``RetentionRules(Retention(100), {"presence:": None, "audit:": Retention(10000)})``: rooms
    starting with ``presence:`` keep none, ``audit:...`` the last 10,000, every other room 100.
    """

    __slots__ = ("_default", "_prefixes")

    def __init__(self, default: Retention | None, by_prefix: dict[str, Retention | None] | None = None) -> None:
        self._default = default
        self._prefixes = sorted((by_prefix or {}).items(), key=lambda item: -len(item[0]))

    @property
    def any(self) -> bool:
        """True when at least one room can keep history."""
        return self._default is not None or any(r is not None for _, r in self._prefixes)

    @property
    def widest(self) -> Retention | None:
        """The largest retention of any room: for a backend that sets one store up for every room."""
        kept = [r for r in (self._default, *(r for _, r in self._prefixes)) if r is not None]
        return max(kept, key=lambda r: r.size, default=None)

    def __call__(self, room: str) -> Retention | None:
        for prefix, retention in self._prefixes:
            if room.startswith(prefix):
                return retention
        return self._default


class RoomHistories(Generic[_M]):
    """Every room's feed in this process, for one hub with ``history_size > 0``.

    The hub gives it four callbacks: ``members(room)`` (local members, in order), ``deliver(members,
    message, size)`` (the same message to each, never awaits), ``lost(room)`` (close the room's members),
    and ``spawn(coroutine)`` (run a background task the hub awaits at shutdown).
    """

    def __init__(
        self,
        retention: RetentionRules,
        frame: Frame | None,
        *,
        members: Callable[[str], tuple[_M, ...]],
        deliver: Callable[[tuple[_M, ...], Message, int], None],
        lost: Callable[[str], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        framed: Callable[[tuple[_M, ...], Publication], tuple[_M, ...]] | None = None,
    ) -> None:
        self.retention = retention
        """Which rooms keep history: the hub asks before publishing, joining with ``since`` or reading."""
        self.frame = frame
        self._members = members
        self._deliver = deliver
        self._lost = lost
        self._spawn = spawn
        self._framed = framed
        """Delivers to the members that frame publications themselves (channels); returns the others."""
        self.backend: Backend | None = None
        self.feeds: dict[str, RoomFeed[_M]] = {}
        self._batches: dict[str, _Batch] = {}
        """Per room, the stream read that has not started yet: joins arriving now share it."""

    # -- publish and read ---------------------------------------------------------------------------------
    def _kept(self, room: str) -> Retention:
        retention = self.retention(room)
        assert retention is not None, "the hub only asks about rooms that keep history"
        return retention

    async def publish(
        self, backend: Backend, envelope: Envelope, data: Any, *, key: str | None = None
    ) -> Position | None:
        return await backend.publish_history(envelope, kind_of(data), self._kept(envelope.room), key=key)

    async def history(self, backend: Backend, room: str, since: Position | None, limit: int | None) -> History:
        after = 0 if since is None else since.offset
        read = await backend.read_stream(room, after=after, limit=limit, retention=self._kept(room))
        if since is None or read.continues(since):
            return History(read.publications, read.top_position, True)
        return History((), read.top_position, False)

    # -- joining -----------------------------------------------------------------------------------------
    def enter(self, room: str, member: _M, since: Position | None) -> None:
        """``member`` was just added to ``room`` (before the room is subscribed): with ``since``, hold
        its live publications from now on, so that nothing slips between replay and live."""
        feed = self.feeds.get(room)
        if feed is None:
            feed = self.feeds[room] = RoomFeed()
        if since is not None:
            feed.begin(member)

    async def catch_up(self, backend: Backend, room: str, member: _M, since: Position | None) -> bool:
        """The room is subscribed now: replay what ``member`` missed after ``since``; ``recovered``.

        Without ``since`` nothing is replayed (True); the read only starts the room's feed at the
        stream's top if this process knew nothing of the room yet. A room without a stream gets
        one (a new epoch at offset 0), so that ``position`` has something to give the member.
        """
        feed = self.feeds.get(room)
        if feed is None or (since is not None and not feed.catching_up(member)):
            return False  # the room's history was lost meanwhile (its members are being closed)
        if since is None and feed.state is not FeedState.NEW:
            return True
        if since is None:
            read = await self._opened(backend, room)
        else:
            read = await self._shared_read(backend, room, since.offset)
            if read.epoch is None:  # no stream: nothing to replay, but the member needs a position
                read = await self._opened(backend, room)
        if self.feeds.get(room) is not feed:
            return False
        feed.seed(read)
        if since is None:
            return True
        if not feed.catching_up(member):
            return False
        recovered, out = feed.finish(member, since, read.after(since.offset))
        _metrics.current.recovery_missed(len(out))
        one = (member,)
        for publication in out:
            if self._framed is not None and not self._framed(one, publication):
                continue
            message, size = frame_message(publication, self.frame)
            self._deliver(one, message, size)
        return recovered

    async def _opened(self, backend: Backend, room: str) -> StreamSlice:
        top = await backend.open_stream(room, retention=self._kept(room))
        return StreamSlice(top.epoch, top.offset, ())

    def position(self, room: str, member: _M) -> Position | None:
        """``member.position``: the room's position from which everything reaches ``member`` live."""
        feed = self.feeds.get(room)
        return None if feed is None else feed.position_for(member)

    async def _shared_read(self, backend: Backend, room: str, after: int) -> StreamSlice:
        """One stream read for every member of ``room`` that asks before it starts (a mass reconnect).

        The read starts on the next turn of the event loop, after every request made so far --
        each made after its member's catch-up began and the room was subscribed -- so it
        serves them all, from the smallest ``after``.
        """
        batch = self._batches.get(room)
        if batch is None:
            batch = self._batches[room] = _Batch(after)
            batch.task = asyncio.get_running_loop().create_task(self._read_batch(backend, room, batch))
            batch.task.add_done_callback(_retrieve)
        else:
            batch.after = min(batch.after, after)
        assert batch.task is not None
        return await asyncio.shield(batch.task)

    async def _read_batch(self, backend: Backend, room: str, batch: _Batch) -> StreamSlice:
        await asyncio.sleep(0)  # let the joins of this turn of the loop ask too
        if self._batches.get(room) is batch:
            del self._batches[room]
        return await backend.read_stream(room, after=batch.after, limit=None, retention=self._kept(room))

    def left(self, room: str, member: _M, emptied: bool) -> None:
        """``member`` left ``room``; ``emptied``: it was the last local member (the feed goes too)."""
        if emptied:
            self.feeds.pop(room, None)
        else:
            feed = self.feeds.get(room)
            if feed is not None:
                feed.forget(member)

    def clear(self) -> None:
        self.feeds.clear()

    # -- the live stream ---------------------------------------------------------------------------------
    def deliver(self, publication: Publication) -> None:
        """A publication from the backend (never awaits)."""
        feed = self.feeds.get(publication.room)
        if feed is not None:  # else no local member: a join creates the feed before it subscribes
            self._apply(publication.room, feed, feed.live(publication))

    def interrupted(self, rooms: list[str]) -> None:
        """The backend's live stream dropped and is back: fill each room's gap from the stream."""
        for room in rooms:
            feed = self.feeds.get(room)
            if feed is not None:
                self._apply(room, feed, feed.interrupted())

    def _apply(self, room: str, feed: RoomFeed[_M], step: Step) -> None:
        if step.deliver:
            for publication in step.deliver:
                self._fan(room, feed, publication)
        if step.lost:
            logger.warning("Room %s missed messages its history cannot give back: closing its members.", loggable(room))
            self.feeds.pop(room, None)
            self._lost(room)
        if step.fill_after is not None:
            _metrics.current.gap_fill()
            self._spawn(self._fill(room, feed, step.fill_after))

    def _fan(self, room: str, feed: RoomFeed[_M], publication: Publication) -> None:
        members = feed.route(publication, self._members(room))
        if self._framed is not None and members:
            members = self._framed(members, publication)
        if not members:
            return
        message, size = frame_message(publication, self.frame)
        self._deliver(members, message, size)

    async def _fill(self, room: str, feed: RoomFeed[_M], after: int) -> None:
        read: StreamSlice | None = None
        for delay in (*_FILL_RETRIES, None):
            backend = self.backend
            if backend is None or self.feeds.get(room) is not feed:
                return
            try:
                read = await backend.read_stream(room, after=after, limit=None, retention=self._kept(room))
                break
            except HubError as exc:
                if delay is None:
                    logger.warning(
                        "Could not read the history of room %s to fill a gap: %s", loggable(room), loggable(exc)
                    )
                    break
                await asyncio.sleep(delay)
        if self.feeds.get(room) is feed:
            self._apply(room, feed, feed.filled(read))


__all__ = [
    "HISTORY_LOST_CLOSE_CODE",
    "HISTORY_LOST_CLOSE_REASON",
    "Frame",
    "RetentionRules",
    "RoomHistories",
    "frame_message",
    "json_frame",
]
