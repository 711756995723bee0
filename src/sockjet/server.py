"""sockjet's protocol classes for uvicorn: uvicorn's own, with locks against hostile clients.

uvicorn answers every ping with a pong whatever its write buffer holds, and keeps a connection
whose request never completes: a client that pings and never reads grows the server without
bound, and one that sends half a handshake holds a socket forever. These subclasses close both
holes, and change nothing else:

- ``SockjetWebSocketProtocol`` (``--ws sockjet.server:SockjetWebSocketProtocol``), built on
  uvicorn's ``websockets-sansio`` protocol:

  * **Back-pressure on reading.** While the connection's write buffer is above the high-water
    mark (``write_high_water``, 64 KiB) it stops reading from the socket, and resumes below the
    low-water mark (``write_low_water``, 16 KiB): replies the peer does not read (pongs, close
    replies) cannot pile up in the server.
  * **A budget for control frames.** Pings and pongs from the peer spend a token bucket of
    ``control_frame_burst`` (50) tokens refilled at ``control_frame_rate`` (10) per second; the
    frame that finds it empty closes the connection with 1008 (policy violation).
  * **A handshake deadline.** A connection whose WebSocket handshake has not been answered (the
    101, or a denial) ``handshake_timeout`` seconds after it was accepted is closed.

- ``SockjetHTTPProtocol`` (``--http sockjet.server:SockjetHTTPProtocol``; httptools when installed,
  else h11, as uvicorn's ``auto``): the same deadline while the server waits for a request's head
  (the request line and headers) -- on a new connection and on a kept-alive one after each response
  -- which is where a half-sent handshake stalls. An upgrade hands the remaining time to
  ``SockjetWebSocketProtocol``, so the whole handshake fits in one deadline.

The deadline is ``SOCKJET_HANDSHAKE_TIMEOUT`` seconds (``sockjet run --handshake-timeout`` sets it;
``0`` turns it off), else ``handshake_timeout`` (10). Limits are class attributes: subclass to
change them. These classes reach into uvicorn's protocols, so they support only the uvicorn
versions they were tested with (``SUPPORTED_UVICORN``); importing this module under any other
exits with one line that says which to install.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
from typing import Any, ClassVar

import uvicorn

from sockjet import status

SUPPORTED_UVICORN = ((0, 52, 4), (0, 55))
"""uvicorn versions these classes are tested with: from the first, up to but excluding the second."""

HANDSHAKE_TIMEOUT_ENV = "SOCKJET_HANDSHAKE_TIMEOUT"
"""Seconds a connection has to complete its handshake (``0``: no deadline); read per connection."""


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"0.54.0"`` -> ``(0, 54, 0)``; a pre-release or local suffix is ignored (``"0.55.0rc1"`` -> ``(0, 55, 0)``)."""
    return tuple(int(re.match(r"\d*", part).group() or 0) for part in version.split(".")[:3])  # type: ignore[union-attr]


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def unsupported_uvicorn(version: str) -> str | None:
    """Why uvicorn ``version`` cannot run these classes, or None when it can."""
    low, high = SUPPORTED_UVICORN
    if low <= _version_tuple(version) < high:
        return None
    wanted = f">={_dotted(low)},<{_dotted(high)}"
    return (
        f"uvicorn {version} is not supported by sockjet's server protocol (tested with uvicorn{wanted}): "
        f'pip install "uvicorn[standard]{wanted}"'
    )


_problem = unsupported_uvicorn(uvicorn.__version__)
if _problem is not None:
    # One line and a non-zero exit, also under plain `uvicorn --ws sockjet.server:...`, which would
    # print a traceback for any exception raised while it imports the class.
    raise SystemExit(f"sockjet.server: {_problem}")

from uvicorn.protocols.http.h11_impl import H11Protocol  # noqa: E402 - only on a supported uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment, misc]

DEFAULT_HANDSHAKE_TIMEOUT = 10.0
_CONTROL = (Opcode.PING, Opcode.PONG)


