"""What travels through a backend: an ``Envelope`` (room + one encoded payload), and its wire form.

A payload is encoded once per publish, whatever the number of members: ``str`` becomes a text
frame, ``bytes`` a binary frame, anything else is JSON-encoded (compact, non-ASCII kept, like
``WebSocket.send_json``) and sent as a text frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sockjet.exceptions import PayloadTooLarge
from sockjet.hub.position import KIND_JSON, KIND_TEXT, kind_of
from sockjet.hub.wire import Tag
from sockjet.types import Message

_TEXT = Tag.TEXT.value
_BYTES = Tag.BYTES.value
_JSON = Tag.JSON.value


def encode_payload(data: Any) -> str | bytes:
    """``str`` and ``bytes`` as they are (``bytearray``/``memoryview`` as bytes); anything else as JSON text."""
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Cannot publish {type(data).__name__!r}: pass str, bytes or a JSON-serializable value ({exc})"
        ) from None


def payload_size(payload: str | bytes) -> int:
    """Size in bytes on the wire (UTF-8 for text)."""
    if isinstance(payload, bytes):
        return len(payload)
    return len(payload) if payload.isascii() else len(payload.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Envelope:
    """One published message for one room; ``payload`` is already encoded.

    ``kind`` says how a text payload was published (``"t"``: a ``str``, ``"j"``: a JSON value), so
    that a channels subscriber's push carries the value as it was; plain members only see ``payload``.
    """

    room: str
    payload: str | bytes
    kind: str = KIND_TEXT

    @classmethod
    def build(cls, room: str, data: Any, *, max_payload: int) -> Envelope:
        """Encode ``data`` once; ``PayloadTooLarge`` over ``max_payload`` bytes."""
        payload = encode_payload(data)
        size = payload_size(payload)
        if size > max_payload:
            raise PayloadTooLarge(
                f"Cannot publish {size} bytes to room {room!r}: the hub's max_payload is {max_payload} bytes. "
                "Send less, or raise Hub(max_payload=...)."
            )
        return cls(room, payload, kind_of(data))

    @property
    def size(self) -> int:
        return payload_size(self.payload)

    def message(self) -> Message:
        """The ASGI ``websocket.send`` message, built once and shared by every member (never mutated)."""
        if isinstance(self.payload, str):
            return {"type": "websocket.send", "text": self.payload}
        return {"type": "websocket.send", "bytes": self.payload}

    def to_wire(self) -> bytes:
        """The bytes a network backend carries: a one-byte kind (``t``, ``j`` or ``b``), then the payload."""
        if isinstance(self.payload, str):
            return (_JSON if self.kind == KIND_JSON else _TEXT) + self.payload.encode("utf-8")
        return _BYTES + self.payload

    @classmethod
    def from_wire(cls, room: str, raw: bytes) -> Envelope:
        """The inverse of ``to_wire``; ``ValueError`` for bytes no hub wrote."""
        kind, body = raw[:1], raw[1:]
        if kind == _TEXT:
            return cls(room, body.decode("utf-8"))
        if kind == _JSON:
            return cls(room, body.decode("utf-8"), KIND_JSON)
        if kind == _BYTES:
            return cls(room, bytes(body))
        raise ValueError(f"Not a hub message (kind byte {kind!r}) on room {room!r}")


__all__ = ["Envelope", "encode_payload", "payload_size"]
