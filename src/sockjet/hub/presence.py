"""Presence, the pure part: what a connection announces, what a join or leave means, and how
events are grouped so that churn cannot flood members. No I/O, nothing here awaits.

- **Info.** A connection announces a small JSON object (``presence={"user": "u42", ...}``),
  encoded once, compact, and refused above the hub's ``max_presence_info`` bytes.
- **Users.** Connections are grouped into users by the info's ``"user"`` value (compared as
  JSON, so ``42`` and ``"42"`` differ); a connection without one is a user of its own. The
  store that applies a join or leave knows, in the same atomic step, whether it was the
  user's first connection in the room or its last: ``PresenceEvent.user_changed``.
- **Coalescing.** ``Coalescer`` turns a room's stream of events into frames for members: an
  event goes out at once when the room's previous presence frame is at least ``interval`` old;
  otherwise it waits, merged with the others, and they all go out as one frame when the
  interval is up. So a member receives at most one presence frame per room per ``interval``,
  and a connection that joins and leaves within one wait appears in neither list.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from sockjet.exceptions import ConfigurationError, PresenceInfoTooLarge

PresenceEvents = bool | Literal["connections", "users"]
"""What ``hub.join(..., presence_events=...)`` accepts: ``True`` is ``"connections"``."""


class PresenceMode(enum.Enum):
    """Which changes a member is told about."""

    CONNECTIONS = "connections"
    """Every connection's join and leave."""
    USERS = "users"
    """A user's first connection joining and its last one leaving; the user's other tabs are silent."""


def events_mode(value: Any) -> PresenceMode | None:
    """``presence_events`` as a mode (``None``: no events); ``ConfigurationError`` for anything else."""
    if value is False or value is None:
        return None
    if value is True:
        return PresenceMode.CONNECTIONS
    for mode in PresenceMode:
        if value == mode.value:
            return mode
    raise ConfigurationError(f'presence_events must be False, True, "connections" or "users", got {value!r}.')


def encode_info(info: Any, *, max_bytes: int) -> tuple[str, str]:
    """``(info_json, user_key)`` for a presence announcement.

    Raises ``TypeError`` if ``info`` is not a JSON-encodable dict, ``PresenceInfoTooLarge``
    above ``max_bytes`` (UTF-8 bytes of its compact JSON).
    """
    if not isinstance(info, dict):
        raise TypeError(f"presence must be a dict (a JSON object), got {type(info).__name__!r}.")
    try:
        text = json.dumps(info, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"presence must be JSON-serializable: {exc}") from None
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise PresenceInfoTooLarge(
            f"presence info is {size} bytes of JSON; the hub's max_presence_info is {max_bytes} bytes. "
            "Announce less (an id and a display name), or raise Hub(max_presence_info=...)."
        )
    return text, user_key(info)


