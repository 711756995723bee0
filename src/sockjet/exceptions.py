"""Exceptions a user raises (HTTPException, WebSocketException) and the ones sockjet raises.

sockjet's own errors form one tree::

    SockjetError
    ├── HubError                 the Hub could not do what was asked
    │   ├── PublishError         a publish the hub knows was not stored (it never left, or the broker refused it)
    │   │   └── PublishOutcomeUnknown   sent, but no answer came: it may have been delivered
    │   ├── PayloadTooLarge      a publish over the hub's max_payload
    │   └── PresenceInfoTooLarge (also a ValueError) presence info over the hub's max_presence_info
    ├── ConfigurationError       (also a ValueError) an option that cannot work
    │   └── ParameterError       (also a TypeError) an endpoint parameter sockjet cannot fill,
    │                            raised when the route is defined
    ├── RequestValidationError   a connection's parameters are missing or invalid (HTTP: 422)
    │   └── WebSocketRequestValidationError   the same on a WebSocket (close 1008)
    └── ReceiveTimeout           (also a TimeoutError) ``receive_*(timeout=...)`` got no message

``HTTPException`` and ``WebSocketException`` keep Starlette's signatures so that code
that raises them ports unchanged.
"""

from __future__ import annotations

import http
from collections.abc import Mapping, Sequence
from typing import Any


class HTTPException(Exception):
    """Raise to answer with an HTTP error; before ``accept`` a WebSocket answers with a denial response."""

    def __init__(self, status_code: int, detail: str | None = None, headers: Mapping[str, str] | None = None):
        if detail is None:
            detail = http.HTTPStatus(status_code).phrase
        self.status_code = status_code
        self.detail = detail
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class WebSocketException(Exception):
    """Raise in a WebSocket endpoint to close the connection with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class SockjetError(Exception):
    """Base of every error sockjet itself raises (not those re-exported for Starlette compatibility)."""


class ConfigurationError(SockjetError, ValueError):
    """An option that cannot work, found when the object is built rather than at the first message."""


class ParameterError(ConfigurationError, TypeError):
    """An endpoint or dependency parameter sockjet cannot fill (unknown marker, unsupported annotation).

    Raised when the route is defined, naming the endpoint and the parameter: a parameter sockjet
    does not understand is never guessed to be a query parameter.
    """


class RequestValidationError(SockjetError):
    """A connection's parameters are missing or do not convert; ``errors()`` lists them as FastAPI does
    (``type``, ``loc``, ``msg``, ``input``); ``reason`` names the first problem in a line short enough
    for a close frame, ``str(error)`` names them all."""

    def __init__(self, errors: Sequence[dict[str, Any]], reason: str = "", *, summary: str | None = None) -> None:
        super().__init__(summary or reason)
        self._errors = list(errors)
        self.reason = reason

    def errors(self) -> list[dict[str, Any]]:
        return list(self._errors)


class WebSocketRequestValidationError(RequestValidationError):
    """``RequestValidationError`` on a WebSocket: by default the connection is closed with 1008."""


class ReceiveTimeout(SockjetError, TimeoutError):
    """``receive_text/bytes/json(timeout=...)`` waited that long and no message came; the connection stays open."""


class HubError(SockjetError):
    """The Hub could not do what was asked."""


class PublishError(HubError):
    """A publish the hub knows was not stored or delivered: it never left this process, or the broker
    refused it. Retrying cannot make a duplicate."""


class PublishOutcomeUnknown(PublishError):
    """A publish was sent to the broker and no answer came in time: it may have been stored and
    delivered, or not. Retry with the same ``idempotency_key`` to publish it at most once."""


class PayloadTooLarge(HubError):
    """A publish whose encoded payload is over the hub's ``max_payload``; nothing was sent."""


class PresenceInfoTooLarge(HubError, ValueError):
    """A join's ``presence`` info whose JSON is over the hub's ``max_presence_info``; the join did not happen."""


__all__ = [
    "ConfigurationError",
    "HTTPException",
    "HubError",
    "ParameterError",
    "PayloadTooLarge",
    "PresenceInfoTooLarge",
    "PublishError",
    "PublishOutcomeUnknown",
    "ReceiveTimeout",
    "RequestValidationError",
    "SockjetError",
    "WebSocketException",
    "WebSocketRequestValidationError",
]
