"""The channels protocol, version 1 (docs/protocol.md), as pure code that never awaits.

Frames in, commands out (``parse``); replies, errors and pushes as values or encoded frames; the
per-connection rules (pending ids, the command rate, the malformed-frame budget, the
subscription limit) in ``Rules``, driven with explicit times so that unit tests need no loop and
no socket. The connection loop (``sockjet.channels.connection``) only moves what this decides.
"""

from __future__ import annotations

import enum
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sockjet import status
from sockjet.exceptions import ConfigurationError
from sockjet.hub.history import HISTORY_LOST_CLOSE_CODE, HISTORY_LOST_CLOSE_REASON
from sockjet.hub.position import Position
from sockjet.hub.presence import PresenceEvents

PROTOCOL_VERSION = 1
MAX_ID = 2**53 - 1
"""Ids stay exact in every JSON implementation (a JavaScript number)."""
MAX_ROOM_LENGTH = 256
MAX_METHOD_LENGTH = 256
OPS = ("subscribe", "unsubscribe", "publish", "call", "presence", "history")

UNSUBSCRIBED_HISTORY_LOST = HISTORY_LOST_CLOSE_CODE
"""``unsubscribed`` code: the room missed messages its history cannot give back; resubscribe with ``since``."""
UNSUBSCRIBED_HISTORY_LOST_REASON = HISTORY_LOST_CLOSE_REASON
UNSUBSCRIBED_REVOKED = 4403
"""``unsubscribed`` code: the application ended the subscription; do not resubscribe."""

MALFORMED_CLOSE_CODE = status.WS_1008_POLICY_VIOLATION
MALFORMED_CLOSE_REASON = "too many malformed frames"


class ErrorCode(enum.IntEnum):
    """The HTTP-like codes of error replies (docs/protocol.md#errors)."""

    MALFORMED = 400
    REFUSED = 403
    NOT_FOUND = 404
    CONFLICT = 409
    TOO_LARGE = 413
    INVALID = 422
    TOO_MANY = 429
    FAILED = 500


def dumps(value: Any) -> str:
    """Compact JSON with non-ASCII kept, as every frame is written."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# -- commands ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Subscribe:
    id: int
    room: str
    since: Position | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    presence_events: PresenceEvents = False


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: int
    room: str


@dataclass(frozen=True, slots=True)
class Publish:
    id: int
    room: str
    data: Any


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    method: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class PresenceQuery:
    id: int
    room: str


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    id: int
    room: str
    since: Position | None = None
    limit: int | None = None


Command = Subscribe | Unsubscribe | Publish | Call | PresenceQuery | HistoryQuery
RoomCommand = Subscribe | Unsubscribe | Publish | PresenceQuery | HistoryQuery

UNKNOWN_OP = "unknown"
"""The ``op`` a frame is counted under (metrics) when it names none of ``OPS``: a bounded label."""

_OP_OF: dict[type, str] = {
    Subscribe: "subscribe",
    Unsubscribe: "unsubscribe",
    Publish: "publish",
    Call: "call",
    PresenceQuery: "presence",
    HistoryQuery: "history",
}


def op_of(command: Command) -> str:
    """The protocol's ``op`` name of a parsed command."""
    return _OP_OF[type(command)]


# -- replies and pushes -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Failure:
    """An error reply: ``{"id": id, "error": {"code", "message"[, "details"]}}`` (``id`` None: unknown)."""

    id: int | None
    code: ErrorCode
    message: str
    details: tuple[dict[str, Any], ...] | None = None
    op: str = field(default=UNKNOWN_OP, compare=False)
    """The command's ``op`` when the frame named one of ``OPS`` (what metrics count it under)."""

    def encode(self) -> str:
        error: dict[str, Any] = {"code": int(self.code), "message": self.message}
        if self.details is not None:
            error["details"] = list(self.details)
        return dumps({"id": self.id, "error": error})


@dataclass(frozen=True, slots=True)
class Close:
    """The connection must be closed with ``code`` (no reply for the frame that caused it)."""

    code: int
    reason: str


def ok_frame(command_id: int, body: Mapping[str, Any]) -> str:
    """``{"id": n, "ok": body}``."""
    return f'{{"id":{command_id},"ok":{dumps(body)}}}'


def connected_frame(connection: str, ping: float) -> str:
    shown: float = int(ping) if float(ping).is_integer() else ping
    return dumps({"op": "connected", "connection": connection, "ping": shown, "protocol": PROTOCOL_VERSION})


