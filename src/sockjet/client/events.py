"""What iterating a subscription yields, and what ``history`` returns: small frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sockjet.hub.position import Position


@dataclass(frozen=True, slots=True)
class Message:
    """A message of ``room``: its ``data`` (decoded JSON) and its ``position`` (None in a room without history)."""

    room: str
    data: Any
    position: Position | None


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """A presence frame of ``room`` (only with ``presence_events=True``), in order with its messages.

    The first one holds ``state`` (every connection present: a list of entries); later ones hold
    ``joins`` and ``leaves``. Applied in order (leaves, then joins) they keep a list right.
    """

    room: str
    state: tuple[Any, ...] | None = None
    joins: tuple[Any, ...] = ()
    leaves: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Resync:
    """The subscription came back but could not recover what it missed: reload your state.

    Messages after this event are live from ``position`` (the room's position when the
    resubscription went live; None for a room without history). ``sub.history()`` gives what
    the room still retains.
    """

    room: str
    position: Position | None


Event = Message | PresenceEvent | Resync
"""Anything ``async for event in subscription`` yields."""


@dataclass(frozen=True, slots=True)
class History:
    """What ``sub.history()`` returns: ``messages`` oldest first, the room's latest ``position``,
    and ``recovered`` (True when ``messages`` holds everything after the ``since`` asked, or
    the first ``limit`` of it; when False, ``messages`` is empty)."""

    room: str
    position: Position | None
    recovered: bool
    messages: tuple[Message, ...]


__all__ = ["Event", "History", "Message", "PresenceEvent", "Resync"]
