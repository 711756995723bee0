"""A channel's pushes of what the hub delivers, encoded once per publication and room.

The hub calls ``frame`` once per publication (or envelope, without history) for every channels
subscriber of the room it reaches, and ``presence`` once per member for a presence frame (that
one is cached by identity: the hub shares one frame among a room's members). Each push is a
``Push``: the ASGI message, which also remembers the message's position, so that a connection
holding a room's pushes back while it subscribes can say where they start.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sockjet.channels.protocol import dumps, text_size
from sockjet.hub.envelope import Envelope
from sockjet.hub.position import KIND_JSON, Position, Publication
from sockjet.types import Message

_HUB_PRESENCE = '{"type":"presence",'
_CHANNEL_PRESENCE = '{"op":"presence",'
_DECODER = json.JSONDecoder()


class Push(dict[str, Any]):
    """A ``websocket.send`` message that also carries its publication's position (``None``: none)."""

    __slots__ = ("position",)

    def __init__(self, text: str, position: Position | None) -> None:
        super().__init__(type="websocket.send", text=text)
        self.position = position


def message_frame(room: str, position: Position | None, payload: str | bytes, kind: str) -> str:
    """``{"op":"message","room":…,"position":…,"data":…}`` (``"bytes"``: base64, for a bytes payload)."""
    shown = "null" if position is None else f'"{position}"'
    head = f'{{"op":"message","room":{dumps(room)},"position":{shown},'
    if isinstance(payload, bytes):
        return f'{head}"bytes":"{base64.b64encode(payload).decode("ascii")}"}}'
    if kind == KIND_JSON:
        return f'{head}"data":{payload}}}'
    return f'{head}"data":{dumps(payload)}}}'


class Codec:
    """One ``Channels``' encoder (the hub groups members by it); notes which rooms had pushes."""

    __slots__ = ("_last_in", "_last_out", "active", "diverting")

    def __init__(self) -> None:
        self.diverting = 0
        """How many connections are holding some room's pushes back right now (see ``ChannelCodec``)."""
        self.active: set[str] = set()
        """Rooms that had a push since the ping ticker last looked (it clears this)."""
        self._last_in: Message | None = None
        self._last_out: tuple[str, Message, int] = ("", {}, 0)

    def frame(self, source: Envelope | Publication) -> tuple[Message, int]:
        position = source.position if isinstance(source, Publication) else None
        text = message_frame(source.room, position, source.payload, source.kind)
        self.active.add(source.room)
        return Push(text, position), text_size(text)

    def presence(self, message: Message, size: int) -> tuple[str, Message, int]:
        if message is self._last_in:
            return self._last_out
        text: str = message["text"]
        room, _ = _DECODER.raw_decode(text, text.index('"room":') + len('"room":'))
        if text.startswith(_HUB_PRESENCE):
            text = _CHANNEL_PRESENCE + text[len(_HUB_PRESENCE) :]
        out = (room, Push(text, None), text_size(text))
        self._last_in, self._last_out = message, out
        self.active.add(room)
        return out


__all__ = ["Codec", "Push", "message_frame"]