PING_FRAME = '{"op":"ping"}'


def unsubscribed_frame(room: str, code: int, reason: str) -> str:
    return dumps({"op": "unsubscribed", "room": room, "code": code, "reason": reason})


def token(position: Position | None) -> str | None:
    return None if position is None else str(position)


def subscribe_ok(
    room: str,
    *,
    since: Position | None,
    recovered: bool,
    held: list[Position | None],
    live: Position | None,
) -> dict[str, Any]:
    """The subscribe reply's body, from what was held back while the subscription went live.

    ``held``: the positions of the room's pushes taken aside while subscribing (``None`` for a
    presence push), in order; they are sent right after the reply. With ``since`` recovered they
    are the missed messages and ``position`` is the last of them; otherwise they are live and
    ``position`` is the one just before the first of them (offsets of one epoch are consecutive),
    or, with none held, ``live``: the room's latest position in this process.
    """
    positions = [p for p in held if p is not None]
    if since is not None and recovered:
        position: Position | None = positions[-1] if positions else since
        missed = len(positions)
    else:
        missed = 0
        if positions:
            first = positions[0]
            position = Position(first.epoch, first.offset - 1) if first.offset else first
        else:
            position = live
    return {"room": room, "position": token(position), "recovered": recovered, "missed": missed}


# -- parsing ---------------------------------------------------------------------------------------------
def _shown(value: Any) -> str:
    text = dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _room(command_id: int, op: str, frame: Mapping[str, Any]) -> str | Failure:
    room = frame.get("room")
    if not isinstance(room, str) or not room or len(room) > MAX_ROOM_LENGTH:
        return Failure(
            command_id,
            ErrorCode.MALFORMED,
            f"A {op} command needs 'room', a non-empty string of at most {MAX_ROOM_LENGTH} characters.",
        )
    return sys.intern(room)  # every subscriber of a room keeps its name: one copy for all


def _since(command_id: int, frame: Mapping[str, Any]) -> Position | Failure | None:
    since = frame.get("since")
    if since is None:
        return None
    try:
        if not isinstance(since, str):
            raise ValueError
        return Position.parse(since)
    except ValueError:
        return Failure(
            command_id,
            ErrorCode.MALFORMED,
            f"'since' is not a position token: {_shown(since)}. "
            "Send back a position the server gave, e.g. 'f3a9c2e1.42'.",
        )


def _subscribe(command_id: int, frame: Mapping[str, Any]) -> Command | Failure:
    room = _room(command_id, "subscribe", frame)
    if isinstance(room, Failure):
        return room
    since = _since(command_id, frame)
    if isinstance(since, Failure):
        return since
    params = frame.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        return Failure(command_id, ErrorCode.MALFORMED, f"'params' must be a JSON object, got {_shown(params)}.")
    events = frame.get("presence_events", False)
    if events is None:
        events = False
    if not isinstance(events, bool) and events not in ("users", "connections"):
        return Failure(
            command_id,
            ErrorCode.MALFORMED,
            f'\'presence_events\' must be true, false, "users" or "connections", got {_shown(events)}.',
        )
    return Subscribe(command_id, room, since, params, events)


def _publish(command_id: int, frame: Mapping[str, Any]) -> Command | Failure:
    room = _room(command_id, "publish", frame)
    if isinstance(room, Failure):
        return room
    if "data" not in frame:
        return Failure(command_id, ErrorCode.MALFORMED, "A publish command needs 'data', any JSON value.")
    return Publish(command_id, room, frame["data"])


def _call(command_id: int, frame: Mapping[str, Any]) -> Command | Failure:
    method = frame.get("method")
    if not isinstance(method, str) or not method or len(method) > MAX_METHOD_LENGTH:
        return Failure(
            command_id,
            ErrorCode.MALFORMED,
            f"A call command needs 'method', a non-empty string of at most {MAX_METHOD_LENGTH} characters.",
        )
    return Call(command_id, method, frame.get("data"))


def _history(command_id: int, frame: Mapping[str, Any]) -> Command | Failure:
    room = _room(command_id, "history", frame)
    if isinstance(room, Failure):
        return room
    since = _since(command_id, frame)
    if isinstance(since, Failure):
        return since
    limit = frame.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        return Failure(command_id, ErrorCode.MALFORMED, f"'limit' must be an integer >= 0, got {_shown(limit)}.")
    return HistoryQuery(command_id, room, since, limit)