@functools.lru_cache(maxsize=8)
def _parse_timeout(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{HANDSHAKE_TIMEOUT_ENV} must be 0 (off) or a positive number of seconds, got {text!r}")
    return value or None


def handshake_timeout(default: float | None = DEFAULT_HANDSHAKE_TIMEOUT) -> float | None:
    """The handshake deadline in seconds, None for none: ``SOCKJET_HANDSHAKE_TIMEOUT`` if set, else ``default``."""
    text = os.environ.get(HANDSHAKE_TIMEOUT_ENV)
    return default if text is None else _parse_timeout(text)


class ControlFrameBudget:
    """A token bucket for a peer's control frames: ``burst`` at once, ``rate`` per second after that.

    Pure: the caller passes the clock, so tests drive it without waiting.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, *, rate: float, burst: int, now: float) -> None:
        if not rate > 0 or not (isinstance(burst, int) and burst >= 1):
            raise ValueError(
                f"a control frame budget needs rate > 0 and burst >= 1, got rate={rate!r}, burst={burst!r}"
            )
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = now

    def spend(self, now: float) -> bool:
        """Take one token at time ``now``; False when there was none (the frame is over budget)."""
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class _Notices:
    """At most one log line per kind and ``interval`` seconds; the others are counted into one summary line.

    One per uvicorn server (kept on its shared ``ServerState``): a thousand slow clients make two lines, not a
    thousand.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, logger: logging.Logger, interval: float = 1.0) -> None:
        self._loop = loop
        self._logger = logger
        self._interval = interval
        self._quiet_until: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    @classmethod
    def of(cls, server_state: ServerState, loop: asyncio.AbstractEventLoop, logger: logging.Logger) -> _Notices:
        notices: _Notices | None = getattr(server_state, "_sockjet_notices", None)
        if notices is None:
            notices = cls(loop, logger)
            server_state._sockjet_notices = notices  # type: ignore[attr-defined]
        return notices

    def note(self, kind: str, line: str) -> None:
        """Log ``line`` now, or count it under ``kind`` when a line of that kind went out less than ``interval`` ago."""
        now = self._loop.time()
        if now >= self._quiet_until.get(kind, 0.0):
            self._logger.warning(line)
            self._quiet_until[kind] = now + self._interval
            return
        count = self._suppressed.get(kind, 0)
        self._suppressed[kind] = count + 1
        if count == 0:
            self._loop.call_at(self._quiet_until[kind], self._summarise, kind)

    def _summarise(self, kind: str) -> None:
        count = self._suppressed.pop(kind, 0)
        self._logger.warning("%d more: %s", count, kind)
        self._quiet_until[kind] = self._loop.time() + self._interval


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"


_HANDSHAKE_KIND = "connections closed for not completing their handshake in time"
_BUDGET_KIND = "WebSocket connections closed with 1008 for sending too many control frames"


class SockjetWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol with read back-pressure, a control-frame budget and a
    handshake deadline (see the module docstring)."""

    write_high_water: ClassVar[int] = 64 * 1024
    """Bytes in the write buffer above which the connection stops reading."""
    write_low_water: ClassVar[int] = 16 * 1024
    """Bytes in the write buffer below which it reads again."""
    control_frame_rate: ClassVar[float] = 10.0
    """Pings and pongs per second a peer may send, sustained."""
    control_frame_burst: ClassVar[int] = 50
    """Pings and pongs a peer may send at once."""
    handshake_timeout: ClassVar[float | None] = DEFAULT_HANDSHAKE_TIMEOUT
    """Seconds from the connection to the handshake's answer, unless ``SOCKJET_HANDSHAKE_TIMEOUT`` says otherwise."""
    parse_slice: ClassVar[int] = 16 * 1024
    """Bytes handed to the frame parser at a time. One read can hold 256 KiB of 6-byte pings: parsed at
    once, 40,000 frames and their pongs would exist together; in slices, the write buffer is also looked
    at between them, and what is left waits while the peer is not reading."""

    def __init__(self, config: Any, server_state: ServerState, app_state: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, server_state, app_state, **kwargs)
        self.server_state = server_state
        self.write_blocked = False
        self.budget = ControlFrameBudget(
            rate=self.control_frame_rate, burst=self.control_frame_burst, now=self.loop.time()
        )
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None
        self._unparsed = b""
        self._unparsed_at = 0

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport.set_write_buffer_limits(high=self.write_high_water, low=self.write_low_water)
        timeout = handshake_timeout(self.handshake_timeout)
        if timeout is not None:
            self._handshake_timer = self.loop.call_later(timeout, self._handshake_expired)

    def continue_handshake_deadline(self, deadline: float | None) -> None:
        """Keep the deadline the HTTP protocol started (loop time; None: none), not a fresh one."""
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        if deadline is not None and not self.handshake_complete:
            self._handshake_timer = self.loop.call_at(deadline, self._handshake_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._handshake_timer, self._abort_timer):
            if timer is not None:
                timer.cancel()
        self._handshake_timer = self._abort_timer = None
        super().connection_lost(exc)

    def start_keepalive(self) -> None:
        # uvicorn calls this right after sending the 101: the handshake is complete.
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        super().start_keepalive()

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self.handshake_complete or self.close_sent or self.initial_response is not None:
            return  # answered: accepted, refused, or a denial response on its way
        _Notices.of(self.server_state, self.loop, self.logger).note(
            _HANDSHAKE_KIND,
            f"Closed the connection from {_peer(self.client)}: the application had not answered its WebSocket "
            f"handshake within the handshake timeout",
        )
        self.transport.close()

    # -- back-pressure ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if len(data) <= self.parse_slice and not self._unparsed and not self.write_blocked:
            super().data_received(data)  # the common case: one small read, parsed as uvicorn does
            return
        self._unparsed = self._unparsed[self._unparsed_at :] + data
        self._unparsed_at = 0
        self._parse_slices()

    def _parse_slices(self) -> None:
        """Parse what was read, a slice at a time, until done or until the peer leaves our writes unread."""
        while self._unparsed_at < len(self._unparsed):
            if self.write_blocked:
                self.transport.pause_reading()  # something resumed reading behind our back: the rest waits
                return
            if self.transport.is_closing():
                break
            start = self._unparsed_at
            self._unparsed_at = start + self.parse_slice
            super().data_received(self._unparsed[start : self._unparsed_at])
        self._unparsed, self._unparsed_at = b"", 0

    def pause_writing(self) -> None:
        super().pause_writing()
        self.write_blocked = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.write_blocked = False
        # Not from inside the transport's own callback: parsing writes to it again.
        self.loop.call_soon(self._resume_after_writes)

    def _resume_after_writes(self) -> None:
        if self.write_blocked or self.transport.is_closing():
            return
        self._parse_slices()
        if not self.write_blocked and not self.read_paused and not self.transport.is_closing():
            self.transport.resume_reading()

    async def receive(self) -> Any:
        # uvicorn's own, except that an app draining its queue does not resume reading while the
        # peer leaves our writes unread.
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            if not self.write_blocked:
                self.transport.resume_reading()
        return message

    # -- control frames -----------------------------------------------------------------------

    def handle_events(self) -> None:
        # Charged before uvicorn sends the pongs the parser has already queued for this read, so that
        # the refused burst's pongs are dropped rather than sent.
        if not self.close_sent:
            now = self.loop.time()
            for event in self.conn.events:
                if isinstance(event, Frame) and event.opcode in _CONTROL and not self.budget.spend(now):
                    self._refuse_control_frames()
                    break
        super().handle_events()

    def _refuse_control_frames(self) -> None:
        reason = f"too many control frames: more than {self.budget.burst} at once or {self.budget.rate:g} per second"
        _Notices.of(self.server_state, self.loop, self.logger).note(
            _BUDGET_KIND, f"Closed the WebSocket from {_peer(self.client)} with 1008: {reason}"
        )
        self.conn.data_to_send()  # drop the pongs this burst queued: the peer is not reading them
        self.conn.fail(status.WS_1008_POLICY_VIOLATION, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True  # uvicorn's own flag: later messages of this read are discarded
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": status.WS_1008_POLICY_VIOLATION, "reason": reason}
        )
        self.transport.close()
        # close() waits for the write buffer to drain, which a peer that never reads never lets happen.
        self._abort_timer = self.loop.call_later(self.close_timeout, self.transport.abort)


