"""Who is in which room in this process, and what each join or leave requires: pure, no I/O, no event loop.

The rules, all in one place:

- A connection may join the same room several times (nested ``async with hub.join(...)`` blocks);
  it is *in* the room from its first join until its last matching leave, and only those two
  moments change the room's local member count.
- A room's first local member means the backend must start listening to it (``SUBSCRIBE``); its
  last local member leaving means it may stop (``UNSUBSCRIBE``). Any other change of the local
  count is ``COUNT_CHANGED`` (presence counts are per process).
- A connection that leaves its last room is done (``STOP_MEMBER``): its writer ends.

``join`` and ``leave`` apply the change at once and return the actions; the hub carries them out
(the backend calls may await). Nothing here awaits, so every rule is tested without a loop.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from typing import Generic, TypeVar

_M = TypeVar("_M", bound=Hashable)


class Action(enum.Enum):
    """What the hub must do after a membership change."""

    SUBSCRIBE = "subscribe"
    """The room got its first local member: the backend must deliver the room here."""
    UNSUBSCRIBE = "unsubscribe"
    """The room lost its last local member: the backend may stop delivering it here."""
    COUNT_CHANGED = "count_changed"
    """The room's local member count changed, and it still has members."""
    STOP_MEMBER = "stop_member"
    """The member is in no room any more: end its writer."""


Actions = tuple[Action, ...]
NOTHING: Actions = ()


def needs_backend(actions: Actions) -> bool:
    """True when the backend must learn the room's new local count (subscribe, unsubscribe or count)."""
    return any(action is not Action.STOP_MEMBER for action in actions)


class Membership(Generic[_M]):
    """room -> members (joining order), member -> {room: nested join count}, kept in step."""

    __slots__ = ("_by_member", "_by_room")

    def __init__(self) -> None:
        self._by_room: dict[str, dict[_M, None]] = {}
        self._by_member: dict[_M, dict[str, int]] = {}

    # -- changes ------------------------------------------------------------------------------------
    def join(self, room: str, member: _M) -> Actions:
        """One more join of ``room`` by ``member``; a nested join changes nothing outside the member."""
        joins = self._by_member.setdefault(member, {})
        depth = joins.get(room, 0)
        joins[room] = depth + 1
        if depth:
            return NOTHING
        members = self._by_room.get(room)
        if members is None:
            self._by_room[room] = {member: None}
            return (Action.SUBSCRIBE,)
        members[member] = None
        return (Action.COUNT_CHANGED,)

    def leave(self, room: str, member: _M) -> Actions:
        """Undo one ``join``; the outermost leave takes the member out of the room. Unknown pairs: nothing."""
        joins = self._by_member.get(member)
        depth = joins.get(room, 0) if joins is not None else 0
        if joins is None or not depth:
            return NOTHING
        if depth > 1:
            joins[room] = depth - 1
            return NOTHING
        del joins[room]
        actions = [self._out_of_room(room, member)]
        if not joins:
            del self._by_member[member]
            actions.append(Action.STOP_MEMBER)
        return tuple(actions)

    def remove(self, member: _M) -> dict[str, Actions]:
        """Take ``member`` out of every room at once (it is gone); the room actions, by room, sorted.

        ``STOP_MEMBER`` is not among them: whoever removes a member is already ending it.
        """
        joins = self._by_member.pop(member, None)
        if not joins:
            return {}
        return {room: (self._out_of_room(room, member),) for room in sorted(joins)}

    def _out_of_room(self, room: str, member: _M) -> Action:
        members = self._by_room[room]
        del members[member]
        if members:
            return Action.COUNT_CHANGED
        del self._by_room[room]
        return Action.UNSUBSCRIBE

    def clear(self) -> None:
        self._by_room.clear()
        self._by_member.clear()

    # -- questions ------------------------------------------------------------------------------------
    def members(self, room: str) -> tuple[_M, ...]:
        """A snapshot of the room's members, in joining order."""
        members = self._by_room.get(room)
        return tuple(members) if members else ()

    def count(self, room: str) -> int:
        members = self._by_room.get(room)
        return len(members) if members else 0

    def rooms(self) -> list[str]:
        """Every room with at least one local member."""
        return list(self._by_room)

    def rooms_of(self, member: _M) -> frozenset[str]:
        joins = self._by_member.get(member)
        return frozenset(joins) if joins else frozenset()

    def depth(self, room: str, member: _M) -> int:
        """How many nested joins of ``room`` the member is inside (0: not in it)."""
        joins = self._by_member.get(member)
        return joins.get(room, 0) if joins else 0

    def __contains__(self, member: object) -> bool:
        return member in self._by_member


__all__ = ["NOTHING", "Action", "Actions", "Membership", "needs_backend"]
