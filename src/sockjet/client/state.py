"""The client's life as one state and a table of transitions: pure, no I/O, no event loop.

::

    CONNECTING --OPENED--> CONNECTED --DROPPED--> RECONNECTING --OPENED--> CONNECTED
    RECONNECTING --DROPPED--> RECONNECTING     an attempt failed: back off, try again
    any but CLOSED --FAILED--> CLOSED          a terminal close code, or the first connect failed
    any but CLOSED --CLOSE--> CLOSED           client.close() / leaving ``async with``

``CONNECTED`` means the server's ``connected`` frame arrived: commands are sent at once. In
``CONNECTING`` and ``RECONNECTING`` they wait (up to ``command_timeout``) for the next
``CONNECTED``; in ``CLOSED`` everything raises ``ClientClosed``.
"""

from __future__ import annotations

import enum


class ClientState(enum.Enum):
    CONNECTING = "connecting"
    """The first connection is being opened (inside ``async with Client(...)``)."""
    CONNECTED = "connected"
    """The server's ``connected`` frame arrived; subscriptions are (re)made on this connection."""
    RECONNECTING = "reconnecting"
    """The link dropped: waiting out the backoff or opening the next connection."""
    CLOSED = "closed"
    """Done for good: a terminal close, a failed first connect, or ``close()``."""


class ClientEvent(enum.Enum):
    OPENED = "opened"
    """A connection's ``connected`` frame arrived."""
    DROPPED = "dropped"
    """The connection (or an attempt at one) ended with a code after which a client reconnects."""
    FAILED = "failed"
    """A close after which the client must not reconnect, or the very first connect failed."""
    CLOSE = "close"
    """The application closed the client."""


S, E = ClientState, ClientEvent
_TRANSITIONS: dict[tuple[ClientState, ClientEvent], ClientState] = {
    (S.CONNECTING, E.OPENED): S.CONNECTED,
    (S.CONNECTED, E.DROPPED): S.RECONNECTING,
    (S.RECONNECTING, E.DROPPED): S.RECONNECTING,
    (S.RECONNECTING, E.OPENED): S.CONNECTED,
    (S.CONNECTING, E.FAILED): S.CLOSED,
    (S.CONNECTED, E.FAILED): S.CLOSED,
    (S.RECONNECTING, E.FAILED): S.CLOSED,
    (S.CONNECTING, E.CLOSE): S.CLOSED,
    (S.CONNECTED, E.CLOSE): S.CLOSED,
    (S.RECONNECTING, E.CLOSE): S.CLOSED,
}
del S, E


def next_state(state: ClientState, event: ClientEvent) -> ClientState:
    """The state after ``event``; ``RuntimeError`` for an event that cannot happen in ``state`` (a client bug)."""
    try:
        return _TRANSITIONS[state, event]
    except KeyError:
        raise RuntimeError(f"A sockjet client cannot take {event.name} in state {state.name}.") from None


__all__ = ["ClientEvent", "ClientState", "next_state"]
