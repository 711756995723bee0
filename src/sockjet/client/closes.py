"""What a close code, or an ``unsubscribed`` code, tells the client to do: pure, docs/protocol.md's tables.

Reconnect: 1001, 1005, 1006, 1011-1014, 3000-3999, 4500-4999 and any code not listed below.
Stop (``ClientClosed``): 1000, 1002, 1003, 1007, 1008, 1009, 4000-4499 — except 4001 (token
expired), after which a client with a token provider asks it for a new token and reconnects
(at once the first time in a row, then with backoff), and one without stops.
"""

from __future__ import annotations

import enum

from sockjet import status


class CloseAction(enum.Enum):
    RECONNECT = "reconnect"
    """Back off, reconnect, resubscribe every room from its last position."""
    REFRESH = "refresh"
    """Get a new token from the provider, then reconnect."""
    STOP = "stop"
    """Do not reconnect: the client is closed (``ClientClosed`` with this code)."""


_STOP = frozenset(
    {
        status.WS_1000_NORMAL_CLOSURE,
        status.WS_1002_PROTOCOL_ERROR,
        status.WS_1003_UNSUPPORTED_DATA,
        status.WS_1007_INVALID_FRAME_PAYLOAD_DATA,
        status.WS_1008_POLICY_VIOLATION,
        status.WS_1009_MESSAGE_TOO_BIG,
    }
)


def after_close(code: int, *, can_refresh: bool) -> CloseAction:
    """What to do after the connection closed with ``code``; ``can_refresh``: a token provider is set."""
    if code == status.WS_4001_TOKEN_EXPIRED:
        return CloseAction.REFRESH if can_refresh else CloseAction.STOP
    if code in _STOP or 4000 <= code <= 4499:
        return CloseAction.STOP
    return CloseAction.RECONNECT


def resubscribes(code: int) -> bool:
    """After an ``unsubscribed`` push with ``code``: resubscribe (3000-3999, e.g. 3410 history lost) or not."""
    return 3000 <= code <= 3999


__all__ = [
    "CloseAction",
    "after_close",
    "resubscribes",
]
