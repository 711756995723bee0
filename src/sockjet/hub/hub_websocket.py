"""What the hub needs of a WebSocket, as a ``Protocol``: sockjet's, Starlette's and FastAPI's all fit.

The hub only sends ASGI messages, closes, and reads the state and scope; it never receives.
Typing ``hub.join`` against this instead of ``sockjet.websockets.WebSocket`` lets a FastAPI
endpoint's ``websocket: WebSocket`` join a room and type-check under ``mypy --strict``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol

from sockjet.types import Message


class HubWebSocket(Protocol):
    """An accepted WebSocket as the hub uses it (read-only members, so subclasses' own types fit)."""

    @property
    def scope(self) -> Mapping[str, Any]:
        """The ASGI scope (the hub reads ``client`` for log lines)."""

    @property
    def application_state(self) -> enum.Enum:
        """The state enum; the hub compares its ``name`` with ``"CONNECTED"``."""

    async def send(self, message: Message) -> None:
        """Send one ASGI ``websocket.send`` message."""

    async def close(self, code: int = ..., reason: str | None = ...) -> None:
        """Send the close frame."""


__all__ = ["HubWebSocket"]
