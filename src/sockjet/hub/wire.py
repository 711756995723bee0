"""What crosses a broker on a room's channel: one tag byte, then the body. One place for both brokers.

======================  ==========================================================================
tag                     body
======================  ==========================================================================
``t`` / ``j`` / ``b``   an ``Envelope``: text published as ``str`` / as a JSON value / bytes
``h``                   a positioned publication (history on Redis: ``h<epoch> <offset> `` + envelope)
``p``                   a presence event: ``p<kind><changed><connection>\\n<user key>\\n<info JSON>``
======================  ==========================================================================

On NATS a publication is an envelope whose position travels in message headers instead.
Every process of one hub must run a version that knows the tags its peers send.
"""

from __future__ import annotations

import enum

from sockjet.hub.presence import PresenceEvent


class Tag(bytes, enum.Enum):
    """The first byte of every message on a room's channel."""

    TEXT = b"t"
    JSON = b"j"
    BYTES = b"b"
    POSITIONED = b"h"
    PRESENCE = b"p"


_EVENT_KINDS = {"j": "join", "l": "leave", "x": "leave"}


def is_presence(raw: bytes) -> bool:
    """True for a presence event (tag ``p``), which goes to the presence store, not to members."""
    return raw[:1] == Tag.PRESENCE.value


def presence_frame(kind: str, user_changed: bool, connection: str, user_key: str, info_json: str) -> bytes:
    """A presence event as sent on the room's channel; ``kind``: ``j`` join, ``l`` leave, ``x`` expired."""
    return f"p{kind}{'1' if user_changed else '0'}{connection}\n{user_key}\n{info_json}".encode()


def decode_presence(room: str, raw: bytes) -> PresenceEvent:
    """A presence event from a room channel (``raw`` starts with ``p``), or from a Redis script's
    answer (the same body without the tag)."""
    text = raw.decode("utf-8")
    if text.startswith("p"):
        text = text[1:]
    kind, flag, rest = text[0], text[1], text[2:]
    connection, _, rest = rest.partition("\n")
    _, _, info_json = rest.partition("\n")
    return PresenceEvent(
        room,
        _EVENT_KINDS[kind],  # type: ignore[arg-type]
        connection,
        info_json,
        user_changed=flag == "1",
        expired=kind == "x",
    )


__all__ = ["Tag", "decode_presence", "is_presence", "presence_frame"]
