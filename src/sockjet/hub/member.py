"""A connection as the hub sees it: one bounded outbox, and a writer task only while a send is pending.

A delivery to an idle member is sent at once by the delivering task (a publish, or the
backend's reader): on a writable socket the send completes without suspending, so the common case costs
no task switch and nothing allocated beyond the send itself. When that send suspends (the
socket's buffer is full), the same unfinished send is handed to a writer task (``handoff``), the
member becomes ``BUSY``, and every later delivery waits in the bounded outbox until the writer
has sent it and everything before it. So a member never holds more than its outbox bounds plus
the one send in flight, and its deliveries are sent one at a time, in order. The life of a
member is one ``MemberState`` (see ``member_state``); its transitions happen only in ``Member._event``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from sockjet import status
from sockjet.hub.channel import ChannelLink
from sockjet.hub.envelope import Envelope
from sockjet.hub.handoff import Unfinished
from sockjet.hub.hub_websocket import HubWebSocket
from sockjet.hub.loggable import loggable
from sockjet.hub.member_state import OPEN, MemberEvent, MemberState, next_state
from sockjet.hub.membership import Membership
from sockjet.hub.outbox import Offer, Outbox, OverflowPolicy
from sockjet.hub.position import Position
from sockjet.metrics import recorder as _metrics
from sockjet.types import Message

logger = logging.getLogger("sockjet.hub")

OVERFLOW_CLOSE_CODE = status.WS_1013_TRY_AGAIN_LATER
"""Try Again Later: the member could not keep up; it may reconnect and resynchronise."""
OVERFLOW_CLOSE_REASON = "outbox full"
INTERRUPT_MESSAGE = "sockjet.hub: the member was closed but its socket takes nothing"

_IDLE, _BUSY, _DRAINING, _CLOSING, _CLOSED = (
    MemberState.IDLE,
    MemberState.BUSY,
    MemberState.DRAINING,
    MemberState.CLOSING,
    MemberState.CLOSED,
)


class Member:
    """One WebSocket in one hub. Made by ``hub.join``; not built directly.

    ``send`` delivers a message to this member only, in order with the hub's deliveries;
    ``close`` closes its socket after (or instead of) what is queued; ``wait_closed`` waits for it.
    Building a member starts no task.
    """

    __slots__ = (
        "_bodies",
        "_close_timeout",
        "_closed_waiter",
        "_closer",
        "_interrupted",
        "_max_payload",
        "_membership",
        "_on_gone",
        "_outbox",
        "_peer_gone",
        "_state",
        "_writer",
        "channel",
        "close_code",
        "connection_id",
        "loop",
        "position",
        "recovered",
        "websocket",
    )

    def __init__(
        self,
        websocket: HubWebSocket,
        *,
        outbox: Outbox[Message],
        membership: Membership[Member],
        max_payload: int,
        close_timeout: float,
        on_gone: Callable[[Member], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.websocket = websocket
        self.loop = loop
        """The event loop serving this member's socket; deliveries from other loops are handed to it."""
        self._state = MemberState.IDLE
        self.close_code: int | None = None
        """The code the hub closed this member with (1013 overflow, 1001 shutdown, or yours)."""
        self.recovered = True
        """Whether the last ``hub.join(..., since=...)`` gave back every message after ``since``
        (True after a join without ``since``: nothing was asked, nothing is missing)."""
        self.position: Position | None = None
        """The room's latest ``Position`` when the last ``hub.join`` went live (``None`` without history):
        every later publication reaches this member, so a client that resumes from it misses nothing."""
        self.connection_id = secrets.token_hex(8)
        """This connection's id in ``hub.presence(room)`` and presence events, the same in every room."""
        self._outbox = outbox
        self._membership = membership
        self._max_payload = max_payload
        self._close_timeout = close_timeout
        self._on_gone = on_gone
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._closed_waiter: asyncio.Future[None] | None = None
        self._bodies: dict[asyncio.Task[Any], int] = {}
        """Tasks inside a ``hub.join`` block of this member, and how many blocks each is in."""
        self._interrupted: set[asyncio.Task[Any]] | None = None
        self._peer_gone = False
        self.channel: ChannelLink | None = None
        """Set by ``hub.attach_channel``: a channels connection, which frames its rooms' messages itself."""

    def __repr__(self) -> str:
        client = self.websocket.scope.get("client")
        return f"<Member client={client!r} rooms={sorted(self.rooms)!r} queued={len(self._outbox)}>"

    # -- what users see -----------------------------------------------------------------------
    @property
    def state(self) -> MemberState:
        """Where this member is in its life (see ``MemberState``); it changes only inside the hub."""
        return self._state

    @property
    def rooms(self) -> frozenset[str]:
        """The rooms this connection is in (in this hub)."""
        return self._membership.rooms_of(self)

    @property
    def overflow(self) -> OverflowPolicy:
        return self._outbox.overflow

    @property
    def max_queue(self) -> int:
        return self._outbox.max_messages

    @property
    def max_queue_bytes(self) -> int:
        return self._outbox.max_bytes

    @property
    def queued(self) -> int:
        """Messages waiting in the outbox (not counting the one send in flight)."""
        return len(self._outbox)

    @property
    def queued_bytes(self) -> int:
        return self._outbox.queued_bytes

    @property
    def dropped(self) -> int:
        """Messages this member lost to ``"drop_oldest"``."""
        return self._outbox.dropped

    @property
    def closed(self) -> bool:
        """True once the hub stopped delivering: closing or closed by the hub, socket gone, or every room left."""
        return self._state not in OPEN

    async def send(self, data: Any) -> None:
        """Deliver ``data`` (str, bytes or JSON-able) to this member only, after what is already queued.

        Use it instead of ``websocket.send_*`` when a reply must stay in order with the hub's
        deliveries. Subject to the overflow policy like any delivery; a no-op once ``closed``.
        """
        envelope = Envelope.build("", data, max_payload=self._max_payload)
        self.deliver(envelope.message(), envelope.size)

    def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str = "", *, drain: float = 0.0) -> None:
        """Close this member's WebSocket with ``code`` and stop delivering to it.

        Queued messages are dropped, unless ``drain`` > 0: then the writer gets up to ``drain``
        seconds to send them first. Returns at once; ``await wait_closed()`` to wait.
        """
        state = self._state
        if state not in OPEN:
            return
        self.close_code = code
        if drain > 0 and state is _BUSY:
            self._event(MemberEvent.DRAIN)
        else:
            self._event(MemberEvent.CLOSE)
            self._outbox.clear()
            if self._writer is not None:
                self._writer.cancel()
        self._on_gone(self)
        self._closer = self.loop.create_task(self._finish(code, reason, drain), name="sockjet-hub-close")

    async def wait_closed(self) -> None:
        """Wait until the hub is done with this member (its writer ended, its close frame sent or given up)."""
        if self._state is _CLOSED:
            return
        if self._closed_waiter is None:
            self._closed_waiter = self.loop.create_future()
        await asyncio.shield(self._closed_waiter)

    # -- sending without awaiting (the hub's fan-out, and channels' own frames) -------------------
    def deliver(self, message: Message, size: int) -> None:
        """Send ``message`` (an ASGI ``websocket.send`` of ``size`` bytes) now if the member is idle,
        else queue it behind what is queued; never awaits. In order with the room's messages.

        ``IDLE``: the send starts in the caller's task; if it suspends (the socket's buffer is
        full), the member's writer task finishes it and the member is ``BUSY`` until the writer
        has also sent everything queued meanwhile. ``BUSY``: queued, under the overflow policy.
        Closing or closed: nothing happens. ``fan_out`` does the same for many members at once.
        """
        state = self._state
        if state is _IDLE:
            send = self.websocket.send(message)
            try:
                pending = send.send(None)
            except StopIteration:
                return
            except Exception as exc:
                self._gone(exc)
                return
            self._hand_to_writer(Unfinished(send, pending))
        elif state is _BUSY:
            self._queue(message, size)

    def _queue(self, message: Message, size: int) -> None:
        _metrics.current.enqueued(offer := self._outbox.offer(message, size), len(self._outbox))
        if offer is Offer.REFUSED:
            logger.warning("Closing %s: its outbox is full (%d messages).", loggable(self), len(self._outbox))
            _metrics.current.overflow_closed()
            self.close(OVERFLOW_CLOSE_CODE, OVERFLOW_CLOSE_REASON)

    def _hand_to_writer(self, unfinished: Unfinished) -> None:
        self._event(MemberEvent.SEND_SUSPENDED)
        self._writer = self.loop.create_task(self._write(unfinished), name="sockjet-hub-writer")

    async def _stop(self) -> None:
        """End the writer without a close frame (the connection left its last room); queued messages are dropped."""
        if self._state in OPEN:
            self._event(MemberEvent.STOP)
            self._outbox.clear()
            await self._end_writer()
            self._event(MemberEvent.DONE)
        elif self._closer is not None:
            await asyncio.shield(self._closer)

    # -- internals ------------------------------------------------------------------------------------
    def _event(self, event: MemberEvent) -> None:
        """The only place the state changes."""
        self._state = state = next_state(self._state, event)
        if state is _CLOSED:
            waiter = self._closed_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def _write(self, unfinished: Unfinished) -> None:
        outbox, send = self._outbox, self.websocket.send
        try:
            await unfinished
            while outbox:
                await send(outbox.pop())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._gone(exc)
            return
        self._writer = None
        if self._state is _BUSY:
            self._event(MemberEvent.OUTBOX_EMPTIED)
        # DRAINING: the closer is waiting for this task to end.

    def _gone(self, exc: BaseException) -> None:
        # The socket is gone (WebSocketDisconnect, OSError) or was closed by the endpoint
        # (RuntimeError from the state machine): nothing more can be delivered. Called by the
        # task whose send failed: the delivering task (no writer then) or the writer itself.
        logger.debug("Member %s stopped: %s", loggable(self), loggable(exc))
        if not isinstance(exc, RuntimeError):
            self._peer_gone = True
        self._outbox.clear()
        if self._state in (_CLOSING, _CLOSED):
            return  # the closer finishes
        self._event(MemberEvent.GONE)
        self._on_gone(self)

    async def _end_writer(self) -> None:
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            await asyncio.wait((writer,))  # not `await writer`: our own cancellation must not be swallowed

    async def _finish(self, code: int, reason: str, drain: float) -> None:
        try:
            if self._state is _DRAINING:
                writer = self._writer
                if writer is not None:
                    await asyncio.wait((writer,), timeout=drain)
                if self._state is _CLOSED:
                    return  # the socket went away while draining
                self._event(MemberEvent.CLOSE)
            await self._end_writer()
            self._outbox.clear()
            # sockjet's WebSocket closes on the endpoint's behalf: the endpoint's next receive then
            # raises WebSocketDisconnect(code), whenever it comes (see WebSocket._close_on_behalf).
            close = getattr(self.websocket, "_close_on_behalf", self.websocket.close)
            try:
                await asyncio.wait_for(close(code, reason), self._close_timeout)
            except asyncio.TimeoutError:
                # The socket takes nothing (a client that stopped reading): the server will never
                # tell the endpoint, so end its join blocks with WebSocketDisconnect(code) now.
                logger.info(
                    "Close of %s with %d not sent within %gs; ending its join blocks.",
                    loggable(self),
                    code,
                    self._close_timeout,
                )
                self._interrupt()
            except Exception as exc:  # already closed, or gone
                logger.debug("Close of %s with %d did not complete: %s", loggable(self), code, loggable(exc))
        finally:
            if self._state is _CLOSING:
                self._event(MemberEvent.DONE)

    # -- join blocks ----------------------------------------------------------------------------------
    def _entered(self, task: asyncio.Task[Any] | None) -> None:
        """``task`` entered a ``hub.join`` block of this member."""
        if task is not None:
            self._bodies[task] = self._bodies.get(task, 0) + 1

    def _exited(self, task: asyncio.Task[Any] | None, exc: BaseException | None) -> bool:
        """Leave one block of ``task``; True if it ends because the hub closed the member.

        That is: the hub interrupted the task (see ``_interrupt``), or the endpoint's socket
        refused a call because of the hub's close -- a Starlette/FastAPI WebSocket, whose state
        machine then says "not connected" (sockjet's raises ``WebSocketDisconnect`` itself).
        """
        if task is None:
            return False
        count = self._bodies.pop(task, 0) - 1
        if count > 0:
            self._bodies[task] = count
        interrupted = self._interrupted
        if interrupted is None or task not in interrupted or not isinstance(exc, asyncio.CancelledError):
            return self.close_code is not None and _refused_after_close(exc)
        interrupted.discard(task)
        # Python >= 3.11 counts cancellations: ours is consumed here; one from elsewhere still stands.
        uncancel = getattr(task, "uncancel", None)
        return uncancel is None or uncancel() == 0

    @property
    def peer_gone(self) -> bool:
        """True once a delivery found the peer gone (the send raised ``WebSocketDisconnect`` or ``OSError``).

        The socket's state machine then refuses the endpoint's next ``receive`` with a ``RuntimeError``
        (Starlette's "WebSocket is not connected"); the join block turns that into the disconnect it is.
        """
        return self._peer_gone

    @property
    def interrupted(self) -> bool:
        """True while a join block's task was interrupted by the hub and has not exited yet."""
        return bool(self._interrupted)

    def _interrupt(self) -> None:
        interrupted = self._interrupted
        if interrupted is None:
            interrupted = self._interrupted = set()
        for task in self._bodies:
            if task not in interrupted and not task.done():
                interrupted.add(task)
                task.cancel(INTERRUPT_MESSAGE)


