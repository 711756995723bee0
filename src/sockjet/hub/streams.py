"""Rooms' streams kept in this process (the memory backend's history): pure, bounded, clock passed in.

Each room is a ring of its last ``size`` publications plus its epoch and top offset. Memory
stays bounded: a ring never holds more than ``size`` messages, messages older than ``ttl`` are
dropped, and a room with no publish for ``meta_ttl`` seconds and no local member is forgotten
entirely (its next publish starts a new epoch).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sockjet.hub.backends.base import Retention
from sockjet.hub.position import Position, Publication, StreamSlice


def new_epoch() -> str:
    """A fresh epoch name: 8 random URL-safe characters."""
    return secrets.token_hex(4)


@dataclass(slots=True)
class _Stream:
    epoch: str
    top: int = 0
    last_publish: float = 0.0
    ring: deque[tuple[float, Publication]] = field(default_factory=deque)


class RoomStreams:
    """Every room's stream in this process; ``in_use(room)`` says whether a room must not expire."""

    __slots__ = ("_in_use", "_streams")

    def __init__(self, in_use: Callable[[str], bool] = lambda room: False) -> None:
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        self._in_use = in_use

    def __len__(self) -> int:
        return len(self._streams)

    def append(self, room: str, payload: str | bytes, kind: str, retention: Retention, now: float) -> Publication:
        """Give the message the room's next position and keep it; returns the publication."""
        self.expire(now, retention)
        stream = self._streams.get(room)
        if stream is None:
            stream = self._streams[room] = _Stream(new_epoch())
        else:
            self._streams.move_to_end(room)
        stream.top += 1
        stream.last_publish = now
        publication = Publication(room, Position._of(stream.epoch, stream.top), payload, kind)
        ring = stream.ring
        ring.append((now, publication))
        while len(ring) > retention.size:
            ring.popleft()
        _drop_old(ring, now, retention.ttl)
        return publication

    def open(self, room: str, retention: Retention, now: float) -> Position:
        """The room's top position; a room without a stream starts a new epoch at offset 0 now."""
        self.expire(now, retention)
        stream = self._streams.get(room)
        if stream is None:
            stream = self._streams[room] = _Stream(new_epoch(), last_publish=now)
        return Position._of(stream.epoch, stream.top)

    def read(self, room: str, after: int, limit: int | None, retention: Retention, now: float) -> StreamSlice:
        """Retained, unexpired publications with offset > ``after``, oldest first, at most ``limit``."""
        self.expire(now, retention)
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

    def expire(self, now: float, retention: Retention) -> None:
        """Forget rooms quiet for ``meta_ttl`` with no local member (oldest use first, amortised O(1))."""
        cutoff = now - retention.meta_ttl
        streams = self._streams
        if not streams or streams[next(iter(streams))].last_publish > cutoff:
            return  # the oldest is recent: nothing to do (the common case, O(1))
        for room in list(streams):
            stream = streams[room]
            if stream.last_publish > cutoff:
                return
            if self._in_use(room):
                stream.last_publish = now  # a room with members counts as used: look again later
                self._streams.move_to_end(room)
            else:
                del self._streams[room]


def _drop_old(ring: deque[tuple[float, Publication]], now: float, ttl: float | None) -> None:
    if ttl is None:
        return
    cutoff = now - ttl
    while ring and ring[0][0] <= cutoff:
        ring.popleft()


__all__ = ["RoomStreams", "new_epoch"]
