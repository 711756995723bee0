"""The contract between the Hub and a backend.

The hub keeps local membership; a backend carries envelopes between publishers and every
process's hub. A backend calls ``local.deliver(envelope)`` for each envelope of a room this
process has members in, in the order the backend received them.

Idempotency: ``publish`` and ``publish_history`` take ``key`` (``hub.publish(..., idempotency_key=)``).
A backend built with ``idempotency_ttl`` stores and delivers nothing for a key already used in
the same room within that many seconds, and ``publish_history`` then returns the first
publish's ``Position`` (``None`` where the backend can no longer tell it).

Failures: ``PublishError`` only where nothing was stored (the request never left, or the
broker refused it); ``PublishOutcomeUnknown`` where the request was sent and no answer came.

History (``Hub(history_size=N)``) asks three more things of a backend, and nothing else:

- ``publish_history(envelope, kind, retention)``: in ONE atomic step, give the message the room's
  next offset (exactly +1, starting at 1 in a new epoch), append it to the room's stream trimmed
  to ``retention``, and fan it out with its position: every process then gets
  ``local.deliver_publication(publication)``, in offset order per room. Returns the ``Position``.
- ``read_stream(room, after=..., limit=..., retention=...)``: a ``StreamSlice`` -- the stream's
  epoch and top offset and the retained, unexpired publications with offset > ``after``, oldest
  first, read consistently with each other (one atomic read).
- ``open_stream(room, retention=...)``: the room's top ``Position``; a room without a stream gets
  one now, a new epoch at offset 0 (its next publish takes offset 1), so that a member joining an
  idle room has a position to resume from (``member.position``).
- after live delivery was interrupted (a lost connection to the broker), call
  ``local.stream_interrupted(rooms)`` once the rooms are subscribed again: the hub reads the
  stream to fill what its members missed, or tells them it cannot.

The hub does the rest (gap detection, de-duplication, merging a replay with live messages) in
pure code (``sockjet.hub.recovery``), so a backend stays a thin layer over its broker.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Protocol

from sockjet.hub.backends.presence import MemoryPresenceStore, PresenceStore
from sockjet.hub.envelope import Envelope
from sockjet.hub.position import Position, Publication, StreamSlice


@dataclass(frozen=True, slots=True)
class Retention:
    """How much of a room's stream a backend keeps.

    ``size``: the last ``size`` messages (> 0); ``ttl``: none older than ``ttl`` seconds (``None``:
    no age limit); ``meta_ttl``: the room's epoch and offset are forgotten ``meta_ttl`` seconds after
    its last publish (then its next publish starts a new epoch). Storage for a quiet room is
    released after ``ttl`` (messages) and ``meta_ttl`` (epoch and offset).
    """

    size: int
    ttl: float | None = None
    meta_ttl: float = 3600.0


class LocalRooms(Protocol):
    """What a backend may ask of the hub that started it."""

    def deliver(self, envelope: Envelope) -> None:
        """Hand an envelope to the local members of its room (never awaits)."""

    def local_count(self, room: str) -> int:
        """Members of ``room`` in this process (0: the backend need not listen to it)."""

    def local_rooms(self) -> list[str]:
        """Every room with a member in this process."""

    def deliver_publication(self, publication: Publication) -> None:
        """Hand a positioned message to the local members of its room (never awaits)."""

    def stream_interrupted(self, rooms: list[str]) -> None:
        """Live delivery of ``rooms`` may have missed publications; they are subscribed again."""


class Backend(abc.ABC):
    """Carries envelopes; ``start`` before anything else, ``stop`` ends every task and connection."""

    @abc.abstractmethod
    async def start(self, local: LocalRooms) -> None:
        """Connect; raise ``HubError`` with the reason if that is impossible."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect and end every task; idempotent."""

    @abc.abstractmethod
    async def publish(self, envelope: Envelope, *, key: str | None = None) -> None:
        """Send to every process (nothing if ``key`` was used in the room within ``idempotency_ttl``).

        ``PublishError`` if it was not sent, ``PublishOutcomeUnknown`` if it was and no answer came.
        """

    @abc.abstractmethod
    async def sync_room(self, room: str) -> None:
        """The local member count of ``room`` changed: listen to it iff it is above zero."""

    @abc.abstractmethod
    async def count(self, room: str) -> int:
        """Members of ``room`` in every process the backend can see."""

    def presence_store(self) -> PresenceStore:
        """The presence store that shares this backend's broker, made once per ``Hub.start``.

        The default keeps presence in this process (right for a backend that spans one process);
        a backend across processes returns a store on its own broker.
        """
        return MemoryPresenceStore()

    async def publish_history(
        self, envelope: Envelope, kind: str, retention: Retention, *, key: str | None = None
    ) -> Position | None:
        """Store and fan out in one atomic step; the message's ``Position``. ``PublishError`` if not stored.

        With a ``key`` already used in the room within ``idempotency_ttl``: nothing is stored or sent,
        and the first publish's ``Position`` is returned (``None`` if the backend can no longer tell it).
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no history: use Hub(history_size=0).")

    async def read_stream(self, room: str, *, after: int, limit: int | None, retention: Retention) -> StreamSlice:
        """Retained publications with offset > ``after`` (at most ``limit``), with the stream's epoch and top."""
        raise NotImplementedError(f"{type(self).__name__} keeps no history: use Hub(history_size=0).")

    async def open_stream(self, room: str, *, retention: Retention) -> Position:
        """The room's top ``Position``, starting a new epoch at offset 0 if the room has no stream."""
        raise NotImplementedError(f"{type(self).__name__} keeps no history: use Hub(history_size=0).")


__all__ = ["Backend", "LocalRooms", "Retention"]
