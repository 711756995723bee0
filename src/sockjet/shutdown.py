"""Graceful shutdown: every open WebSocket is closed with 1001 (going away) within a bounded drain time.

The App tracks its routed connections (a set add and discard per connection, nothing per message)
and drains them:

* on the ASGI lifespan ``shutdown`` event, before the user's lifespan exits (any server);
* on SIGTERM/SIGINT, *before* the server starts its own shutdown. uvicorn closes WebSockets with
  1012 and only then sends the lifespan event, so at lifespan startup sockjet chains itself in
  front of the signal handler the server installed (only a Python-level one, only in the main
  thread): the first signal drains, then hands the signal on; a second signal goes straight to
  the server (force quit).

A drain closes every connection with 1001, waits for their endpoints to end, and after
``shutdown_timeout`` seconds cancels the endpoints still running. New handshakes during a drain
are refused (HTTP 503, or close 1013).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from sockjet import status
from sockjet.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from sockjet.websockets import WebSocket

logger = logging.getLogger("sockjet.shutdown")

CONNECTION_KEY = "sockjet.connection"
SHUTDOWN_REASON = "server shutting down"
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrackedConnection:
    """One open connection: how to close it (its WebSocket when sockjet built one) and its task."""

    __slots__ = ("closed", "scope", "send", "task", "websocket")

    def __init__(self, scope: Scope, send: Send) -> None:
        self.scope = scope
        self.send = send
        self.task = asyncio.current_task()
        self.websocket: WebSocket | None = None
        self.closed = False

    async def close(self, code: int, reason: str) -> None:
        """Close once, at best effort: a peer already gone or a close already sent is not an error."""
        websocket = self.websocket
        if websocket is not None:
            from sockjet.websockets import WebSocketState

            if websocket.application_state in (WebSocketState.CONNECTED, WebSocketState.CONNECTING):
                with contextlib.suppress(Exception):
                    await websocket.close(code, reason)
            return
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await self.send({"type": "websocket.close", "code": code, "reason": reason})


class SignalDrain:
    """Run ``drain()`` on the first SIGTERM/SIGINT, before the server's own handler hears the signal.

    ``install`` (at lifespan startup, in the main thread) chains a handler in front of each
    Python-level handler the server installed; the first signal starts ``drain`` and, when it
    ends, hands the signal on; a second signal, or one while ``draining()`` is already true,
    goes straight to the server (force quit). ``restore`` puts the server's handlers back.
    Used by the App's ``ConnectionRegistry`` and by ``Hub.lifespan`` (for FastAPI and Starlette apps).
    """

    def __init__(self, drain: Callable[[], Awaitable[None]], *, draining: Callable[[], bool]) -> None:
        self._drain = drain
        self._draining = draining
        self.hooked: dict[int, Any] = {}
        """Signal -> the server's handler that this one hands on to."""
        self._task: asyncio.Task[None] | None = None
        self._signalled = False

    def install(self) -> None:
        """Chain in front of the server's Python-level SIGTERM/SIGINT handlers (main thread only)."""
        if threading.current_thread() is not threading.main_thread() or self.hooked:
            return
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous) or previous is signal.default_int_handler:
                continue  # no server handler to hand the signal on to: leave the default alone
            self.hooked[sig] = previous
            signal.signal(sig, self._make_handler(loop, previous))

    def _make_handler(self, loop: asyncio.AbstractEventLoop, previous: Callable[..., Any]) -> Callable[..., None]:
        def handler(sig: int, frame: FrameType | None) -> None:
            if self._signalled or self._draining():
                previous(sig, frame)  # second signal, or already draining: the server's own behaviour
                return
            self._signalled = True
            loop.call_soon_threadsafe(self._start, sig, previous)

        return handler

    def _start(self, sig: int, previous: Callable[..., Any]) -> None:
        async def drain_then_hand_on() -> None:
            try:
                await self._drain()
            finally:
                previous(sig, None)

        self._task = asyncio.get_running_loop().create_task(drain_then_hand_on())

    def restore(self) -> None:
        for sig, previous in self.hooked.items():
            with contextlib.suppress(ValueError):  # pragma: no branch - not in the main thread
                signal.signal(sig, previous)
        self.hooked.clear()


class ConnectionRegistry:
    """The open connections of one App, and how to drain them."""

    def __init__(self, *, shutdown_timeout: float = 5.0, drain_on_signal: bool = True) -> None:
        self.shutdown_timeout = shutdown_timeout
        self.drain_on_signal = drain_on_signal
        self.open: set[TrackedConnection] = set()
        self.closing = False
        self._empty: asyncio.Event | None = None
        self._signals = SignalDrain(self.drain, draining=lambda: self.closing)

    def __len__(self) -> int:
        return len(self.open)

    def add(self, connection: TrackedConnection) -> None:
        self.open.add(connection)

    def discard(self, connection: TrackedConnection) -> None:
        self.open.discard(connection)
        if not self.open and self._empty is not None:
            self._empty.set()

    async def drain(self, code: int = status.WS_1001_GOING_AWAY, reason: str = SHUTDOWN_REASON) -> None:
        """Close every open connection and wait (at most ``shutdown_timeout``) for their endpoints to end."""
        self.closing = True
        if not self.open:
            return
        self._empty = asyncio.Event()
        connections = list(self.open)
        logger.info("Closing %d WebSocket connection(s) with %d", len(connections), code)
        empty = self._empty

        async def close_all_and_wait() -> None:
            await asyncio.gather(*(c.close(code, reason) for c in connections))
            await empty.wait()

        with contextlib.suppress(asyncio.TimeoutError):  # not TimeoutError: they differ on Python 3.10
            await asyncio.wait_for(close_all_and_wait(), self.shutdown_timeout)
        if self.open:
            stuck = [c.task for c in self.open if c.task is not None and not c.task.done()]
            logger.warning("%d WebSocket endpoint(s) still running after the drain; cancelling them", len(stuck))
            for task in stuck:
                task.cancel("sockjet: shutdown_timeout exceeded")

    # -- lifespan and signals ----------------------------------------------------------------

    def lifespan_receive(self, receive: Receive) -> Receive:
        """The lifespan ``receive`` that hooks the signals at startup and drains before shutdown."""

        async def hooked() -> Message:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                self.closing = False
                if self.drain_on_signal:
                    self.install_signal_handlers()
            elif kind == "lifespan.shutdown":
                await self.drain()
                self.restore_signal_handlers()
            return message

        return hooked

    def install_signal_handlers(self) -> None:
        """Chain a drain in front of the server's Python-level SIGTERM/SIGINT handlers (main thread only)."""
        self._signals.install()

    def restore_signal_handlers(self) -> None:
        self._signals.restore()

    @property
    def _hooked(self) -> dict[int, Any]:
        return self._signals.hooked


__all__ = ["CONNECTION_KEY", "ConnectionRegistry", "SignalDrain", "TrackedConnection"]
