"""A backend written the way a user would: only against sockjet's public interface (``sockjet.hub``).

``LoopbackBroker`` stands for an engine shared by several processes (here: several hubs in one
event loop); each hub gets its own ``LoopbackBackend`` on it. It keeps history (exact per-room
offsets, the last ``retention.size`` messages) and de-duplicates idempotency keys; ``ttl`` limits
are not applied (a test engine).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sockjet.hub import Backend, Envelope, LocalRooms, Position, Publication, Retention, StreamSlice


@dataclass
class _Stream:
    epoch: str
    top: int = 0
    publications: list[Publication] = field(default_factory=list)


class LoopbackBroker:
    def __init__(self) -> None:
        self.subscribers: list[LocalRooms] = []
        self.streams: dict[str, _Stream] = {}
        self.keys: dict[tuple[str, str], Position | None] = {}
        self._epochs = itertools.count(1)

    def stream(self, room: str) -> _Stream:
        stream = self.streams.get(room)
        if stream is None:
            stream = self.streams[room] = _Stream(f"e{next(self._epochs)}")
        return stream


class LoopbackBackend(Backend):
    def __init__(self, broker: LoopbackBroker) -> None:
        self.broker = broker
        self.local: LocalRooms | None = None

    async def start(self, local: LocalRooms) -> None:
        self.local = local
        self.broker.subscribers.append(local)

    async def stop(self) -> None:
        if self.local is not None:
            self.broker.subscribers.remove(self.local)
            self.local = None

    async def publish(self, envelope: Envelope, *, key: str | None = None) -> None:
        if key is not None:
            if (envelope.room, key) in self.broker.keys:
                return
            self.broker.keys[envelope.room, key] = None
        for local in self.broker.subscribers:
            if local.local_count(envelope.room):
                local.deliver(envelope)

    async def sync_room(self, room: str) -> None:
        return None  # every envelope reaches every subscriber; each keeps its rooms' own

    async def count(self, room: str) -> int:
        return sum(local.local_count(room) for local in self.broker.subscribers)

    async def publish_history(
        self, envelope: Envelope, kind: str, retention: Retention, *, key: str | None = None
    ) -> Position | None:
        if key is not None and (envelope.room, key) in self.broker.keys:
            return self.broker.keys[envelope.room, key]
        stream = self.broker.stream(envelope.room)
        stream.top += 1
        publication = Publication(envelope.room, Position(stream.epoch, stream.top), envelope.payload, kind)
        stream.publications = [*stream.publications, publication][-retention.size :]
        if key is not None:
            self.broker.keys[envelope.room, key] = publication.position
        for local in self.broker.subscribers:
            if local.local_count(envelope.room):
                local.deliver_publication(publication)
        return publication.position

    async def read_stream(self, room: str, *, after: int, limit: int | None, retention: Retention) -> StreamSlice:
        stream = self.broker.streams.get(room)
        if stream is None:
            return StreamSlice(None, 0, ())
        kept = tuple(p for p in stream.publications if p.offset > after)
        return StreamSlice(stream.epoch, stream.top, kept if limit is None else kept[:limit])

    async def open_stream(self, room: str, *, retention: Retention) -> Position:
        stream = self.broker.stream(room)
        return Position(stream.epoch, stream.top)