def _room_only(command_id: int, op: str, frame: Mapping[str, Any]) -> Command | Failure:
    room = _room(command_id, op, frame)
    if isinstance(room, Failure):
        return room
    return Unsubscribe(command_id, room) if op == "unsubscribe" else PresenceQuery(command_id, room)


_EXPECTED_OPS = ", ".join(OPS)


def _named(parsed: Command | Failure, op: str) -> Command | Failure:
    """A failure to parse a command of ``op`` remembers its op."""
    return replace(parsed, op=op) if isinstance(parsed, Failure) else parsed


BINARY_MESSAGE = "Binary frames are not part of the protocol: send each command as JSON in a text frame."
NOT_JSON_MESSAGE = "The frame is not valid JSON."


_LEADING_ID = re.compile(r'\s*\{\s*"id"\s*:\s*([1-9][0-9]{0,15})\s*[,}]')
"""An ``id`` that is the first key of the frame's object: certainly the top-level one."""


def _leading_id(text: str) -> int | None:
    """The id of a frame too large to parse, when it comes first (as both sockjet clients send it)."""
    found = _LEADING_ID.match(text)
    if found is None:
        return None
    command_id = int(found.group(1))
    return command_id if command_id <= MAX_ID else None


def parse(text: str | None, *, max_frame_size: int) -> Command | Failure:
    """One client frame (``None``: a binary frame) as a command, or the error reply it gets."""
    if text is None:
        return Failure(None, ErrorCode.MALFORMED, BINARY_MESSAGE)
    size = text_size(text)
    if size > max_frame_size:  # before any parsing: an oversized frame costs no JSON decoding
        return Failure(
            _leading_id(text),
            ErrorCode.TOO_LARGE,
            f"The frame is {size} bytes; this server takes at most {max_frame_size} bytes per frame.",
        )
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return Failure(None, ErrorCode.MALFORMED, NOT_JSON_MESSAGE)
    if not isinstance(frame, dict):
        return Failure(None, ErrorCode.MALFORMED, f"A command is a JSON object, got {_shown(frame)}.")
    command_id = frame.get("id")
    if isinstance(command_id, bool) or not isinstance(command_id, int) or not 1 <= command_id <= MAX_ID:
        return Failure(
            None,
            ErrorCode.MALFORMED,
            f"A command needs 'id', a positive integer up to 2**53-1, got {_shown(command_id)}.",
        )
    op = frame.get("op")
    if op == "subscribe":
        return _named(_subscribe(command_id, frame), op)
    if op == "publish":
        return _named(_publish(command_id, frame), op)
    if op == "call":
        return _named(_call(command_id, frame), op)
    if op == "history":
        return _named(_history(command_id, frame), op)
    if op == "unsubscribe" or op == "presence":
        return _named(_room_only(command_id, op, frame), op)
    if op is None:
        return Failure(command_id, ErrorCode.MALFORMED, f"A command needs 'op', one of {_EXPECTED_OPS}.")
    return Failure(command_id, ErrorCode.MALFORMED, f"Unknown op {_shown(op)}: expected one of {_EXPECTED_OPS}.")


# -- the rules of one connection -------------------------------------------------------------------------
class TokenBucket:
    """At most ``capacity`` takes per ``per`` seconds, bursts up to ``capacity``; time is given, not read."""

    __slots__ = ("_rate", "_stamp", "_tokens", "capacity")

    def __init__(self, capacity: int, per: float) -> None:
        self.capacity = capacity
        self._rate = capacity / per
        self._tokens = float(capacity)
        self._stamp: float | None = None

    def take(self, now: float) -> bool:
        if self._stamp is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass(frozen=True, kw_only=True)
class Limits:
    """A connection's limits (``Channels(...)`` options), checked when built."""

    max_frame_size: int = 64 * 1024
    max_subscriptions: int = 100
    command_rate: tuple[int, float] = (100, 1.0)
    """At most this many commands per this many seconds (a token bucket)."""
    malformed_budget: int = 10
    """Malformed frames answered with 400 before the connection is closed with 1008."""

    def __post_init__(self) -> None:
        for name in ("max_frame_size", "max_subscriptions", "malformed_budget"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < (0 if name == "malformed_budget" else 1)
            ):
                least = 0 if name == "malformed_budget" else 1
                raise ConfigurationError(f"{name} must be an int >= {least}, got {value!r}.")
        rate = self.command_rate
        if (
            not isinstance(rate, tuple)
            or len(rate) != 2
            or isinstance(rate[0], bool)
            or not isinstance(rate[0], int)
            or rate[0] < 1
            or isinstance(rate[1], bool)
            or not isinstance(rate[1], (int, float))
            or not rate[1] > 0
        ):
            raise ConfigurationError(
                f"command_rate must be (commands, seconds) with commands an int >= 1 and seconds > 0, got {rate!r}."
            )


