"""Where a message sits in its room's stream: ``Position``, and what history gives back.

With ``Hub(history_size=N)`` every publish to a room gets the next offset of the room's stream
(1, 2, 3, ... with no hole), tagged with the stream's *epoch*: a name for one unbroken life of
that stream. When the stream is lost (a memory hub restarted, Redis restarted without
persistence, the room expired) the next publish starts a new epoch, and positions of the old
one can no longer be recovered from.

``str(position)`` is a compact URL-safe token (``"<epoch>.<offset>"``) that a client can keep
and send back on reconnect; ``Position.parse`` is its inverse.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sockjet._checks import is_int
from sockjet.exceptions import SockjetError

_EPOCH = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN = re.compile(r"([A-Za-z0-9_-]{1,64})\.(0|[1-9][0-9]{0,18})")
MAX_OFFSET = 2**63 - 1
"""Redis counters are signed 64-bit integers."""


class IncomparablePositions(SockjetError, TypeError, ValueError):
    """Positions of two epochs were ordered: they belong to different lives of a stream."""


class _Epochs:
    """Epoch names: a random seed per process, then a counter."""

    __slots__ = ("_count", "_seed")

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self._seed = secrets.token_hex(4)
        self._count = 0

    def new(self) -> str:
        self._count += 1
        return f"{self._seed}{self._count:x}"


_EPOCHS = _Epochs()
os.register_at_fork(after_in_child=_EPOCHS.reseed)  # a forked worker never repeats its parent's names


def new_epoch() -> str:
    """A fresh epoch name (URL-safe): unique across processes (each has a random seed, renewed in a
    forked child) and within one (a counter), and cheap enough to offer with every publish."""
    return _EPOCHS.new()


@dataclass(frozen=True, slots=True)
class Position:
    """A message's place in its room's stream: ``epoch`` (which life of the stream) and ``offset``.

    Immutable and hashable. Two positions are equal when both fields are; ``<``, ``<=``, ``>``,
    ``>=`` compare offsets and raise ``IncomparablePositions`` (a ``TypeError`` and a
    ``ValueError``) for positions of different epochs, which have no order.
    """

    epoch: str
    offset: int

    def __post_init__(self) -> None:
        if not isinstance(self.epoch, str) or not _EPOCH.fullmatch(self.epoch):
            raise ValueError(
                f"A Position's epoch is 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-', got {self.epoch!r}."
            )
        if not is_int(self.offset) or not 0 <= self.offset <= MAX_OFFSET:
            raise ValueError(f"A Position's offset is an int from 0 to 2**63-1, got {self.offset!r}.")

    @classmethod
    def _of(cls, epoch: str, offset: int) -> Position:
        """A position from a source that already guarantees the fields (a backend): no checks."""
        position = object.__new__(cls)
        object.__setattr__(position, "epoch", epoch)
        object.__setattr__(position, "offset", offset)
        return position

    def __str__(self) -> str:
        return f"{self.epoch}.{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """The inverse of ``str(position)``; ``ValueError`` saying what was expected for anything else."""
        match = _TOKEN.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            shown = text if not isinstance(text, str) or len(text) <= 80 else text[:77] + "..."
            raise ValueError(
                f"Not a sockjet position: {shown!r}. Expected '<epoch>.<offset>' as made by str(Position), "
                "e.g. 'f3a9c2e1.42'."
            )
        offset = int(match.group(2))
        if offset > MAX_OFFSET:
            raise ValueError(f"Not a sockjet position: {text!r}. Its offset is above 2**63-1.")
        return cls(match.group(1), offset)

    def _same_epoch(self, other: Position) -> int:
        if self.epoch != other.epoch:
            raise IncomparablePositions(
                f"Cannot order {self} and {other}: they are of different epochs (different lives of the stream)."
            )
        return other.offset

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Position):
            return NotImplemented
        return self.offset < self._same_epoch(other)

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Position):
            return NotImplemented
        return self.offset <= self._same_epoch(other)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Position):
            return NotImplemented
        return self.offset > self._same_epoch(other)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Position):
            return NotImplemented
        return self.offset >= self._same_epoch(other)


def as_position(since: Position | str | None) -> Position | None:
    """``since`` as given to ``join``/``history``: a ``Position``, its token, or ``None``."""
    if since is None or isinstance(since, Position):
        return since
    if isinstance(since, str):
        return Position.parse(since)
    raise TypeError(f"since must be a Position, its str() token, or None; got {type(since).__name__}.")


KIND_TEXT = "t"
KIND_BYTES = "b"
KIND_JSON = "j"
"""How a payload was published: as ``str``, as ``bytes``, or as a JSON-encoded value."""


def kind_of(data: Any) -> str:
    if isinstance(data, str):
        return KIND_TEXT
    if isinstance(data, (bytes, bytearray, memoryview)):
        return KIND_BYTES
    return KIND_JSON


@dataclass(frozen=True, slots=True)
class Publication:
    """One message of a room's stream: its ``position``, and its payload as encoded once at publish.

    ``payload`` is what members receive (``str`` -> text frame, ``bytes`` -> binary frame);
    ``kind`` says how it was published, so that ``data`` gives it back as it was: ``str`` as
    ``str``, ``bytes`` as ``bytes``, a JSON value decoded.
    """

    room: str
    position: Position
    payload: str | bytes
    kind: str = KIND_TEXT

    @property
    def offset(self) -> int:
        return self.position.offset

    @property
    def data(self) -> Any:
        if self.kind == KIND_JSON:
            return json.loads(self.payload)
        return self.payload

    def to_wire(self) -> bytes:
        """Kind byte + payload, the form a network backend stores."""
        if isinstance(self.payload, str):
            return self.kind.encode() + self.payload.encode("utf-8")
        return self.kind.encode() + self.payload

    @classmethod
    def from_wire(cls, room: str, position: Position, raw: bytes) -> Publication:
        """The inverse of ``to_wire``; ``ValueError`` for bytes no hub wrote."""
        kind, body = raw[:1].decode("latin-1"), raw[1:]
        if kind in (KIND_TEXT, KIND_JSON):
            return cls(room, position, body.decode("utf-8"), kind)
        if kind == KIND_BYTES:
            return cls(room, position, bytes(body), kind)
        raise ValueError(f"Not a hub publication (kind byte {kind!r}) in room {room!r}")


@dataclass(frozen=True, slots=True)
class History:
    """What ``hub.history`` returns.

    - ``messages``: ``Publication`` s, oldest first (each has ``position`` and ``data``);
    - ``top``: the room's latest ``Position``, ``None`` for a room never published to (or expired);
    - ``recovered``: True when ``messages`` holds every message after ``since`` (with ``limit``,
      the first ``limit`` of them). When False, ``messages`` is empty: never a partial list.
    """

    messages: tuple[Publication, ...]
    top: Position | None
    recovered: bool


@dataclass(frozen=True, slots=True)
class StreamSlice:
    """One consistent read of a room's stream by a backend (the interface in backends/base.py).

    ``epoch``: the stream's current life (``None``: no stream, never published or expired);
    ``top``: its last offset (0 without a stream); ``publications``: retained, unexpired messages
    with offset > the ``after`` asked, oldest first, at most the ``limit`` asked.
    """

    epoch: str | None
    top: int
    publications: tuple[Publication, ...]

    @property
    def top_position(self) -> Position | None:
        return None if self.epoch is None else Position(self.epoch, self.top)

    def after(self, offset: int) -> StreamSlice:
        """The same read without the publications at or below ``offset`` (a shared read, cut for one reader)."""
        publications = self.publications
        if not publications or publications[0].offset > offset:
            return self
        return StreamSlice(self.epoch, self.top, publications[offset + 1 - publications[0].offset :])

    def continues(self, since: Position) -> bool:
        """True when this slice holds every message after ``since`` (or the first ``limit`` of them)."""
        if since.epoch != self.epoch or since.offset > self.top:
            return False
        if since.offset == self.top:
            return True
        return bool(self.publications) and self.publications[0].offset == since.offset + 1


__all__ = [
    "KIND_BYTES",
    "KIND_JSON",
    "KIND_TEXT",
    "History",
    "IncomparablePositions",
    "Position",
    "Publication",
    "StreamSlice",
    "as_position",
    "kind_of",
    "new_epoch",
]
