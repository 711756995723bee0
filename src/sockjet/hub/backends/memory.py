"""The in-process backend: a publish is delivered before ``publish`` returns, to this process only."""

from __future__ import annotations

from sockjet.hub.backends.base import Backend, LocalRooms
from sockjet.hub.envelope import Envelope


class MemoryBackend(Backend):
    """No transport, no task: ``publish`` fans out synchronously, so it cannot fail or reorder."""

    def __init__(self) -> None:
        self._local: LocalRooms | None = None

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


__all__ = ["MemoryBackend"]
