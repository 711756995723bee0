"""A connection as the hub sees it: one bounded outbox and one writer task per WebSocket.

Deliveries to a member are sent one at a time, in order, so a slow socket only ever delays
itself and hub deliveries never interleave with each other. A member is shared by all the
rooms its WebSocket joined in one hub.

Fast path: when the writer is idle and nothing is queued, ``offer`` starts the ``send`` at
once, in the caller. Most sends complete without suspending (uvicorn's, while the socket is
writable), so a healthy member costs about what one ``await websocket.send_text`` costs. A
send that does suspend is handed, still in progress, to the member's writer task, which
finishes it before anything else; the caller never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
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


class Member:
    """One WebSocket in one hub. Made by ``hub.join``; not built directly.

    ``send`` queues a message for this member only, in order with the hub's deliveries;
    ``close`` closes its socket through the same writer; ``wait_closed`` waits for either.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_closer",
        "_done",
        "_drained",
        "_in_flight",
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
        self._in_flight: tuple[Coroutine[Any, Any, None], Any] | None = None
        """A send started by ``offer`` that suspended, and what it yielded: the writer finishes it."""
        self._done = False
        """No more deliveries: closed, socket gone, or stopped."""
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
        """Deliver one message without awaiting: send it now if the writer is idle, else queue it.

        Applies the overflow policy when the outbox is full.
        """
        if self._done:
            return
        waiter = self._waiter
        if waiter is not None:
            # The writer waits only once its outbox is empty: nothing can be ahead of this message.
            self._send_now(message, waiter)
            return
        if self._outbox.offer(message, size) is Offer.REFUSED:
            logger.warning("Closing %r: its outbox is full (%d messages).", self, len(self._outbox))
            self.close(OVERFLOW_CLOSE_CODE, OVERFLOW_CLOSE_REASON)

    def _wake(self, waiter: asyncio.Future[None]) -> None:
        self._waiter = None
        if not waiter.done():
            waiter.set_result(None)

    def _send_now(self, message: Message, waiter: asyncio.Future[None]) -> None:
        """Run ``websocket.send(message)`` up to its first suspension; the writer finishes the rest."""
        coro = self.websocket.send(message)
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:
            self._gone(exc)
            return
        self._in_flight = (coro, yielded)
        self._wake(waiter)

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
                if self._in_flight is not None:
                    await self._finish_in_flight()
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
        finally:
            if self._in_flight is not None:  # cancelled in the middle of a started send
                with contextlib.suppress(RuntimeError):
                    self._in_flight[0].close()
                self._in_flight = None

    async def _finish_in_flight(self) -> None:
        """Drive the send that ``offer`` started until it completes, as a Task would have."""
        assert self._in_flight is not None
        coro, yielded = self._in_flight
        while True:
            if yielded is None:  # a bare yield: give the loop one turn
                await asyncio.sleep(0)
            else:  # a future: wait for it without consuming its outcome, the send reads it
                await asyncio.wait((yielded,))
            try:
                yielded = coro.send(None)
            except StopIteration:
                self._in_flight = None
                return
            except BaseException:
                self._in_flight = None
                raise
            self._in_flight = (coro, yielded)

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
            except Exception as exc:  # already closed, gone, or not answering within close_timeout
                logger.debug("Close of %r with %d did not complete: %r", self, code, exc)
        finally:
            self._closed.set()


__all__ = ["OVERFLOW_CLOSE_CODE", "OVERFLOW_CLOSE_REASON", "Member"]
