"""What the backends on a broker (Redis, NATS) share, written once.

Each broker writes only its own operations (publish, subscribe, read a stream, count); this
template owns what they have in common: who this process is to the broker, how long the broker
may take to answer, the presence store the backend made (the room frames it hands on), and the
one-line errors a user reads when the hub is stopped or the broker does not answer.
"""

from __future__ import annotations

import abc
import uuid
from typing import ClassVar

from sockjet.exceptions import HubError
from sockjet.hub.backends._urls import redacted
from sockjet.hub.backends.base import Backend, LocalRooms
from sockjet.hub.backends.describe import describe
from sockjet.hub.backends.presence import PresenceStore
from sockjet.hub.backends.remote_presence import RemotePresenceStore
from sockjet.hub.loggable import loggable

NOT_RUNNING = "the hub is not running (use hub.lifespan or `async with hub:`)"


def not_running(what: str, error: type[HubError] = HubError) -> HubError:
    """``Cannot <what>: the hub is not running (...)`` -- a call before ``start`` or after ``stop``."""
    return error(f"Cannot {what}: {NOT_RUNNING}.")


class RemoteBackend(Backend):
    """A backend whose processes meet on a broker: ``broker`` names it in messages."""

    broker: ClassVar[str]

    def __init__(self, url: str, *, timeout: float, presence_ttl: float, idempotency_ttl: float) -> None:
        self.url = url
        """As given (with credentials); messages show it ``redacted``."""
        self.timeout = timeout
        """Seconds the broker may take to answer one request."""
        self.presence_ttl = presence_ttl
        self.idempotency_ttl = idempotency_ttl
        self.process_id = uuid.uuid4().hex
        """This process on the broker: its counts, presence and echoes are filed under it."""
        self._local: LocalRooms | None = None
        self._presence_store: RemotePresenceStore | None = None
        """The store ``presence_store()`` made: it takes the presence frames that arrive on room channels."""

    def presence_store(self) -> PresenceStore:
        self._presence_store = self._make_presence_store()
        return self._presence_store

    @abc.abstractmethod
    def _make_presence_store(self) -> RemotePresenceStore:
        """This broker's presence store, sharing this backend's connection."""

    def _room_frame(self, room: str, raw: bytes) -> None:
        """A presence frame that arrived on ``room``'s channel: to the store, if one was made."""
        if self._presence_store is not None:
            self._presence_store.room_frame(room, raw)

    @property
    def where(self) -> str:
        """``Redis at redis://host:6379/0`` (credentials redacted): where a message says it asked."""
        return f"{self.broker} at {redacted(self.url)}"

    def unanswered(self, what: str, room: str, exc: BaseException) -> HubError:
        """``Cannot <what> room <room>: <broker> at <url> did not answer (<cause>).``"""
        return HubError(f"Cannot {what} room {loggable(room)}: {self.where} did not answer ({describe(exc)}).")


__all__ = ["NOT_RUNNING", "RemoteBackend", "not_running"]
