"""The chat demo's rules, as pure functions: what a nick, a room and a message may be, and what is published.

The wire is the channels protocol (docs/protocol.md), spoken by sockjet.js on the page and by
``sockjet.channels`` here. The page connects with its nickname as the token; each demo room is a
channel room of that name, subscribed with ``presence: "users"``: every connection announces
``{"user": <nick, case-folded>, "nick": <nick>}`` (``announced``), so several pages with one
nick are one user, and the online list is the same on every page, whatever worker serves it.

Published to a room (so in its history, the same on every page and in every replay):
``chat_message`` (through the room's ``on_publish``, which checks the text and stamps the
sender) and ``presence_line`` ("ada joined", "ada left", once per user change across every
worker, from ``hub.on_presence``).
"""

from __future__ import annotations

import re
import time
import unicodedata
from typing import Any

MAX_NICK = 24
MAX_ROOM = 32
MAX_TEXT = 500
DEFAULT_ROOMS = ("lobby", "random", "help")

_ROOM = re.compile(r"[\w-]+")


class InvalidInput(ValueError):
    """A nick, room name or message the demo refuses; the message says what is wrong with it."""


def _has_control(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(char).startswith("C") and char not in allowed for char in text)


def clean_nick(value: Any) -> str:
    """A nickname: 1 to ``MAX_NICK`` characters once trimmed, no control characters."""
    if not isinstance(value, str):
        raise InvalidInput("nick must be a string")
    nick = " ".join(value.split())
    if not nick:
        raise InvalidInput("nick must not be empty")
    if len(nick) > MAX_NICK:
        raise InvalidInput(f"nick must be at most {MAX_NICK} characters")
    if _has_control(nick):
        raise InvalidInput("nick must not contain control characters")
    return nick


def clean_room(value: Any) -> str:
    """A room name: 1 to ``MAX_ROOM`` letters, digits, ``_`` or ``-``, lowercase."""
    if not isinstance(value, str):
        raise InvalidInput("room must be a string")
    if not value:
        raise InvalidInput("room must not be empty")
    if len(value) > MAX_ROOM:
        raise InvalidInput(f"room must be at most {MAX_ROOM} characters")
    if not _ROOM.fullmatch(value):
        raise InvalidInput("room may only contain letters, digits, '_' and '-'")
    if value != value.lower():
        raise InvalidInput("room names are lowercase")
    return value


def clean_text(value: Any) -> str:
    """A chat message: 1 to ``MAX_TEXT`` characters once trimmed; newlines and tabs are the only control characters."""
    if not isinstance(value, str):
        raise InvalidInput("text must be a string")
    text = value.strip()
    if not text:
        raise InvalidInput("text must not be empty")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text must be at most {MAX_TEXT} characters")
    if _has_control(text, allowed="\n\t"):
        raise InvalidInput("text must not contain control characters")
    return text


def now_ms() -> int:
    return int(time.time() * 1000)


def user_of(nick: str) -> str:
    """The presence user of a nick: pages with the same nick, whatever its case, are one user."""
    return nick.casefold()


def announced(nick: str) -> dict[str, Any]:
    """What a connection announces in its room's presence."""
    return {"user": user_of(nick), "nick": nick}


def presence_line(event: str, *, room: str, nick: str) -> dict[str, Any]:
    """Published to a room once per change: a user's first page ``join``-ed, or its last one ``leave``-s."""
    return {"type": "presence", "event": event, "room": room, "nick": nick}


def chat_message(*, connection: str, room: str, nick: str, text: str) -> dict[str, Any]:
    """Published to a room: one chat message."""
    return {"type": "message", "id": connection, "room": room, "nick": nick, "text": text, "ts": now_ms()}
