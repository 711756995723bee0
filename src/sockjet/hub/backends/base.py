"""The contract between the Hub and a backend.

The hub keeps local membership; a backend carries envelopes between publishers and every
process's hub. A backend calls ``local.deliver(envelope)`` for each envelope of a room this
process has members in, in the order the backend received them.
"""

from __future__ import annotations

import abc
from typing import Protocol

from sockjet.hub.envelope import Envelope


class LocalRooms(Protocol):
    """What a backend may ask of the hub that started it."""

    def deliver(self, envelope: Envelope) -> None:
        """Hand an envelope to the local members of its room (never awaits)."""

    def local_count(self, room: str) -> int:
        """Members of ``room`` in this process (0: the backend need not listen to it)."""

    def local_rooms(self) -> list[str]:
        """Every room with a member in this process."""


class Backend(abc.ABC):
    """Carries envelopes; ``start`` before anything else, ``stop`` ends every task and connection."""

    @abc.abstractmethod
    async def start(self, local: LocalRooms) -> None:
        """Connect; raise ``HubError`` with the reason if that is impossible."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect and end every task; idempotent."""

    @abc.abstractmethod
    async def publish(self, envelope: Envelope) -> None:
        """Send to every process; ``PublishError`` if it could not be handed to the transport."""

    @abc.abstractmethod
    async def sync_room(self, room: str) -> None:
        """The local member count of ``room`` changed: listen to it iff it is above zero."""

    @abc.abstractmethod
    async def count(self, room: str) -> int:
        """Members of ``room`` in every process the backend can see."""


__all__ = ["Backend", "LocalRooms"]