def _refused_after_close(exc: BaseException | None) -> bool:
    """``exc`` is a WebSocket state machine's refusal of a closed socket (Starlette's or sockjet's class)."""
    return isinstance(exc, RuntimeError) and type(exc).__name__ == "WebSocketDisconnected"


class _Pass:
    """Where one pass of ``_fan`` is: the member whose send it is in, and whether that send was handed on."""

    __slots__ = ("handed_on", "index")

    def __init__(self) -> None:
        self.index = 0
        self.handed_on = False


async def _fan(members: tuple[Member, ...], start: int, message: Message, size: int, run: _Pass) -> None:
    # Awaiting each send (rather than stepping each coroutine by hand) keeps the per-member cost
    # at that of a plain ``for ws in room: await ws.send(...)`` loop: no StopIteration per member.
    for index in range(start, len(members)):
        member = members[index]
        state = member._state
        if state is _IDLE:
            run.index = index
            try:
                await member.websocket.send(message)
            except Exception as exc:
                member._gone(exc)
            if run.handed_on:
                return  # this pass was finished by that member's writer; another pass did the rest
        elif state is _BUSY:
            member._queue(message, size)


def fan_out(members: tuple[Member, ...], message: Message, size: int) -> None:
    """``member.deliver(message, size)`` for each member (all served by the running loop), in order; never awaits.

    The sends run in one coroutine stepped here. When one suspends, that coroutine -- stopped in
    that member's send -- is handed to the member's writer, and a new pass continues with the
    next member; so one full socket delays nobody else, and costs one writer task.
    """
    start = 0
    while start < len(members):
        run = _Pass()
        fan = _fan(members, start, message, size, run)
        try:
            pending = fan.send(None)
        except StopIteration:
            return
        run.handed_on = True
        members[run.index]._hand_to_writer(Unfinished(fan, pending))
        start = run.index + 1


__all__ = ["INTERRUPT_MESSAGE", "OVERFLOW_CLOSE_CODE", "OVERFLOW_CLOSE_REASON", "Member", "MemberState", "fan_out"]
