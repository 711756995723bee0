"""Who is in which room, in this process: pure bookkeeping, no I/O.

``add`` and ``discard`` report when a room gains its first or loses its last local member:
those are the moments a backend subscribes or unsubscribes (subscriptions are reference
counted by the number of local members).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

_M = TypeVar("_M", bound=Hashable)


class Rooms(Generic[_M]):
    """room -> members and member -> rooms, kept in step."""

    __slots__ = ("_by_member", "_by_room")

    def __init__(self) -> None:
        self._by_room: dict[str, dict[_M, None]] = {}
        self._by_member: dict[_M, set[str]] = {}

    def add(self, room: str, member: _M) -> bool:
        """Put ``member`` in ``room``; True if the room had no local member before."""
        members = self._by_room.get(room)
        first = members is None
        if members is None:
            members = self._by_room[room] = {}
        members[member] = None
        self._by_member.setdefault(member, set()).add(room)
        return first

    def discard(self, room: str, member: _M) -> bool:
        """Take ``member`` out of ``room``; True if that emptied the room."""
        members = self._by_room.get(room)
        if members is None or member not in members:
            return False
        del members[member]
        rooms = self._by_member[member]
        rooms.discard(room)
        if not rooms:
            del self._by_member[member]
        if members:
            return False
        del self._by_room[room]
        return True

    def remove_member(self, member: _M) -> list[str]:
        """Take ``member`` out of every room; returns the rooms that became empty."""
        emptied = []
        for room in sorted(self._by_member.get(member, ())):
            if self.discard(room, member):
                emptied.append(room)
        return emptied

    def members(self, room: str) -> tuple[_M, ...]:
        """A snapshot of the room's members, in joining order."""
        members = self._by_room.get(room)
        return tuple(members) if members else ()

    def count(self, room: str) -> int:
        members = self._by_room.get(room)
        return len(members) if members else 0

    def rooms_of(self, member: _M) -> frozenset[str]:
        return frozenset(self._by_member.get(member, ()))

    def rooms(self) -> list[str]:
        """Every room with at least one local member."""
        return list(self._by_room)

    def clear(self) -> None:
        self._by_room.clear()
        self._by_member.clear()


__all__ = ["Rooms"]
