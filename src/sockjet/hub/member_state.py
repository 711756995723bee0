"""A hub member's life as one state and a table of transitions: pure, no I/O, no event loop.

::

    IDLE --SEND_SUSPENDED--> BUSY --OUTBOX_EMPTIED--> IDLE
    IDLE, BUSY --DRAIN--> DRAINING            close(drain=...) with something left to send
    IDLE, BUSY, DRAINING --CLOSE--> CLOSING   close(), overflow, or the drain ended
    IDLE, BUSY --STOP--> CLOSING              its last room left: end the writer, no close frame
    CLOSING --DONE--> CLOSED
    IDLE, BUSY, DRAINING --GONE--> CLOSED     the socket is gone (a send failed)

Only ``IDLE`` and ``BUSY`` take deliveries: ``IDLE`` sends at once from the delivering task,
``BUSY`` queues them for the member's writer task, which owns the socket until its outbox is empty.
"""

from __future__ import annotations

import enum


class MemberState(enum.Enum):
    IDLE = "idle"
    """Nothing in flight: the next delivery is sent at once, by the task that delivers it."""
    BUSY = "busy"
    """A send is in flight or messages are queued: deliveries are queued, the writer sends them in order."""
    DRAINING = "draining"
    """Closing once what is queued is sent (``close(drain=...)``); takes no new message."""
    CLOSING = "closing"
    """The writer is ending and the close frame, if any, is being sent; takes no new message."""
    CLOSED = "closed"
    """Done: nothing more is sent."""


class MemberEvent(enum.Enum):
    SEND_SUSPENDED = "send_suspended"
    """A send started in ``IDLE`` suspended (the socket's buffer is full): a writer task finishes it."""
    OUTBOX_EMPTIED = "outbox_emptied"
    """The writer finished the send in flight and everything queued."""
    DRAIN = "drain"
    CLOSE = "close"
    STOP = "stop"
    DONE = "done"
    GONE = "gone"


S, E = MemberState, MemberEvent
_TRANSITIONS: dict[tuple[MemberState, MemberEvent], MemberState] = {
    (S.IDLE, E.SEND_SUSPENDED): S.BUSY,
    (S.BUSY, E.OUTBOX_EMPTIED): S.IDLE,
    (S.IDLE, E.DRAIN): S.DRAINING,
    (S.BUSY, E.DRAIN): S.DRAINING,
    (S.IDLE, E.CLOSE): S.CLOSING,
    (S.BUSY, E.CLOSE): S.CLOSING,
    (S.DRAINING, E.CLOSE): S.CLOSING,
    (S.IDLE, E.STOP): S.CLOSING,
    (S.BUSY, E.STOP): S.CLOSING,
    (S.CLOSING, E.DONE): S.CLOSED,
    (S.IDLE, E.GONE): S.CLOSED,
    (S.BUSY, E.GONE): S.CLOSED,
    (S.DRAINING, E.GONE): S.CLOSED,
}
del S, E

OPEN = frozenset({MemberState.IDLE, MemberState.BUSY})
"""The states that take deliveries."""


def next_state(state: MemberState, event: MemberEvent) -> MemberState:
    """The state after ``event``; ``RuntimeError`` for an event that cannot happen in ``state`` (a hub bug)."""
    try:
        return _TRANSITIONS[state, event]
    except KeyError:
        raise RuntimeError(f"A hub member cannot take {event.name} in state {state.name}.") from None


__all__ = ["OPEN", "MemberEvent", "MemberState", "next_state"]
