"""The WebSocket of the seeds: a two-sided state machine over the ASGI ``receive``/``send`` callables.

``client_state`` follows what the client did (connect, disconnect); ``application_state``
follows what the application sent (accept, close, a denial response). Every transition that
the ASGI spec forbids raises ``RuntimeError`` with the message Starlette uses, so code and
tests written against Starlette see the same errors.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from sockjet import status
from sockjet._deadline import Deadline
from sockjet.exceptions import ReceiveTimeout, SockjetError
from sockjet.metrics.recorder import TAP_KEY
from sockjet.requests import HTTPConnection
from sockjet.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from sockjet.responses import Response


class WebSocketState(enum.Enum):
    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


_CONNECTING = WebSocketState.CONNECTING
_CONNECTED = WebSocketState.CONNECTED
_DISCONNECTED = WebSocketState.DISCONNECTED
_RESPONSE = WebSocketState.RESPONSE


class WebSocketDisconnect(Exception):
    """The connection is over: the client closed it (``code``, ``reason``) or it broke (1006)."""

    def __init__(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketDisconnected(RuntimeError):
    """Raised when a WebSocket that is already closed (or never accepted) is used."""


class UnexpectedMessage(SockjetError, KeyError):
    """A message of the other kind arrived: ``receive_text`` got binary data, or the reverse.

    It is a ``KeyError`` because that is what Starlette raises here; the App closes the
    connection with 1003 (unsupported data) when an endpoint lets it escape.
    """

    def __str__(self) -> str:
        return str(self.args[0])


_MODE_ERROR = 'The "mode" argument should be "text" or "binary".'
_NOT_CONNECTED = 'WebSocket is not connected. Need to call "accept" first.'


def _payload(message: Message, key: str) -> Any:
    """The ``text`` or ``bytes`` of a received message; a disconnect or data of the other kind raises."""
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", status.WS_1005_NO_STATUS_RCVD), message.get("reason"))
    data = message.get(key)
    if data is None:
        sent = "binary data" if key == "text" else "text"
        wanted = "a text" if key == "text" else "a binary"
        raise UnexpectedMessage(f"Expected {wanted} message, but the client sent {sent}.")
    return data


class WebSocket(HTTPConnection):
    """One WebSocket connection, built from the ASGI ``scope``, ``receive`` and ``send``."""

    __slots__ = ("_closed_for_endpoint", "_receive", "_send", "_stats", "_tap", "application_state", "client_state")

    # While connected, receive_text/receive_bytes and send_text/send_bytes apply receive()'s and
    # send()'s checks inline: one coroutine less per message. A subclass that overrides receive or
    # send keeps seeing every message go through its override, as in Starlette.
    _direct = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._direct = cls.receive is WebSocket.receive and cls.send is WebSocket.send

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope)
        assert scope["type"] == "websocket"
        # Metrics enabled: count each message here, on the server's own receive and send, instead
        # of through the tap's wrappers (a coroutine frame and a call less per message); disabled,
        # ``_stats`` is None: one check per message.
        self._tap: Any = None
        self._stats: Any = None
        tap = scope.get(TAP_KEY)
        if tap is not None:
            inner = tap.unwrap(receive, send)
            if inner is not None:
                receive, send = inner
                self._tap, self._stats = tap, tap.stats
        self._receive = receive
        self._send = send
        self.client_state = _CONNECTING
        self.application_state = _CONNECTING
        self._closed_for_endpoint: tuple[int, str] | None = None

    async def receive(self) -> Message:
        """Receive one ASGI message, checking it is valid for the client's state."""
        if self.client_state is _CONNECTING:
            message = await self._receive()
            message_type = message["type"]
            if message_type != "websocket.connect":
                raise RuntimeError(f'Expected ASGI message "websocket.connect", but got {message_type!r}')
            self.client_state = _CONNECTED
            return message
        elif self.client_state is _CONNECTED:
            return self._received(await self._receive())
        else:
            raise WebSocketDisconnected('Cannot call "receive" once a disconnect message has been received.')

    def _received(self, message: Message) -> Message:
        """receive()'s rules for a message that arrived while the client is connected."""
        message_type = message["type"]
        if message_type == "websocket.receive":
            stats = self._stats
            if stats is not None:  # metrics: the tap's count, without its wrapper
                stats.count_in(message)
            return message
        if self._tap is not None:
            self._tap.received(message)
        if message_type != "websocket.disconnect":
            raise RuntimeError(
                f'Expected ASGI message "websocket.receive" or "websocket.disconnect", but got {message_type!r}'
            )
        self.client_state = _DISCONNECTED
        return message

    def _peer_gone(self) -> WebSocketDisconnect:
        """What a send that failed with ``OSError`` raises: the peer is gone, no close can follow."""
        self.application_state = _DISCONNECTED
        return WebSocketDisconnect(code=status.WS_1006_ABNORMAL_CLOSURE)

    async def send(self, message: Message) -> None:
        """Send one ASGI message, checking it is valid for the application's state.

        A send that fails with ``OSError`` once connected (the peer is gone) raises
        ``WebSocketDisconnect(1006)``.
        """
        state = self.application_state
        if state is _CONNECTED:
            message_type = message["type"]
            if message_type != "websocket.send":
                if message_type != "websocket.close":
                    raise RuntimeError(
                        f'Expected ASGI message "websocket.send" or "websocket.close", but got {message_type!r}'
                    )
                self.application_state = _DISCONNECTED
                if self._tap is not None:
                    self._tap.control(message)
            elif self._stats is not None:  # metrics: the tap's count, without its wrapper
                self._stats.count_out(message)
            try:
                await self._send(message)
            except OSError:
                raise self._peer_gone() from None
        elif state is _CONNECTING:
            message_type = message["type"]
            if message_type == "websocket.accept":
                self.application_state = _CONNECTED
            elif message_type == "websocket.close":
                self.application_state = _DISCONNECTED
            elif message_type == "websocket.http.response.start":
                self.application_state = _RESPONSE
            else:
                raise RuntimeError(
                    'Expected ASGI message "websocket.accept", "websocket.close" or "websocket.http.response.start", '
                    f"but got {message_type!r}"
                )
            if self._tap is not None:
                self._tap.control(message)
            await self._send(message)
        elif state is _RESPONSE:
            message_type = message["type"]
            if message_type != "websocket.http.response.body":
                raise RuntimeError(f'Expected ASGI message "websocket.http.response.body", but got {message_type!r}')
            if not message.get("more_body", False):
                self.application_state = _DISCONNECTED
            await self._send(message)
        else:
            if self._closed_for_endpoint is not None:
                raise WebSocketDisconnect(*self._closed_for_endpoint)
            raise WebSocketDisconnected('Cannot call "send" once a close message has been sent.')

    async def _close_on_behalf(self, code: int, reason: str) -> None:
        """Close for the endpoint, from another task (the hub closing a member).

        The endpoint did not close the socket, so its calls after this one end the way a connection
        ends: its next ``receive_*`` or ``send`` raises ``WebSocketDisconnect(code, reason)``, in
        whatever order the close and that call come, where Starlette's state machine would say
        "not connected. Need to call accept first" about a socket that was accepted. A receive
        already waiting when the close is sent gets the client's reply, as before. A socket that
        is no longer connected is closed as ``close`` would (and refuses the same way).
        """
        if self.application_state is _CONNECTED:
            self._closed_for_endpoint = (code, reason)
        await self.close(code, reason)

    def _not_connected(self) -> Exception:
        """What a ``receive_*`` raises while the application side is not connected."""
        if self._closed_for_endpoint is not None:
            return WebSocketDisconnect(*self._closed_for_endpoint)
        return WebSocketDisconnected(_NOT_CONNECTED)

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Accept the handshake, first waiting for the client's ``websocket.connect`` if not yet seen."""
        if self.client_state is _CONNECTING:
            await self.receive()
        await self.send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers or [])})

    async def _receive_data(self, key: str) -> Any:
        if self.application_state is not _CONNECTED:
            raise self._not_connected()
        return _payload(await self.receive(), key)

    async def _receive_within(self, key: str, timeout: float) -> Any:
        # Cancelling the server's receive loses no message (uvicorn's and the TestClient's are queues),
        # and the state machine only changes after a message arrived: the connection stays usable.
        deadline = Deadline(timeout)
        try:
            return await self._receive_data(key)
        except asyncio.CancelledError:
            if deadline.caught():
                raise ReceiveTimeout(
                    f"No message from the client within {timeout:g} seconds; the connection is still open."
                ) from None
            raise
        finally:
            deadline.cancel()

    async def receive_text(self, *, timeout: float | None = None) -> str:
        """The next text message; raises ``WebSocketDisconnect`` when the client has gone.

        With ``timeout`` (seconds), raises ``sockjet.ReceiveTimeout`` (a ``TimeoutError``) if none came.
        """
        if timeout is not None:
            return await self._receive_within("text", timeout)  # type: ignore[no-any-return]
        # _receive_data, inlined: one coroutine less per message on the hot path.
        if self.application_state is not _CONNECTED:
            raise self._not_connected()
        if self._direct and self.client_state is _CONNECTED:
            return _payload(self._received(await self._receive()), "text")  # type: ignore[no-any-return]
        return _payload(await self.receive(), "text")  # type: ignore[no-any-return]

    async def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """The next binary message; raises ``WebSocketDisconnect`` when the client has gone (``timeout``: as above)."""
        if timeout is not None:
            return await self._receive_within("bytes", timeout)  # type: ignore[no-any-return]
        if self.application_state is not _CONNECTED:
            raise self._not_connected()
        if self._direct and self.client_state is _CONNECTED:
            return _payload(self._received(await self._receive()), "bytes")  # type: ignore[no-any-return]
        return _payload(await self.receive(), "bytes")  # type: ignore[no-any-return]

    async def receive_json(self, mode: str = "text", *, timeout: float | None = None) -> Any:
        """The next message decoded as JSON, from a text frame (``mode="text"``) or a binary one."""
        if mode not in ("text", "binary"):
            raise RuntimeError(_MODE_ERROR)
        key = "text" if mode == "text" else "bytes"
        data = await (self._receive_data(key) if timeout is None else self._receive_within(key, timeout))
        return json.loads(data if mode == "text" else data.decode("utf-8"))

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client disconnects; the disconnect ends the loop quietly."""
        try:
            while True:
                yield await self._receive_data("text")
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the client disconnects."""
        try:
            while True:
                yield await self._receive_data("bytes")
        except WebSocketDisconnect:
            pass

    async def iter_json(self) -> AsyncIterator[Any]:
        """JSON messages (text frames) until the client disconnects."""
        try:
            while True:
                yield json.loads(await self._receive_data("text"))
        except WebSocketDisconnect:
            pass

    async def send_text(self, data: str) -> None:
        if self._direct and self.application_state is _CONNECTED:
            message: Message = {"type": "websocket.send", "text": data}
            if self._stats is not None:  # metrics: the tap's count, without its wrapper
                self._stats.count_out(message)
            try:
                await self._send(message)
            except OSError:
                raise self._peer_gone() from None
        else:
            await self.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        if self._direct and self.application_state is _CONNECTED:
            message: Message = {"type": "websocket.send", "bytes": data}
            if self._stats is not None:  # metrics: the tap's count, without its wrapper
                self._stats.count_out(message)
            try:
                await self._send(message)
            except OSError:
                raise self._peer_gone() from None
        else:
            await self.send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as compact JSON (no spaces, non-ASCII kept) in a text or binary frame."""
        if mode not in ("text", "binary"):
            raise RuntimeError(_MODE_ERROR)
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self.send({"type": "websocket.send", "text": text})
        else:
            await self.send({"type": "websocket.send", "bytes": text.encode("utf-8")})

    async def close(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str | None = None) -> None:
        """Close with ``code``; before ``accept`` the server answers the handshake with HTTP 403."""
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    async def send_denial_response(self, response: Response) -> None:
        """Refuse the handshake with an HTTP response; needs the server's denial-response extension."""
        if "websocket.http.response" in self.scope.get("extensions", {}):
            await response(self.scope, self.receive, self.send)
        else:
            raise RuntimeError("The server doesn't support the Websocket Denial Response extension.")


class WebSocketClose:
    """An ASGI app that closes the WebSocket: what an unknown path gets (HTTP 403 before accept)."""

    def __init__(self, code: int = status.WS_1000_NORMAL_CLOSURE, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.close", "code": self.code, "reason": self.reason})


__all__ = [
    "UnexpectedMessage",
    "WebSocket",
    "WebSocketClose",
    "WebSocketDisconnect",
    "WebSocketDisconnected",
    "WebSocketState",
]
