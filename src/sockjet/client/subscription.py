"""One room of a client: its events in order, its resume point, and the room commands.

A ``Subscription`` outlives connections: the client resubscribes it after every reconnect
from its ``position`` (the last message it received), and its queue keeps what arrived, so
iterating it yields every message once and in order across drops, a ``Resync`` where the
server could not recover, and raises once the subscription or the client ended for good.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sockjet import status
from sockjet.client import frames
from sockjet.client.cursor import StreamCursor
from sockjet.client.errors import ClientClosed
from sockjet.client.events import Event, History, Message, PresenceEvent
from sockjet.hub.position import Position, as_position

if TYPE_CHECKING:
    from sockjet.client.client import Client

Request = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class Subscription:
    """A room this client is subscribed to. Made by ``await client.subscribe(room)``.

    - ``position``: the position of the last message received, or the room's position when the
      subscription went live (None for a room without history or never published to);
    - ``recovered`` / ``missed``: what the last (re)subscription's reply said;
    - ``async for event in subscription``: ``Message``, ``PresenceEvent`` (when asked), ``Resync``.
      Iteration ends after ``unsubscribe()`` or ``client.close()``, and raises ``ClientClosed``
      after a terminal close, ``SubscriptionEnded`` when the server ended the subscription for
      good, or the ``ChannelError`` that refused its resubscription.
    """

    def __init__(
        self, client: Client, room: str, *, params: dict[str, Any] | None, presence_events: bool | str
    ) -> None:
        self.room = room
        self.params = params
        self.presence_events = presence_events
        self.recovered = True
        self.missed = 0
        self._client = client
        self._cursor = StreamCursor()
        self._events: deque[Event] = deque()
        self._wakeup: asyncio.Event = asyncio.Event()
        self._ended: BaseException | None = None
        self._live = False
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held: list[Message] | None = None
        """Live messages kept aside while the client recovers this subscription from history."""
        self._fill_top: Position | None = None

    def __repr__(self) -> str:
        return f"<Subscription {self.room!r} at {self.position}>"

    @property
    def position(self) -> Position | None:
        return self._cursor.position

    @property
    def active(self) -> bool:
        """False once the subscription ended (unsubscribed, refused on resubscribe, or the client closed)."""
        return self._ended is None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._events:
            if self._ended is not None:
                raise self._ended
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._events.popleft()

    async def publish(self, data: Any) -> Position | None:
        """Publish ``data`` (any JSON value) to the room; its position (None without history).

        ``ChannelError`` 403 where clients may not publish, 422 when the room's validation
        refused it (``details``), 413 too large; ``ConnectionLost`` if the link dropped first.
        """
        ok = await self._client._request("publish", {"room": self.room, "data": data})
        return frames.published(ok)

    async def presence(self) -> dict[str, Any]:
        """Who is in the room now: connection id -> presence info, across every server process."""
        return frames.presence(await self._client._request("presence", {"room": self.room}))

    async def history(self, *, since: Position | str | None = None, limit: int | None = None) -> History:
        """What the room retains (after ``since``; at most ``limit``); ``recovered`` False: nothing, start over."""
        fields: dict[str, Any] = {"room": self.room}
        position = as_position(since)
        if position is not None:
            fields["since"] = str(position)
        if limit is not None:
            fields["limit"] = limit
        return frames.history(self.room, await self._client._request("history", fields))

    async def unsubscribe(self) -> None:
        """Leave the room: iteration ends once the events already received are consumed."""
        if self._ended is not None:
            return
        self._end(StopAsyncIteration())
        await self._client._unsubscribe(self)

    # The client's side: what the connection delivers.

    def _offer(self, message: Message) -> None:
        if self._held is not None:
            self._held.append(message)
        elif self._ended is None and self._cursor.offer(message.position):
            self._put(message)

    def _presence(self, event: PresenceEvent) -> None:
        if self._ended is None and self.presence_events:
            self._put(event)

    def _put(self, event: Event) -> None:
        self._events.append(event)
        self._wakeup.set()

    def _end(self, error: BaseException) -> None:
        if self._ended is None:
            self._ended = error
            self._wakeup.set()
            if not self._ready.done():
                stopped = isinstance(error, StopAsyncIteration)
                self._ready.set_exception(
                    ClientClosed(status.WS_1000_NORMAL_CLOSURE, "closed by the client") if stopped else error
                )
                self._ready.exception()  # retrieved: a subscribe() that gave up must not warn


__all__ = ["Subscription"]
