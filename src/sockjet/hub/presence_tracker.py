"""The hub's presence: what each local member announced in each room, its store, its observers.

The hub calls ``join`` when a member enters a room (outermost join only) and ``leave`` when it
leaves it (outermost leave, or the member is gone); everything else about presence happens here
or in the store, so the hub only needs those two hooks.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

from sockjet.exceptions import ConfigurationError, HubError
from sockjet.hub.backends.presence import MemoryPresenceStore, PresenceStore
from sockjet.hub.loggable import loggable
from sockjet.hub.member import Member
from sockjet.hub.presence import PresenceEvent, PresenceMode, PresenceStats
from sockjet.hub.presence_feed import PresenceFeed, SendToMember
from sockjet.metrics import recorder as _metrics

logger = logging.getLogger("sockjet.hub")

Observer = Callable[[PresenceEvent], Any]
"""``hub.on_presence`` callbacks: a plain function, or one returning an awaitable (run as a task)."""


class Announced(NamedTuple):
    """What the outermost join of a room asked for."""

    info_json: str | None
    user_key: str
    mode: PresenceMode | None


class PresenceTracker:
    """One per hub: joins and leaves to the store, events to members and observers."""

    def __init__(
        self, offer: SendToMember[Member], *, interval: float, spawn: Callable[[Coroutine[Any, Any, None]], None]
    ):
        self.store: PresenceStore = MemoryPresenceStore()
        self.feed: PresenceFeed[Member] = PresenceFeed(offer, interval=interval)
        self._spawn = spawn
        self._joined: dict[Member, dict[str, Announced]] = {}
        self._observers: list[Observer] = []

    async def start(self, store: PresenceStore) -> None:
        self.store = store
        await store.start(self)

    async def stop(self) -> None:
        await self.store.stop()
        self.feed.clear()
        self._joined.clear()

    # -- observers ----------------------------------------------------------------------------------
    def add_observer(self, observer: Observer) -> None:
        if not callable(observer):
            raise TypeError(f"on_presence takes a callable, got {observer!r}.")
        self._observers.append(observer)

    def remove_observer(self, observer: Observer) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    # -- what the store tells us (PresenceSink) -------------------------------------------------------
    def observe(self, event: PresenceEvent) -> None:
        for observer in list(self._observers):
            try:
                result = observer(event)
            except Exception:
                logger.exception("Presence observer %r failed on %s", observer, loggable(event))
                continue
            if inspect.isawaitable(result):
                self._spawn(self._await(observer, event, result))

    @staticmethod
    async def _await(observer: Observer, event: PresenceEvent, result: Any) -> None:
        try:
            await result
        except Exception:
            logger.exception("Presence observer %r failed on %s", observer, loggable(event))

    def deliver(self, event: PresenceEvent) -> None:
        self.feed.deliver(event)

    def wants(self, room: str) -> bool:
        return self.feed.wants(room)

    def interrupted(self, rooms: list[str]) -> None:
        """The backend's delivery was interrupted (a reconnect): listeners of these rooms may have
        missed changes, so each gets the room's state again, then what came meanwhile."""
        listened = [room for room in rooms if self.feed.wants(room)]
        if listened:
            self._spawn(self._resync(listened))

    async def _resync(self, rooms: list[str]) -> None:
        for room in rooms:
            members = self.feed.restart(room)
            try:
                entries = await self.store.entries(room)
            except HubError as exc:  # away again: no state this time (the next reconnect sends one)
                logger.warning(
                    "Could not read the presence of room %s after a reconnect: %s", loggable(room), loggable(exc)
                )
                entries = None
            for member in members:
                self.feed.ready(room, member, entries)

    # -- the hub's hooks ------------------------------------------------------------------------------
    def check_nested(self, room: str, member: Member, asked: Announced) -> None:
        """A nested join of ``room`` may repeat the outer join's presence, or ask for none."""
        outer = self._joined.get(member, {}).get(room, Announced(None, "", None))
        if asked.info_json is None and asked.mode is None:
            return
        if asked != outer:
            raise ConfigurationError(
                f"This WebSocket is already in room {room!r} with presence={outer.info_json} and "
                f"presence_events={outer.mode and outer.mode.value!r}; a nested join of the same room "
                "must pass the same presence and presence_events, or none."
            )

    async def join(self, room: str, member: Member, asked: Announced) -> None:
        """Announce and/or start the events (the member just entered ``room``); ``HubError`` undoes both."""
        if asked.info_json is None and asked.mode is None:
            return
        self._joined.setdefault(member, {})[room] = asked
        if asked.mode is not None:
            self.feed.subscribe(room, member, asked.mode)
        try:
            if asked.info_json is not None:
                await self.store.join(room, member.connection_id, asked.info_json, asked.user_key)
                _metrics.current.presence_changed("join")
            if asked.mode is not None:
                self.feed.ready(room, member, await self.store.entries(room))
        except BaseException:
            await self.leave(room, member)
            raise

    async def leave(self, room: str, member: Member) -> None:
        """Withdraw ``member`` from ``room``'s presence; never raises."""
        rooms = self._joined.get(member)
        announced = rooms.pop(room, None) if rooms is not None else None
        if announced is None:
            return
        if not rooms:
            del self._joined[member]
        if announced.mode is not None:
            self.feed.unsubscribe(room, member)
        if announced.info_json is not None:
            await self.store.leave(room, member.connection_id)
            _metrics.current.presence_changed("leave")

    async def forget(self, member: Member) -> None:
        """The member is gone: out of every room's presence."""
        for room in sorted(self._joined.get(member, {})):
            await self.leave(room, member)

    def rooms_of(self, member: Member) -> list[str]:
        return sorted(self._joined.get(member, {}))

    # -- questions ------------------------------------------------------------------------------------
    async def presence(self, room: str) -> dict[str, dict[str, Any]]:
        everyone: dict[str, dict[str, Any]] = json.loads(await self.store.entries_json(room))
        return everyone

    async def stats(self, room: str) -> PresenceStats:
        return await self.store.stats(room)


__all__ = ["Announced", "Observer", "PresenceTracker"]
