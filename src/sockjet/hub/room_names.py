"""What a room name may be: a non-empty ``str`` of at most ``MAX_ROOM_NAME_BYTES`` bytes of UTF-8.

Checked by every hub call that takes a room (``join``, ``publish``, ``history``, ``presence``,
``presence_stats``, ``count``) before anything reaches a backend, so the limit is the same on
memory, Redis and NATS, and a client that picks the room name cannot make the broker carry a
megabyte-long channel name.
"""

from __future__ import annotations

from typing import Any

from sockjet.hub.loggable import loggable

MAX_ROOM_NAME_BYTES = 1024
"""The longest room name, in bytes of UTF-8; a longer one is refused with ``ValueError``."""


def check_room(room: Any) -> None:
    """``TypeError`` unless ``room`` is a non-empty ``str``; ``ValueError`` if it is over the limit
    or cannot be written as UTF-8 (a lone surrogate)."""
    if not isinstance(room, str) or not room:
        raise TypeError(f"A room is a non-empty str, got {loggable(room)}.")
    if room.isascii():
        size = len(room)
    else:
        try:
            size = len(room.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(
                f"A room name must be valid UTF-8 text (no lone surrogates), got {loggable(room)}."
            ) from None
    if size > MAX_ROOM_NAME_BYTES:
        raise ValueError(
            f"A room name is at most {MAX_ROOM_NAME_BYTES} bytes of UTF-8 (MAX_ROOM_NAME_BYTES); "
            f"got {size} bytes: {loggable(room)}."
        )


__all__ = ["MAX_ROOM_NAME_BYTES", "check_room"]
