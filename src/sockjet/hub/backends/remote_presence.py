"""What the presence stores on a broker (Redis, NATS) share, written once.

Each broker's store writes only its own operations -- record a join or a leave, read a room, one
round of upkeep (``tick``) -- and this template owns the rest: where events go (the sink), what
this process announced (so that upkeep can refresh it and a lost broker can be told again), the
upkeep loop and its timing, the events that arrive on a room's channel, and the one-line
errors. A fix to any of these lands on both brokers.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time

from sockjet.exceptions import HubError
from sockjet.hub.backends._tasks import end_task
from sockjet.hub.backends._urls import redacted
from sockjet.hub.backends.describe import describe
from sockjet.hub.backends.presence import NO_SINK, PresenceSink, PresenceStore, reap_interval, refresh_interval
from sockjet.hub.loggable import loggable
from sockjet.hub.wire import decode_presence

logger = logging.getLogger("sockjet.hub")

Announced = dict[str, dict[str, tuple[str, str]]]
"""room -> connection -> (user key, info JSON): what this process announced and has not withdrawn."""


class RemotePresenceStore(PresenceStore):
    """Presence kept by a broker: one upkeep task per process refreshes this process's entries
    every ``refresh_interval(ttl)`` and reaps dead processes every ``reap_interval(ttl)``."""

    def __init__(
        self,
        *,
        broker: str,
        url: str,
        timeout: float,
        ttl: float,
        unanswered: tuple[type[BaseException], ...],
        task_name: str,
        hint: str = "",
    ) -> None:
        self.ttl = ttl
        self.reap_interval = reap_interval(ttl)
        self._broker = broker
        self._url = url
        self._timeout = timeout
        self._unanswered = unanswered
        """What the broker's client raises when the broker did not answer: retried, never fatal."""
        self._task_name = task_name
        self._hint = hint
        self._sink: PresenceSink = NO_SINK
        self._mine: Announced = {}
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self, sink: PresenceSink) -> None:
        self._sink = sink
        await self._prepare()
        self._task = asyncio.create_task(self._maintain(), name=self._task_name)

    async def _prepare(self) -> None:
        """What the broker needs before the first change (scripts, buckets); nothing by default."""

    async def _end_upkeep(self) -> None:
        """Stop the upkeep task (the first step of ``stop``)."""
        if self._task is not None:
            await end_task(self._task)
            self._task = None

    def _forget_all(self) -> None:
        """The last step of ``stop``: nothing announced, events go nowhere."""
        self._mine.clear()
        self._sink = NO_SINK

    # -- what arrives on a room's channel -------------------------------------------------------------
    def room_frame(self, room: str, raw: bytes) -> None:
        """A presence frame that arrived on ``room``'s channel: to the hub, if a member listens.

        Called by the backend that made this store; does nothing before ``start`` and after ``stop``.
        """
        if self._sink.wants(room):
            self._sink.deliver(decode_presence(room, raw))

    # -- this process's announcements -----------------------------------------------------------------
    def _remember(self, room: str, connection: str, key: str, info_json: str) -> None:
        self._mine.setdefault(room, {})[connection] = (key, info_json)

    def _forget(self, room: str, connection: str) -> tuple[str, str] | None:
        """Withdraw ``connection`` from what this process announced; its (user key, info), if it was."""
        conns = self._mine.get(room)
        if conns is None:
            return None
        announced = conns.pop(connection, None)
        if not conns:
            del self._mine[room]
        return announced

    # -- errors ---------------------------------------------------------------------------------------
    def _fail(self, what: str, room: str, exc: BaseException) -> HubError:
        return HubError(
            f"Cannot {what} room {room!r}: {self._broker} at {redacted(self._url)} did not answer "
            f"within {self._timeout:g}s ({describe(exc)}).{self._hint}"
        )

    def _leave_not_recorded(self, room: str, connection: str, exc: BaseException) -> None:
        logger.warning(
            "Presence leave of %s in room %s not recorded (%s); retrying.", connection, loggable(room), loggable(exc)
        )

    # -- upkeep ---------------------------------------------------------------------------------------
    async def _maintain(self) -> None:
        next_refresh = time.monotonic() + refresh_interval(self.ttl)
        while True:
            await asyncio.sleep(self.reap_interval)
            refresh = time.monotonic() >= next_refresh
            try:
                await self.tick(refresh=refresh)
            except self._unanswered as exc:
                logger.debug("Presence upkeep failed (retried in %gs): %s", self.reap_interval, loggable(exc))
                self._upkeep_failed()
                continue
            if refresh:
                next_refresh = time.monotonic() + refresh_interval(self.ttl)

    def _upkeep_failed(self) -> None:
        """After a round of upkeep the broker did not answer; nothing by default."""

    @abc.abstractmethod
    async def tick(self, *, refresh: bool) -> None:
        """One round of upkeep: retry failed leaves, refresh this process's entries (when
        ``refresh``), reap the processes that stopped refreshing."""


__all__ = ["Announced", "RemotePresenceStore"]
