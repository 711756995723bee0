"""The in-process backend: a publish is delivered before ``publish`` returns, to this process only.

With history, each room's stream is a bounded ring in this process (``sockjet.hub.backends.memory_history``):
it lives as long as the process, so a restarted process starts every room in a new epoch.
Quiet rooms are freed by a sweep timer (``loop.call_later``, one at a time, armed while any room
is kept and cancelled by ``stop``) within ``meta_ttl`` plus ``streams.sweep_at``'s slack, even
when nothing else happens; it frees ``SWEEP_BATCH`` rooms per turn of the event loop.
Idempotency keys are remembered in this process (``RecentKeys``) for ``idempotency_ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import time

from sockjet.hub.backends.base import Backend, LocalRooms, Retention
from sockjet.hub.backends.memory_history import MemoryStreams
from sockjet.hub.backends.recent_keys import RecentKeys
from sockjet.hub.envelope import Envelope
from sockjet.hub.position import Position, StreamSlice
from sockjet.metrics import recorder as _metrics

SWEEP_BATCH = 256
"""Rooms one sweep frees before letting the event loop run others (about a millisecond of work)."""


class MemoryBackend(Backend):
    """No transport, no task: ``publish`` fans out synchronously, so it cannot fail or reorder."""

    def __init__(self, *, idempotency_ttl: float = 300.0) -> None:
        self._local: LocalRooms | None = None
        self._streams = MemoryStreams(self._in_use)
        self._sweep: asyncio.Handle | None = None
        self._keys: RecentKeys[Position | None] = RecentKeys(idempotency_ttl)

    def _in_use(self, room: str) -> bool:
        return self._local is not None and self._local.local_count(room) > 0

    async def start(self, local: LocalRooms) -> None:
        self._local = local

    async def stop(self) -> None:
        self._local = None
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    async def publish(self, envelope: Envelope, *, key: str | None = None) -> None:
        if key is not None:
            now = time.monotonic()
            if self._keys.seen(envelope.room, key, now)[0]:
                _metrics.deduplicated()
                return
            self._keys.remember(envelope.room, key, None, now)
        if self._local is not None:
            self._local.deliver(envelope)

    async def sync_room(self, room: str) -> None:
        return None

    async def count(self, room: str) -> int:
        return 0 if self._local is None else self._local.local_count(room)

    async def publish_history(
        self, envelope: Envelope, kind: str, retention: Retention, *, key: str | None = None
    ) -> Position | None:
        now = time.monotonic()
        if key is not None:
            seen, first = self._keys.seen(envelope.room, key, now)
            if seen:
                _metrics.deduplicated()
                return first
        publication = self._streams.append(envelope.room, envelope.payload, kind, retention, now)
        if self._sweep is None:
            self._arm()
        if key is not None:
            self._keys.remember(envelope.room, key, publication.position, now)
        if self._local is not None:
            self._local.deliver_publication(publication)
        return publication.position

    async def read_stream(self, room: str, *, after: int, limit: int | None, retention: Retention) -> StreamSlice:
        return self._streams.read(room, after, limit, retention, time.monotonic())

    async def open_stream(self, room: str, *, retention: Retention) -> Position:
        position = self._streams.open(room, retention, time.monotonic())
        if self._sweep is None:
            self._arm()
        return position

    # -- the sweep -------------------------------------------------------------------------------------
    def _arm(self) -> None:
        """Wake the sweep when the oldest room is due (nothing to do while there is none, or stopped)."""
        at = self._streams.sweep_at()
        if at is None or self._local is None:
            return
        self._sweep = asyncio.get_running_loop().call_later(max(0.0, at - time.monotonic()), self._swept)

    def _swept(self) -> None:
        self._sweep = None
        if self._streams.expire(time.monotonic(), SWEEP_BATCH) == SWEEP_BATCH:  # more may be due: next turn
            self._sweep = asyncio.get_running_loop().call_soon(self._swept)
        else:
            self._arm()


__all__ = ["MemoryBackend"]
