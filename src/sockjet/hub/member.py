"""A connection as the hub sees it: one bounded outbox and one writer task per WebSocket.

Every delivery to a member goes through its outbox and is sent by its single writer, so a slow
socket only ever delays itself, and hub deliveries never interleave with each other. A member
is shared by all the rooms its WebSocket joined in one hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sockjet.hub.envelope import Envelope
from sockjet.hub.outbox import Offer, Outbox, OverflowPolicy
from sockjet.types import Message
from sockjet.websockets import WebSocket

if TYPE_CHECKING:
    from sockjet.hub.hub import Hub

logger = logging.getLogger("sockjet.hub")

OVERFLOW_CLOSE_CODE = 1013
"""Try Again Later: the member could not keep up; it may reconnect and resynchronise."""
OVERFLOW_CLOSE_REASON = "outbox full"
INTERRUPT_MESSAGE = "sockjet.hub: the member was closed but its socket takes nothing"


class Member:
    """One WebSocket in one hub. Made by ``hub.join``; not built directly.

    ``send`` queues a message for this member only, in order with the hub's deliveries;
    ``close`` closes its socket through the same writer; ``wait_closed`` waits for either.
    """

    __slots__ = (
        "_bodies",
        "_closed",
        "_closer",
        "_done",
        "_drained",
        "_interrupted",
        "_joins",
        "_loop",
        "_on_gone",
        "_outbox",
        "_waiter",
        "_writer",
        "close_code",
        "hub",
        "websocket",
    )

    def __init__(
        self,
        hub: Hub,
        websocket: WebSocket,
        *,
        outbox: Outbox[Message],
        on_gone: Callable[[Member], None],
    ) -> None:
        self.hub = hub
        self.websocket = websocket
        self.close_code: int | None = None
        """The code the hub closed this member with (1013 overflow, 1001 shutdown, or yours)."""
        self._outbox = outbox
        self._on_gone = on_gone
        self._joins: dict[str, int] = {}
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        """Set while the writer waits for work; resolved by the next offer."""
        self._drained: asyncio.Future[None] | None = None
        """Set while a close waits for the outbox to empty."""
        self._done = False
        """No more deliveries: closed, socket gone, or stopped."""
        self._bodies: dict[asyncio.Task[Any], int] = {}
        """Tasks inside a ``hub.join`` block of this member, and how many blocks each is in."""
        self._interrupted: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()
        self._closer: asyncio.Task[None] | None = None
        self._writer = self._loop.create_task(self._write(), name="sockjet-hub-writer")

    def __repr__(self) -> str:
        client = self.websocket.scope.get("client")
        return f"<Member client={client!r} rooms={sorted(self._joins)!r} queued={len(self._outbox)}>"

    # -- what users see -----------------------------------------------------------------------
    @property
    def rooms(self) -> frozenset[str]:
        """The rooms this connection is in (in this hub)."""
        return frozenset(self._joins)

    @property
    def overflow(self) -> OverflowPolicy:
        return self._outbox.overflow

    @property
    def queued(self) -> int:
        """Messages waiting in the outbox."""
        return len(self._outbox)

    @property
    def dropped(self) -> int:
        """Messages this member lost to ``"drop_oldest"``."""
        return self._outbox.dropped

    @property
    def closed(self) -> bool:
        """True once the hub stopped delivering: closed by the hub, socket gone, or every room left."""
        return self._done

    async def send(self, data: Any) -> None:
        """Queue ``data`` (str, bytes or JSON-able) for this member only, after what is already queued.

        Use it instead of ``websocket.send_*`` when a reply must stay in order with the hub's
        deliveries. Subject to the overflow policy like any delivery; a no-op once ``closed``.
        """
        envelope = Envelope.build("", data, max_payload=self.hub.max_payload)
        self.offer(envelope.message(), envelope.size)

    def close(self, code: int = 1000, reason: str = "", *, drain: float = 0.0) -> None:
        """Close this member's WebSocket with ``code`` and stop delivering to it.

        Queued messages are dropped, unless ``drain`` > 0: then the writer gets up to ``drain``
        seconds to send them first. Returns at once; ``await wait_closed()`` to wait.
        """
        if self._closer is not None:
            return
        self._done = True
        self.close_code = code
        if not drain:
            self._outbox.clear()
        self._on_gone(self)
        self._closer = self._loop.create_task(self._finish(code, reason, drain), name="sockjet-hub-close")

    async def wait_closed(self) -> None:
        """Wait until the hub is done with this member (its writer ended, its close frame sent)."""
        await self._closed.wait()

    # -- the hub's side -------------------------------------------------------------------------
    def offer(self, message: Message, size: int) -> None:
        """Queue one message (never awaits); applies the overflow policy when the outbox is full."""
        if self._done:
            return
        if self._outbox.offer(message, size) is Offer.REFUSED:
            logger.warning("Closing %r: its outbox is full (%d messages).", self, len(self._outbox))
            self.close(OVERFLOW_CLOSE_CODE, OVERFLOW_CLOSE_REASON)
            return
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _gone(self, exc: BaseException) -> None:
        # The socket is gone (WebSocketDisconnect, OSError) or was closed by the endpoint
        # (RuntimeError from the state machine): nothing more can be delivered.
        logger.debug("Member %r stopped: %r", self, exc)
        self._outbox.clear()
        if not self._done:
            self._done = True
            self._on_gone(self)
            if asyncio.current_task() is not self._writer:
                self._writer.cancel()
            self._closed.set()

    async def stop(self) -> None:
        """End the writer without a close frame (the connection left its last room)."""
        if self._closer is None:
            self._done = True
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._closed.set()
        else:
            await asyncio.shield(self._closer)

    async def _write(self) -> None:
        outbox, send, loop = self._outbox, self.websocket.send, self._loop
        try:
            while True:
                while outbox:
                    await send(outbox.pop())
                drained = self._drained
                if drained is not None and not drained.done():
                    drained.set_result(None)
                self._waiter = waiter = loop.create_future()
                await waiter
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._gone(exc)

    async def _finish(self, code: int, reason: str, drain: float) -> None:
        try:
            if drain and (self._outbox or self._waiter is None) and not self._writer.done():
                self._drained = self._loop.create_future()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._drained, drain)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._outbox.clear()
            try:
                await asyncio.wait_for(self.websocket.close(code, reason), self.hub.close_timeout)
            except asyncio.TimeoutError:
                # The socket takes nothing (a client that stopped reading): the server will never
                # tell the endpoint, so end its join blocks with WebSocketDisconnect(code) now.
                logger.info(
                    "Close of %r with %d not sent within %gs; ending its join blocks.",
                    self,
                    code,
                    self.hub.close_timeout,
                )
                self._interrupt()
            except Exception as exc:  # already closed, or gone
                logger.debug("Close of %r with %d did not complete: %r", self, code, exc)
        finally:
            self._closed.set()

    # -- join blocks ----------------------------------------------------------------------------------
    def entered(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._bodies[task] = self._bodies.get(task, 0) + 1

    def exited(self, task: asyncio.Task[Any] | None, exc: BaseException | None) -> bool:
        """Leave one block of ``task``; True if it ends because the hub interrupted it (see ``_interrupt``)."""
        if task is None:
            return False
        count = self._bodies.pop(task, 0) - 1
        if count > 0:
            self._bodies[task] = count
        if task not in self._interrupted or not isinstance(exc, asyncio.CancelledError):
            return False
        self._interrupted.discard(task)
        # Python >= 3.11 counts cancellations: ours is consumed here; one from elsewhere still stands.
        uncancel = getattr(task, "uncancel", None)
        return uncancel is None or uncancel() == 0

    def _interrupt(self) -> None:
        for task in self._bodies:
            if task not in self._interrupted and not task.done():
                self._interrupted.add(task)
                task.cancel(INTERRUPT_MESSAGE)


__all__ = ["INTERRUPT_MESSAGE", "OVERFLOW_CLOSE_CODE", "OVERFLOW_CLOSE_REASON", "Member"]
