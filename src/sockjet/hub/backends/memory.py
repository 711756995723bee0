"""The in-process backend: a publish is delivered before ``publish`` returns, to this process only.

With history, each room's stream is a bounded ring in this process (``sockjet.hub.streams``):
it lives as long as the process, so a restarted process starts every room in a new epoch.
"""

from __future__ import annotations

import time

from sockjet.hub.backends.base import Backend, LocalRooms, Retention
from sockjet.hub.envelope import Envelope
from sockjet.hub.position import Position, StreamSlice
from sockjet.hub.streams import RoomStreams


class MemoryBackend(Backend):
    """No transport, no task: ``publish`` fans out synchronously, so it cannot fail or reorder."""

    def __init__(self) -> None:
        self._local: LocalRooms | None = None
        self._streams = RoomStreams(self._in_use)

    def _in_use(self, room: str) -> bool:
        return self._local is not None and self._local.local_count(room) > 0

    async def start(self, local: LocalRooms) -> None:
        self._local = local

    async def stop(self) -> None:
        self._local = None

    async def publish(self, envelope: Envelope) -> None:
        if self._local is not None:
            self._local.deliver(envelope)

    async def sync_room(self, room: str) -> None:
        return None

    async def count(self, room: str) -> int:
        return 0 if self._local is None else self._local.local_count(room)

    async def publish_history(self, envelope: Envelope, kind: str, retention: Retention) -> Position:
        publication = self._streams.append(envelope.room, envelope.payload, kind, retention, time.monotonic())
        if self._local is not None:
            self._local.deliver_publication(publication)
        return publication.position

    async def read_stream(self, room: str, *, after: int, limit: int | None, retention: Retention) -> StreamSlice:
        return self._streams.read(room, after, limit, retention, time.monotonic())

    async def open_stream(self, room: str, *, retention: Retention) -> Position:
        return self._streams.open(room, retention, time.monotonic())


__all__ = ["MemoryBackend"]