class Rules:
    """One connection's protocol state: what a frame becomes, and which commands may run.

    ``receive(text, now)`` gives the command to carry out, the ``Failure`` to reply with, or the
    ``Close`` to end with. A command's id is pending from then until ``replied(id)``.
    Subscriptions are tracked from ``subscribing`` (which may refuse) to ``unsubscribed``.
    """

    __slots__ = ("_bucket", "_malformed", "limits", "pending", "rooms")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._bucket = TokenBucket(*limits.command_rate)
        self._malformed = 0
        self.pending: dict[int, str] = {}
        """The ids of commands awaiting a reply, with their ops."""
        self.rooms: dict[str, None] = {}
        """Rooms subscribed or being subscribed (a dict: smaller than a set of the same rooms)."""

    def receive(self, text: str | None, now: float) -> Command | Failure | Close:
        command = parse(text, max_frame_size=self.limits.max_frame_size)
        if not isinstance(command, Failure) and command.id in self.pending:
            # Answered with id null: the id belongs to the command still pending.
            command = Failure(
                None,
                ErrorCode.MALFORMED,
                f"Command id {command.id} is already pending: use an id unique among commands awaiting a reply.",
                op=op_of(command),
            )
        if isinstance(command, Failure):
            if command.id is not None and command.id in self.pending:  # its id belongs to a pending command
                command = replace(command, id=None)
            if command.code is ErrorCode.MALFORMED and self._malformed_one():
                return Close(MALFORMED_CLOSE_CODE, MALFORMED_CLOSE_REASON)
            return command
        if not self._bucket.take(now):
            count, per = self.limits.command_rate
            return Failure(
                command.id, ErrorCode.TOO_MANY, f"Too many commands: at most {count} per {per:g} s.", op=op_of(command)
            )
        self.pending[command.id] = op_of(command)
        return command

    def _malformed_one(self) -> bool:
        """Count a malformed frame; True when the budget is spent."""
        self._malformed += 1
        return self._malformed > self.limits.malformed_budget

    def replied(self, command_id: int) -> str | None:
        """The command ``command_id`` is answered: its op (None: it was not pending)."""
        return self.pending.pop(command_id, None)

    def subscribing(self, command: Subscribe) -> Failure | None:
        """May ``command`` go ahead? 409 if subscribed, 429 at the limit; else the room counts from now."""
        if command.room in self.rooms:
            return Failure(command.id, ErrorCode.CONFLICT, f"Already subscribed to {command.room!r}.")
        limit = self.limits.max_subscriptions
        if len(self.rooms) >= limit:
            return Failure(command.id, ErrorCode.TOO_MANY, f"Too many subscriptions: at most {limit} per connection.")
        self.rooms[command.room] = None
        return None

    def unsubscribed(self, room: str) -> None:
        self.rooms.pop(room, None)


def not_subscribed(command_id: int, room: str) -> Failure:
    return Failure(command_id, ErrorCode.REFUSED, f"Not subscribed to {room!r}: subscribe first.")


def no_room(command_id: int, room: str) -> Failure:
    return Failure(command_id, ErrorCode.NOT_FOUND, f"No room matches {room!r}.")


__all__ = [
    "MAX_ID",
    "OPS",
    "PING_FRAME",
    "PROTOCOL_VERSION",
    "UNKNOWN_OP",
    "UNSUBSCRIBED_HISTORY_LOST",
    "UNSUBSCRIBED_REVOKED",
    "Call",
    "Close",
    "Command",
    "ErrorCode",
    "Failure",
    "HistoryQuery",
    "Limits",
    "PresenceQuery",
    "Publish",
    "Rules",
    "Subscribe",
    "TokenBucket",
    "Unsubscribe",
    "connected_frame",
    "ok_frame",
    "op_of",
    "parse",
    "subscribe_ok",
    "unsubscribed_frame",
]