class _HeadDeadline:
    """The handshake deadline on the HTTP side: armed while the server waits for a request's head."""

    __slots__ = ("_expired", "_loop", "_timer", "at")

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Any) -> None:
        self._loop = loop
        self._expired = expired
        self._timer: asyncio.TimerHandle | None = None
        self.at: float | None = None

    def start(self) -> None:
        self.cancel()
        timeout = handshake_timeout()
        if timeout is not None:
            self.at = self._loop.time() + timeout
            self._timer = self._loop.call_at(self.at, self._fire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        self._expired()


class _DeadlineMixin:
    """The part both HTTP protocols share; ``self`` is an uvicorn ``H11Protocol`` or ``HttpToolsProtocol``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_deadline = _HeadDeadline(self.loop, self._head_expired)  # type: ignore[attr-defined]
        self._head_deadline.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_deadline.cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def _hand_over_deadline(self: Any) -> None:
        self._head_deadline.cancel()
        protocol = self.transport.get_protocol()
        if isinstance(protocol, SockjetWebSocketProtocol):
            protocol.continue_handshake_deadline(self._head_deadline.at)

    def _busy(self: Any) -> bool:
        """A request is being answered, or is queued: the deadline is not about this connection now."""
        cycle = self.cycle
        return (cycle is not None and not cycle.response_complete) or bool(getattr(self, "pipeline", None))

    def _head_expired(self: Any) -> None:
        if self.transport.is_closing() or self.transport.get_protocol() is not self or self._busy():
            return
        _Notices.of(self.server_state, self.loop, self.logger).note(
            _HANDSHAKE_KIND,
            f"Closed the connection from {_peer(self.client)}: no complete request within the handshake timeout",
        )
        self.transport.close()


class SockjetH11Protocol(_DeadlineMixin, H11Protocol):
    """uvicorn's h11 protocol with the handshake deadline on the request head."""

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._head_deadline.start()  # a kept-alive connection waits for the next request's head

    def handle_websocket_upgrade(self, event: Any) -> None:
        super().handle_websocket_upgrade(event)
        self._hand_over_deadline()


if HttpToolsProtocol is not None:

    class SockjetHttpToolsProtocol(_DeadlineMixin, HttpToolsProtocol):
        """uvicorn's httptools protocol with the handshake deadline on the request head."""

        def on_headers_complete(self) -> None:
            self._head_deadline.cancel()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self._busy():
                self._head_deadline.start()

        def handle_websocket_upgrade(self) -> None:
            super().handle_websocket_upgrade()
            self._hand_over_deadline()

    SockjetHTTPProtocol: type[asyncio.Protocol] = SockjetHttpToolsProtocol
else:  # pragma: no cover - httptools comes with uvicorn[standard]
    SockjetHTTPProtocol = SockjetH11Protocol

WS_PROTOCOL = "sockjet.server:SockjetWebSocketProtocol"
"""``--ws`` for uvicorn."""
HTTP_PROTOCOL = "sockjet.server:SockjetHTTPProtocol"
"""``--http`` for uvicorn."""

__all__ = [
    "HANDSHAKE_TIMEOUT_ENV",
    "HTTP_PROTOCOL",
    "SUPPORTED_UVICORN",
    "WS_PROTOCOL",
    "ControlFrameBudget",
    "SockjetH11Protocol",
    "SockjetHTTPProtocol",
    "SockjetWebSocketProtocol",
    "handshake_timeout",
    "unsupported_uvicorn",
]
