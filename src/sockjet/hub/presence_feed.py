"""Presence events, this process's side: which members asked for them, and getting each its frames.

A member that joins with ``presence_events`` is first *buffering*: frames for its room are kept
aside while the hub reads the room's presence; then it gets the ``state`` frame, then what was
kept aside, then everything live, through its outbox, in order with the room's messages. The
frames kept aside may repeat changes the state already holds: applied in order (leaves, then
joins, per frame), they leave the client with the right list, as every frame says where a key
*is* after it, not how to get there.

One ``Coalescer`` per room and mode bounds the frames (see ``sockjet.hub.presence``); a frame
is encoded once and shared by every member that receives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sockjet.hub.presence import (
    Coalescer,
    Diff,
    Entry,
    PresenceEvent,
    PresenceMode,
    diff_frame,
    state_frame,
    users_of,
)
from sockjet.types import Message

_M = TypeVar("_M", bound=Hashable)

SendToMember = Callable[[_M, Message, int], None]
"""How a feed hands a member its presence frame: (member, message, its size in bytes)."""


def _message(text: str) -> tuple[Message, int]:
    return {"type": "websocket.send", "text": text}, len(text.encode("utf-8"))


class _Room(Generic[_M]):
    __slots__ = ("coalescers", "members", "timers")

    def __init__(self) -> None:
        self.members: dict[PresenceMode, dict[_M, list[tuple[Message, int]] | None]] = {}
        """mode -> member -> frames kept aside while it waits for its state (``None``: live)."""
        self.coalescers: dict[PresenceMode, Coalescer] = {}
        self.timers: dict[PresenceMode, asyncio.TimerHandle] = {}


class PresenceFeed(Generic[_M]):
    """Routes a room's presence events to the members that asked for them; one per hub."""

    __slots__ = ("_offer", "_rooms", "interval")

    def __init__(self, offer: SendToMember[_M], *, interval: float) -> None:
        self._offer = offer
        self._rooms: dict[str, _Room[_M]] = {}
        self.interval = interval

    def wants(self, room: str) -> bool:
        """True if a member of this process listens to ``room``'s presence (else events need no decoding)."""
        return room in self._rooms

    def subscribe(self, room: str, member: _M, mode: PresenceMode) -> None:
        """Start keeping frames aside for ``member`` until ``ready``."""
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _Room()
        state.members.setdefault(mode, {})[member] = []
        state.coalescers.setdefault(mode, Coalescer(self.interval))

    def ready(self, room: str, member: _M, entries: dict[str, str] | None) -> None:
        """Send ``member`` the room's state (connection -> info JSON), then what was kept aside; live from now.

        ``entries=None``: no state could be read; only what was kept aside is sent.
        """
        state = self._rooms.get(room)
        if state is None:
            return
        for mode, members in state.members.items():
            kept = members.get(member)
            if kept is None:
                continue
            if entries is not None:
                listed = users_of(entries) if mode is PresenceMode.USERS else [Entry(c, i) for c, i in entries.items()]
                message, size = _message(state_frame(room, listed))
                self._offer(member, message, size)
            for message, size in kept:
                self._offer(member, message, size)
            members[member] = None

    def restart(self, room: str) -> list[_M]:
        """Every member listening to ``room`` waits for a fresh state again (changes may have been
        missed, e.g. while the backend's subscriber was away); returns them, for ``ready``."""
        state = self._rooms.get(room)
        if state is None:
            return []
        restarted: dict[_M, None] = {}
        for members in state.members.values():
            for member, kept in members.items():
                if kept is None:
                    members[member] = []
                restarted[member] = None
        return list(restarted)

    def unsubscribe(self, room: str, member: _M) -> None:
        state = self._rooms.get(room)
        if state is None:
            return
        for mode in list(state.members):
            members = state.members[mode]
            members.pop(member, None)
            if not members:
                del state.members[mode]
                del state.coalescers[mode]
                timer = state.timers.pop(mode, None)
                if timer is not None:
                    timer.cancel()
        if not state.members:
            del self._rooms[room]

    def clear(self) -> None:
        for state in self._rooms.values():
            for timer in state.timers.values():
                timer.cancel()
        self._rooms.clear()

    def deliver(self, event: PresenceEvent) -> None:
        """One event, as the backend delivers it to this process, in order with the room's messages."""
        state = self._rooms.get(event.room)
        if state is None:
            return
        now = asyncio.get_running_loop().time()
        entry = Entry(event.connection, event.info_json)
        for mode, coalescer in list(state.coalescers.items()):
            if mode is PresenceMode.USERS:
                if not event.user_changed:
                    continue
                key = event.user_key()
            else:
                key = event.connection
            diff = coalescer.add(event.kind, key, entry, now)
            if diff is not None:
                self._send(event.room, state, mode, diff)
            else:
                self._schedule(event.room, state, mode, coalescer)

    def _schedule(self, room: str, state: _Room[_M], mode: PresenceMode, coalescer: Coalescer) -> None:
        deadline = coalescer.deadline
        if deadline is None or mode in state.timers:
            return
        loop = asyncio.get_running_loop()
        state.timers[mode] = loop.call_at(deadline, self._flush, room, mode)

    def _flush(self, room: str, mode: PresenceMode) -> None:
        state = self._rooms.get(room)
        if state is None:
            return
        state.timers.pop(mode, None)
        coalescer = state.coalescers.get(mode)
        if coalescer is None:
            return
        diff = coalescer.flush(asyncio.get_running_loop().time())
        if diff is not None:
            self._send(room, state, mode, diff)
        else:
            self._schedule(room, state, mode, coalescer)

    def _send(self, room: str, state: _Room[_M], mode: PresenceMode, diff: Diff) -> None:
        message, size = _message(diff_frame(room, diff))
        for member, kept in list(state.members.get(mode, {}).items()):
            if kept is None:
                self._offer(member, message, size)
            else:
                kept.append((message, size))


__all__ = ["PresenceFeed", "SendToMember"]
