"""Protocol v1 frames, the client's side: commands out as text, server frames in as values. Pure.

``parse`` turns a server frame into one of the small values below, ``None`` for a push this
client does not know (the protocol lets servers add ops: they are ignored), and raises
``ProtocolViolation`` for anything the protocol does not allow — the client then drops the
connection rather than guess.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from sockjet.client.errors import ChannelError, ProtocolViolation
from sockjet.client.events import History, Message, PresenceEvent
from sockjet.hub.position import MAX_OFFSET, Position

SUBPROTOCOL = "sockjet.v1"
TOKEN_PREFIX = "sockjet.token."


def subprotocols(token: str | None) -> list[str]:
    """What the client offers in ``Sec-WebSocket-Protocol``: the version, and the token in base64url."""
    if token is None:
        return [SUBPROTOCOL]
    encoded = base64.urlsafe_b64encode(token.encode("utf-8")).rstrip(b"=").decode("ascii")
    return [SUBPROTOCOL, TOKEN_PREFIX + encoded]


def command(command_id: int, op: str, fields: dict[str, Any]) -> str:
    """One command frame: ``{"id", "op", **fields}`` as compact JSON."""
    return json.dumps({"id": command_id, "op": op, **fields}, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Connected:
    connection: str
    ping: float
    protocol: int


@dataclass(frozen=True, slots=True)
class Reply:
    """``ok`` (an object) or ``error``; ``id`` is None only for the answer to a frame without a usable id."""

    id: int | None
    ok: dict[str, Any] | None
    error: ChannelError | None


@dataclass(frozen=True, slots=True)
class MessagePush:
    message: Message


@dataclass(frozen=True, slots=True)
class PresencePush:
    event: PresenceEvent


@dataclass(frozen=True, slots=True)
class UnsubscribedPush:
    room: str
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ServerFrame = Connected | Reply | MessagePush | PresencePush | UnsubscribedPush | Ping


def _violation(what: str, frame: object) -> ProtocolViolation:
    shown = repr(frame)
    if len(shown) > 200:
        shown = shown[:197] + "..."
    return ProtocolViolation(f"The server sent {what}: {shown}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TOKEN = re.compile(r"([A-Za-z0-9_-]{1,64})\.(0|[1-9][0-9]{0,18})")
"""docs/protocol.md's position token (the grammar of ``Position.parse``), matched once per message."""


def _position(value: object, frame: object) -> Position | None:
    if value is None:
        return None
    match = _TOKEN.fullmatch(value) if isinstance(value, str) else None
    if match is None or (offset := int(match.group(2))) > MAX_OFFSET:
        raise _violation("a position that is not a token", frame)
    return Position._of(match.group(1), offset)


def _room(frame: dict[str, Any]) -> str:
    room = frame.get("room")
    if not isinstance(room, str):
        raise _violation("a push without a room", frame)
    return room


def _data(entry: dict[str, Any], frame: object) -> Any:
    """``data``, or ``bytes`` (standard base64) for a message server code published as bytes."""
    if "bytes" in entry and "data" not in entry:
        raw = entry["bytes"]
        if isinstance(raw, str):
            try:
                return base64.b64decode(raw, validate=True)
            except binascii.Error:
                pass
        raise _violation("'bytes' that are not base64", frame)
    return entry.get("data")


def _entries(value: object, frame: object) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _violation("a presence push whose lists are not lists", frame)
    return tuple(value)


def parse(text: str | bytes) -> ServerFrame | None:
    """One server frame as a value; None for an unknown push; ``ProtocolViolation`` for a bad frame."""
    if isinstance(text, bytes):
        raise ProtocolViolation("The server sent a binary frame; protocol v1 has text frames only.")
    try:
        frame = json.loads(text)
    except ValueError:
        raise _violation("a frame that is not JSON", text) from None
    if not isinstance(frame, dict):
        raise _violation("a frame that is not a JSON object", frame)
    if "id" in frame:
        return _reply(frame)
    op = frame.get("op")
    if op == "message":
        position = _position(frame.get("position"), frame)
        return MessagePush(Message(_room(frame), _data(frame, frame), position))
    if op == "presence":
        room = _room(frame)
        if "state" in frame:
            return PresencePush(PresenceEvent(room, state=_entries(frame["state"], frame)))
        joins, leaves = _entries(frame.get("joins", []), frame), _entries(frame.get("leaves", []), frame)
        return PresencePush(PresenceEvent(room, joins=joins, leaves=leaves))
    if op == "unsubscribed":
        code, reason = frame.get("code"), frame.get("reason", "")
        if not isinstance(code, int) or isinstance(code, bool) or not isinstance(reason, str):
            raise _violation("an unsubscribed push without a code", frame)
        return UnsubscribedPush(_room(frame), code, reason)
    if op == "ping":
        return Ping()
    if op == "connected":
        connection, ping, protocol = frame.get("connection"), frame.get("ping"), frame.get("protocol")
        if not isinstance(connection, str) or not isinstance(ping, (int, float)) or isinstance(ping, bool):
            raise _violation("a connected frame without connection and ping", frame)
        if protocol != 1:
            raise _violation("a connected frame for another protocol version", frame)
        return Connected(connection, float(ping), protocol)
    if isinstance(op, str):
        return None
    raise _violation("a push without an op", frame)


def _reply(frame: dict[str, Any]) -> Reply:
    command_id = frame["id"]
    if command_id is not None and not (_is_int(command_id) and command_id > 0):
        raise _violation("a reply with a bad id", frame)
    if isinstance(frame.get("ok"), dict):
        return Reply(command_id, frame["ok"], None)
    error = frame.get("error")
    if isinstance(error, dict) and _is_int(error.get("code")) and isinstance(error.get("message"), str):
        return Reply(command_id, None, ChannelError(error["code"], error["message"], error.get("details")))
    raise _violation("a reply with neither ok nor error", frame)


def subscribed(ok: dict[str, Any]) -> tuple[Position | None, bool, int]:
    """A subscribe ok reply's ``position``, ``recovered`` and ``missed``."""
    recovered, missed = ok.get("recovered"), ok.get("missed", 0)
    if not isinstance(recovered, bool) or not _is_int(missed):
        raise _violation("a subscribe reply without recovered and missed", ok)
    return _position(ok.get("position"), ok), recovered, missed


def published(ok: dict[str, Any]) -> Position | None:
    """A publish ok reply's ``position``."""
    return _position(ok.get("position"), ok)


def presence(ok: dict[str, Any]) -> dict[str, Any]:
    """A presence ok reply: connection id -> info."""
    entries = ok.get("presence")
    if not isinstance(entries, dict):
        raise _violation("a presence reply without presence", ok)
    return entries


def history(room: str, ok: dict[str, Any]) -> History:
    """A history ok reply as ``History``."""
    recovered, messages = ok.get("recovered"), ok.get("messages")
    if not isinstance(recovered, bool) or not isinstance(messages, list):
        raise _violation("a history reply without recovered and messages", ok)
    parsed = []
    for entry in messages:
        if not isinstance(entry, dict):
            raise _violation("a history reply with a message that is not an object", ok)
        parsed.append(Message(room, _data(entry, ok), _position(entry.get("position"), ok)))
    return History(room, _position(ok.get("position"), ok), recovered, tuple(parsed))


__all__ = [
    "SUBPROTOCOL",
    "TOKEN_PREFIX",
    "Connected",
    "MessagePush",
    "Ping",
    "PresencePush",
    "Reply",
    "ServerFrame",
    "UnsubscribedPush",
    "command",
    "history",
    "parse",
    "presence",
    "published",
    "subprotocols",
    "subscribed",
]
