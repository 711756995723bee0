"""Where presence lives: the contract of a presence store, and the in-process one.

A store keeps, per room, connection id -> announced info, and per user key how many
connections it has there, so that each join and leave knows in the same atomic step whether it
was the user's first or last (``PresenceEvent.user_changed``). For each change it:

- calls ``sink.observe(event)`` once, in the process that made the change (the joining or
  leaving process, or the one whose reaper removed a dead process's connections): exactly once
  across every process;
- has ``sink.deliver(event)`` called in every process with members in the room, in order with
  the room's messages (memory: at once; Redis, NATS: through the room's channel or subject).

Across processes (Redis, NATS) each process rewrites its expiry every ``refresh_interval(ttl)``
and reaps dead ones every ``reap_interval(ttl)``; a crashed process's connections have left
within ``crash_bound(ttl)`` of the crash.
"""

from __future__ import annotations

import abc
import json
from typing import Protocol

from sockjet.hub.presence import PresenceEvent, PresenceStats, own_user

PRESENCE_TTL = 8.0
"""``Hub(presence_ttl=...)``'s default, in seconds: a process that stops refreshing (kill -9, a lost
host) is ignored this long after its last refresh, so its users are shown offline within
``crash_bound(PRESENCE_TTL)`` = 9 s of the crash."""


def refresh_interval(ttl: float) -> float:
    """How often a process rewrites its expiry (counts, presence): three times per ``ttl``."""
    return ttl / 3


def reap_interval(ttl: float) -> float:
    """How often every process looks for dead processes to reap: ``min(ttl / 3, 1 s)``."""
    return min(ttl / 3, 1.0)


def crash_bound(ttl: float) -> float:
    """Seconds from a process's crash until its connections have left everywhere, at most: it
    refreshed at most ``ttl`` before expiring, and a survivor reaps within one reap interval."""
    return ttl + reap_interval(ttl)


class PresenceSink(Protocol):
    """What a store may tell the hub that started it."""

    def observe(self, event: PresenceEvent) -> None:
        """A change this process made (or reaped): exactly once across processes."""

    def deliver(self, event: PresenceEvent) -> None:
        """A change in a room this process has members in; never awaits."""

    def wants(self, room: str) -> bool:
        """True if some local member listens to ``room``'s presence events."""


class _NoSink:
    """Where a store's events go before ``start`` and after ``stop``: nowhere."""

    def observe(self, event: PresenceEvent) -> None:
        return None

    def deliver(self, event: PresenceEvent) -> None:
        return None

    def wants(self, room: str) -> bool:
        return False


NO_SINK: PresenceSink = _NoSink()


class PresenceStore(abc.ABC):
    """Per-room presence shared by every process of one backend."""

    @abc.abstractmethod
    async def start(self, sink: PresenceSink) -> None:
        """Begin (the backend is already started)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """End every task; entries this process still holds are removed (best effort) or expire."""

    @abc.abstractmethod
    async def join(self, room: str, connection: str, info_json: str, user_key: str) -> None:
        """Announce ``connection`` in ``room``; ``HubError`` if the backend cannot record it within its timeout."""

    @abc.abstractmethod
    async def leave(self, room: str, connection: str) -> None:
        """Withdraw it; never raises (a backend that cannot answer retries later, or the entry expires)."""

    @abc.abstractmethod
    async def entries(self, room: str) -> dict[str, str]:
        """Connection id -> info JSON of everyone in ``room``, every process; ``HubError`` on failure."""

    @abc.abstractmethod
    async def entries_json(self, room: str) -> str:
        """The same as one JSON object text, ``{"<connection>": {info}, ...}`` (cheaper for large rooms)."""

    @abc.abstractmethod
    async def stats(self, room: str) -> PresenceStats:
        """Connections and distinct users in ``room`` without listing them; ``HubError`` on failure."""


class _MemoryRoom:
    __slots__ = ("entries", "users")

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, str]] = {}
        """connection -> (user key, info JSON)"""
        self.users: dict[str, int] = {}


class MemoryPresenceStore(PresenceStore):
    """Presence of this process only: a change is observed and delivered before ``join``/``leave`` returns."""

    def __init__(self) -> None:
        self._rooms: dict[str, _MemoryRoom] = {}
        self._sink: PresenceSink = NO_SINK

    async def start(self, sink: PresenceSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = NO_SINK
        self._rooms.clear()

    async def join(self, room: str, connection: str, info_json: str, user_key: str) -> None:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _MemoryRoom()
        if connection in state.entries:
            return
        key = own_user(user_key, connection)
        state.entries[connection] = (key, info_json)
        count = state.users[key] = state.users.get(key, 0) + 1
        self._emit(PresenceEvent(room, "join", connection, info_json, user_changed=count == 1))

    async def leave(self, room: str, connection: str) -> None:
        state = self._rooms.get(room)
        if state is None or connection not in state.entries:
            return
        key, info_json = state.entries.pop(connection)
        count = state.users[key] - 1
        if count:
            state.users[key] = count
        else:
            del state.users[key]
        if not state.entries:
            del self._rooms[room]
        self._emit(PresenceEvent(room, "leave", connection, info_json, user_changed=not count))

    def _emit(self, event: PresenceEvent) -> None:
        self._sink.observe(event)
        self._sink.deliver(event)

    async def entries(self, room: str) -> dict[str, str]:
        state = self._rooms.get(room)
        return {} if state is None else {c: info for c, (_, info) in state.entries.items()}

    async def entries_json(self, room: str) -> str:
        entries = await self.entries(room)
        return "{" + ",".join(f"{json.dumps(c)}:{info}" for c, info in entries.items()) + "}"

    async def stats(self, room: str) -> PresenceStats:
        state = self._rooms.get(room)
        return PresenceStats(0, 0) if state is None else PresenceStats(len(state.entries), len(state.users))


__all__ = ["NO_SINK", "MemoryPresenceStore", "PresenceSink", "PresenceStore"]
