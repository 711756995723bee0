"""The chat demo's wire protocol: client frames are validated here, server events are built here.

Pure functions, no I/O, so every rule about client input is tested without a socket. Client
frames are JSON objects in text frames::

    {"type": "join", "room": "lobby", "nick": "ada"}   enter a room (again: switch rooms)
    {"type": "join", ..., "since": "<position>"}        re-enter after a drop: replay what was missed
    {"type": "say", "text": "hello"}                   a chat message to the current room

Presence is the hub's (``hub.join(..., presence=..., presence_events="users")``): each
connection announces ``{"user": <nick, case-folded>, "nick": <nick>}``, and a page gets the
room's online users as ``{"type": "presence", "state": [...]}`` then ``joins``/``leaves``
frames (docs/hub.md#presence): the same list on every page, whatever worker serves it, and a
crashed worker's users leave within the hub's bound. Several pages with one nick are one user.
The join and leave *lines* are published to the room by the app's ``hub.on_presence``
observer, which runs once per change across every worker: ``presence_line``.

History: with a hub that keeps history, everything published to a room reaches pages as
``{"room", "position", "data"}`` (``json_frame``), the join and leave lines included, so every
page -- and every replay -- shows the same lines. A page joining afresh first gets
``{"type": "history", ...}`` (the room's retained messages); a page re-joining with ``since``
gets what it missed replayed, or, when that is impossible, a ``history`` frame with
``"resync": true`` that replaces what it shows.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from sockjet.hub.position import History, Position

MAX_FRAME = 4096
"""Largest client frame in characters; larger ones close the connection with 1008."""
MAX_NICK = 24
MAX_ROOM = 32
MAX_TEXT = 500
MAX_INVALID = 10
"""Invalid frames tolerated per connection before it is closed with 1008."""
DEFAULT_ROOMS = ("lobby", "random", "help")

_ROOM = re.compile(r"[\w-]+")


class InvalidFrame(ValueError):
    """A client frame the demo refuses; ``close`` says whether the connection ends (1008) or gets an error frame."""

    def __init__(self, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.close = close


@dataclass(frozen=True, slots=True)
class Join:
    room: str
    nick: str
    since: Position | None = None
    """The last position the page saw in ``room`` (a re-join after a drop), if any."""


@dataclass(frozen=True, slots=True)
class Say:
    text: str


Command = Join | Say


def _has_control(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(char).startswith("C") and char not in allowed for char in text)


def clean_nick(value: Any) -> str:
    """A nickname: 1 to ``MAX_NICK`` characters once trimmed, no control characters."""
    if not isinstance(value, str):
        raise InvalidFrame("nick must be a string")
    nick = " ".join(value.split())
    if not nick:
        raise InvalidFrame("nick must not be empty")
    if len(nick) > MAX_NICK:
        raise InvalidFrame(f"nick must be at most {MAX_NICK} characters")
    if _has_control(nick):
        raise InvalidFrame("nick must not contain control characters")
    return nick


def clean_room(value: Any) -> str:
    """A room name: 1 to ``MAX_ROOM`` letters, digits, ``_`` or ``-``, case-insensitive (kept lowercase)."""
    if not isinstance(value, str):
        raise InvalidFrame("room must be a string")
    room = value.strip().lower()
    if not room:
        raise InvalidFrame("room must not be empty")
    if len(room) > MAX_ROOM:
        raise InvalidFrame(f"room must be at most {MAX_ROOM} characters")
    if not _ROOM.fullmatch(room):
        raise InvalidFrame("room may only contain letters, digits, '_' and '-'")
    return room


def clean_text(value: Any) -> str:
    """A chat message: 1 to ``MAX_TEXT`` characters once trimmed; newlines and tabs are the only control characters."""
    if not isinstance(value, str):
        raise InvalidFrame("text must be a string")
    text = value.strip()
    if not text:
        raise InvalidFrame("text must not be empty")
    if len(text) > MAX_TEXT:
        raise InvalidFrame(f"text must be at most {MAX_TEXT} characters")
    if _has_control(text, allowed="\n\t"):
        raise InvalidFrame("text must not contain control characters")
    return text


def clean_since(data: dict[str, Any]) -> Position | None:
    """The optional ``since`` of a join: a position token as the page received it."""
    since = data.get("since")
    if since is None:
        return None
    if not isinstance(since, str):
        raise InvalidFrame("since must be a position string")
    try:
        return Position.parse(since)
    except ValueError:
        raise InvalidFrame("since is not a position the server sent") from None


def parse_frame(frame: str | bytes | None) -> Command:
    """Turn one received frame into a command, or raise ``InvalidFrame`` saying what is wrong with it."""
    if not isinstance(frame, str):
        raise InvalidFrame("send JSON in text frames, not binary frames")
    if len(frame) > MAX_FRAME:
        raise InvalidFrame(f"frame larger than {MAX_FRAME} characters", close=True)
    try:
        data = json.loads(frame)
    except ValueError:
        raise InvalidFrame("frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidFrame('frame must be a JSON object with a "type"')
    kind = data.get("type")
    if kind == "join":
        return Join(room=clean_room(data.get("room")), nick=clean_nick(data.get("nick")), since=clean_since(data))
    if kind == "say":
        return Say(text=clean_text(data.get("text")))
    raise InvalidFrame('"type" must be one of "join", "say"')


# --- server events ------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def welcome(*, connection: str, room: str, nick: str, hub: str, worker: int, recovered: bool = True) -> dict[str, Any]:
    """Sent to one connection when it has entered a room; ``worker`` is the serving process's id;
    ``recovered``: a re-join got every message it missed (always True on a first join)."""
    return {
        "type": "welcome",
        "id": connection,
        "room": room,
        "nick": nick,
        "hub": hub,
        "worker": worker,
        "user": user_of(nick),
        "recovered": recovered,
    }


def user_of(nick: str) -> str:
    """The presence user of a nick: pages with the same nick, whatever its case, are one user."""
    return nick.casefold()


def announced(nick: str) -> dict[str, Any]:
    """What a connection announces in its room's presence."""
    return {"user": user_of(nick), "nick": nick}


def history(room: str, history: History, *, resync: bool) -> dict[str, Any]:
    """Sent to one connection: the room's retained messages, oldest first (``resync``: replace what you show)."""
    return {
        "type": "history",
        "room": room,
        "resync": resync,
        "top": None if history.top is None else str(history.top),
        "messages": [{"position": str(m.position), "data": m.data} for m in history.messages],
    }


def presence_line(event: str, *, room: str, nick: str) -> dict[str, Any]:
    """Published to a room once per change: a user's first page ``join``-ed, or its last one ``leave``-s."""
    return {"type": "presence", "event": event, "room": room, "nick": nick}


def chat_message(*, connection: str, room: str, nick: str, text: str) -> dict[str, Any]:
    """Published to a room: one chat message."""
    return {"type": "message", "id": connection, "room": room, "nick": nick, "text": text, "ts": now_ms()}


def error(message: str) -> dict[str, Any]:
    """Sent to one connection whose frame was refused."""
    return {"type": "error", "error": message}