def user_key(info: dict[str, Any]) -> str:
    """The key users are counted by: the JSON of ``info["user"]``, or ``""`` (a user of its own)."""
    if "user" not in info:
        return ""
    return json.dumps(info["user"], separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def own_user(key: str, connection: str) -> str:
    """The user key a store keeps: a connection without a user is a user of its own (``#<id>``)."""
    return key or f"#{connection}"


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """One connection joined or left one room. What ``hub.on_presence`` observers receive.

    ``user_changed``: the join was the first connection of its user in the room, or the leave
    its last. ``expired``: a leave made by the reaper because the connection's process stopped
    refreshing (it crashed or lost the backend for longer than ``presence_ttl``).
    """

    room: str
    kind: Literal["join", "leave"]
    connection: str
    info_json: str
    user_changed: bool
    expired: bool = False

    @property
    def info(self) -> dict[str, Any]:
        """The announced info (decoded on each access)."""
        value: dict[str, Any] = json.loads(self.info_json)
        return value

    @property
    def user(self) -> Any:
        """``info["user"]``, or ``None`` when the connection announced no user."""
        return self.info.get("user")

    def user_key(self) -> str:
        return own_user(user_key(self.info), self.connection)


class PresenceStats(NamedTuple):
    """``await hub.presence_stats(room)``: how many connections and distinct users a room has."""

    connections: int
    users: int


class Entry(NamedTuple):
    """One connection in a presence frame: its id and its info, still encoded."""

    connection: str
    info_json: str


@dataclass(frozen=True, slots=True)
class Diff:
    """Changes to apply in order: first remove every ``leaves`` entry, then add every ``joins`` entry."""

    leaves: tuple[Entry, ...]
    joins: tuple[Entry, ...]


class Coalescer:
    """One room's presence changes for one mode, grouped into at most one frame per ``interval``.

    ``add`` returns the diff to send now, or ``None`` when it is held; then ``deadline`` says
    when ``flush`` will release it. The merge keeps the client's end state right when it
    applies leaves then joins: a join cancels a held leave of the same key with the same
    entry, a leave cancels a held join of that key.
    """

    __slots__ = ("_joins", "_last", "_leaves", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: float | None = None
        self._joins: dict[str, Entry] = {}
        self._leaves: dict[str, Entry] = {}

    @property
    def pending(self) -> bool:
        return bool(self._joins or self._leaves)

    @property
    def deadline(self) -> float | None:
        """When the held changes may go out (``None``: nothing held)."""
        if not self.pending:
            return None
        return 0.0 if self._last is None else self._last + self.interval

    def add(self, kind: Literal["join", "leave"], key: str, entry: Entry, now: float) -> Diff | None:
        held = self.pending
        if kind == "join":
            if self._leaves.get(key) == entry:
                del self._leaves[key]
            else:
                self._joins[key] = entry
        elif self._joins.pop(key, None) is None:
            self._leaves.setdefault(key, entry)
        if held:
            return None
        return self.flush(now)

    def flush(self, now: float) -> Diff | None:
        """The held changes if their time has come (and the clock restarts), else ``None``."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return None
        diff = Diff(tuple(self._leaves.values()), tuple(self._joins.values()))
        self._leaves.clear()
        self._joins.clear()
        self._last = now
        return diff


def _entries(entries: tuple[Entry, ...] | list[Entry]) -> str:
    return ",".join(f'{{"id":{json.dumps(e.connection)},"info":{e.info_json}}}' for e in entries)


def diff_frame(room: str, diff: Diff) -> str:
    """``{"type":"presence","room":…,"joins":[{"id":…,"info":{…}}…],"leaves":[…]}`` (compact JSON)."""
    room_json = json.dumps(room, ensure_ascii=False)
    joins, leaves = _entries(diff.joins), _entries(diff.leaves)
    return f'{{"type":"presence","room":{room_json},"joins":[{joins}],"leaves":[{leaves}]}}'


def state_frame(room: str, entries: list[Entry]) -> str:
    """``{"type":"presence","room":…,"state":[{"id":…,"info":{…}}…]}``: everyone, replacing what the client knew."""
    room_json = json.dumps(room, ensure_ascii=False)
    return f'{{"type":"presence","room":{room_json},"state":[{_entries(entries)}]}}'


def users_of(entries: dict[str, str]) -> list[Entry]:
    """One entry per user (its first connection in ``entries``' order) out of connection -> info_json."""
    seen: dict[str, Entry] = {}
    for connection, info_json in entries.items():
        key = own_user(user_key(json.loads(info_json)), connection)
        if key not in seen:
            seen[key] = Entry(connection, info_json)
    return list(seen.values())


__all__ = [
    "Coalescer",
    "Diff",
    "Entry",
    "PresenceEvent",
    "PresenceEvents",
    "PresenceMode",
    "PresenceStats",
    "diff_frame",
    "encode_info",
    "events_mode",
    "own_user",
    "state_frame",
    "user_key",
    "users_of",
]
