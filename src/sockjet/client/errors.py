"""What the channels client raises. Every error is a ``SockjetError``::

SockjetError
└── ClientError              the channels client could not do what was asked
    ├── ConnectError         the server could not be reached or refused the handshake
    │                        (one line: the URL and why; never a chain of tracebacks)
    ├── ClientClosed         the client is closed (terminal close code, or ``close()``):
    │                        ``.code`` and ``.reason``; nothing more can be done on it
    ├── ConnectionLost       the link dropped while a publish or call was in flight: the
    │                        server may or may not have done it (the client reconnects)
    ├── CommandTimeout       (also a TimeoutError) no reply within ``command_timeout``
    ├── ProtocolViolation    the server sent a frame the protocol does not allow
    ├── ChannelError         the server answered a command with an error: ``.code``
    │                        (HTTP-like: 400, 403, 404, 409, 413, 422, 429, 500),
    │                        ``.message``, ``.details``
    └── SubscriptionEnded    the server ended one subscription for good (``unsubscribed``
                             with a 4000-4999 code, e.g. 4403 revoked): ``.code``, ``.reason``
"""

from __future__ import annotations

from typing import Any

from sockjet.exceptions import SockjetError


class ClientError(SockjetError):
    """Base of the channels client's errors."""


class ConnectError(ClientError):
    """The server could not be reached (refused, unknown host, timeout) or the URL cannot work."""


class ClientClosed(ClientError):
    """The client is closed and will not reconnect: ``code`` and ``reason`` of the close that ended it.

    Raised by every operation (and by iterating a subscription) after a terminal close code
    (authentication refused or expired, policy violation, protocol version unsupported) or after
    ``client.close()`` (code 1000).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"The client is closed ({code}{': ' + reason if reason else ''}).")


class ConnectionLost(ClientError):
    """The connection dropped while this command was in flight: it may or may not have been done.

    Only publish and call raise it (they are not safe to repeat); subscriptions, presence and
    history are redone on the next connection by themselves.
    """


class CommandTimeout(ClientError, TimeoutError):
    """No reply came within ``command_timeout`` seconds (waiting for a connection included)."""


class ProtocolViolation(ClientError):
    """The server sent something protocol v1 does not allow; the client drops the connection."""


class ChannelError(ClientError):
    """The server answered a command with ``{"error": {"code", "message"}}``.

    ``code`` is HTTP-like: 400 malformed, 403 refused, 404 no such room or method, 409 already
    subscribed, 413 too large, 422 validation failed (``details`` says why), 429 too many, 500 the
    server's handler raised.
    """

    def __init__(self, code: int, message: str, details: Any = None) -> None:
        self.code = code
        self.message = message
        self.details = details
        super().__init__(f"{code}: {message}")


class SubscriptionEnded(ClientError):
    """The server ended this subscription and the client must not resubscribe (e.g. 4403 ``revoked``)."""

    def __init__(self, room: str, code: int, reason: str) -> None:
        self.room = room
        self.code = code
        self.reason = reason
        super().__init__(f"The server ended the subscription to {room!r} ({code}{': ' + reason if reason else ''}).")


__all__ = [
    "ChannelError",
    "ClientClosed",
    "ClientError",
    "CommandTimeout",
    "ConnectError",
    "ConnectionLost",
    "ProtocolViolation",
    "SubscriptionEnded",
]
