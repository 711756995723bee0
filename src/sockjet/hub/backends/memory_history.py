"""Rooms' streams kept in this process (the memory backend's history): pure, bounded, clock passed in.

Each room is a ring of its last ``size`` publications plus its epoch and top offset. Memory
stays bounded: a ring never holds more than ``size`` messages, messages older than ``ttl`` are
dropped, and a room with no publish for ``meta_ttl`` seconds and no local member is forgotten
entirely (its next publish starts a new epoch).

Expiry costs O(1) per operation, amortised. Rooms are kept in the order they were last touched
(a publish, or a join that opened the stream), which with one ``meta_ttl`` per hub is also the
order of their deadlines, so the rooms due are always at the front. Each operation forgets at
most ``EXPIRE_PER_CALL`` of them; a room still in use when due goes to the back with a new
deadline (looked at again ``meta_ttl`` later: each room at most once per ``meta_ttl``). What the
operations leave, ``expire(now, limit)`` called by the backend's sweep timer frees without any
further call (``sweep_at`` says when it is next needed).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sockjet.hub.backends.base import Retention
from sockjet.hub.position import Position, Publication, StreamSlice, new_epoch

EXPIRE_PER_CALL = 4
"""Rooms one ``append``/``read``/``open`` may forget: above one, so expiry keeps up with rooms made."""
SWEEP_SLACK = 1.0
"""At most this many seconds (and a tenth of ``meta_ttl``) between a room's deadline and the sweep."""


@dataclass(slots=True)
class _Stream:
    epoch: str
    deadline: float
    """Forgotten after this unless in use: the last publish (or opening) + ``meta_ttl``."""
    meta_ttl: float
    top: int = 0
    ring: deque[tuple[float, Publication]] = field(default_factory=deque)


class MemoryStreams:
    """Every room's stream in this process; ``in_use(room)`` says whether a room must not expire."""

    __slots__ = ("_in_use", "_streams")

    def __init__(self, in_use: Callable[[str], bool] = lambda room: False) -> None:
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        """In the order rooms were last touched: the earliest deadline first."""
        self._in_use = in_use

    def __len__(self) -> int:
        return len(self._streams)

    def _touch(self, room: str, retention: Retention, now: float) -> _Stream:
        """The room's stream, made if missing, moved to the back with its deadline renewed (O(1))."""
        stream = self._streams.get(room)
        if stream is None:
            stream = self._streams[room] = _Stream(new_epoch(), now + retention.meta_ttl, retention.meta_ttl)
        else:
            self._streams.move_to_end(room)
            stream.deadline, stream.meta_ttl = now + retention.meta_ttl, retention.meta_ttl
        return stream

    def append(self, room: str, payload: str | bytes, kind: str, retention: Retention, now: float) -> Publication:
        """Give the message the room's next position and keep it; returns the publication."""
        self.expire(now)
        stream = self._touch(room, retention, now)
        stream.top += 1
        publication = Publication(room, Position._of(stream.epoch, stream.top), payload, kind)
        ring = stream.ring
        ring.append((now, publication))
        while len(ring) > retention.size:
            ring.popleft()
        _drop_old(ring, now, retention.ttl)
        return publication

    def open(self, room: str, retention: Retention, now: float) -> Position:
        """The room's top position; a room without a stream starts a new epoch at offset 0 now."""
        self.expire(now)
        stream = self._streams.get(room)
        if stream is None:
            stream = self._touch(room, retention, now)
        return Position._of(stream.epoch, stream.top)

    def read(self, room: str, after: int, limit: int | None, retention: Retention, now: float) -> StreamSlice:
        """Retained, unexpired publications with offset > ``after``, oldest first, at most ``limit``."""
        self.expire(now)
        stream = self._streams.get(room)
        if stream is None:
            return StreamSlice(None, 0, ())
        ring = stream.ring
        _drop_old(ring, now, retention.ttl)
        publications: list[Publication] = []
        if ring and after < stream.top:
            first = ring[0][1].offset
            start = max(0, after + 1 - first)
            stop = len(ring) if limit is None else min(len(ring), start + limit)
            publications = [ring[i][1] for i in range(start, stop)]
        return StreamSlice(stream.epoch, stream.top, tuple(publications))

    def expire(self, now: float, limit: int | None = EXPIRE_PER_CALL) -> int:
        """Forget up to ``limit`` rooms past their deadline with no local member (``None``: all due); how many
        due rooms were handled. A due room in use goes to the back, due again ``meta_ttl`` from now."""
        streams = self._streams
        handled = 0
        while streams and (limit is None or handled < limit):
            room = next(iter(streams))
            stream = streams[room]
            if stream.deadline > now:
                break
            handled += 1
            if self._in_use(room):
                stream.deadline = now + stream.meta_ttl
                streams.move_to_end(room)
            else:
                del streams[room]
        return handled

    def sweep_at(self) -> float | None:
        """When a sweep has work: the front room's deadline plus a bounded slack (``None``: no rooms)."""
        if not self._streams:
            return None
        stream = self._streams[next(iter(self._streams))]
        return stream.deadline + min(SWEEP_SLACK, stream.meta_ttl / 10)


def _drop_old(ring: deque[tuple[float, Publication]], now: float, ttl: float | None) -> None:
    if ttl is None:
        return
    cutoff = now - ttl
    while ring and ring[0][0] <= cutoff:
        ring.popleft()


__all__ = ["EXPIRE_PER_CALL", "SWEEP_SLACK", "MemoryStreams", "new_epoch"]
