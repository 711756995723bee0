"""Per-connection limits on what a client may send: message size, message rate, idle time.

They are enforced by a ``Limiter`` whose ``receive`` stands in for the server's: it exists only on
routes that enable one of them, so a route without limits pays nothing per message. When a limit
is hit the limiter closes the connection itself (the client sees the close code and reason) and
hands the endpoint a ``websocket.disconnect`` with the same code, so the endpoint's next
``receive_*`` raises ``WebSocketDisconnect(code)``:

=================  ====  =========================================================
limit              code  when
=================  ====  =========================================================
max_message_size   1009  a text (UTF-8 bytes) or binary message is over the size
rate_limit         1008  more messages than the bucket allows (policy ``"close"``);
                         with policy ``"drop"`` the message is discarded instead
idle_timeout       1001  the endpoint waited that long for a message and none came
=================  ====  =========================================================
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sockjet import status
from sockjet._deadline import uncancelled
from sockjet.exceptions import ConfigurationError
from sockjet.metrics import recorder as _metrics
from sockjet.types import Message, Receive

if TYPE_CHECKING:
    from sockjet.shutdown import TrackedConnection


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """At most ``messages`` per ``per`` seconds, as a token bucket (bursts up to ``messages``).

    ``policy="close"`` closes the connection with 1008 (policy violation) on the first message over
    the limit; ``policy="drop"`` discards such messages silently and keeps the connection open.
    """

    messages: int
    per: float = 1.0
    policy: Literal["close", "drop"] = "close"

    def __post_init__(self) -> None:
        if not isinstance(self.messages, int) or self.messages < 1:
            raise ConfigurationError(f"RateLimit(messages=...) must be a positive integer, not {self.messages!r}")
        if not self.per > 0:
            raise ConfigurationError(f"RateLimit(per=...) must be a positive number of seconds, not {self.per!r}")
        if self.policy not in ("close", "drop"):
            raise ConfigurationError(f'RateLimit(policy=...) must be "close" or "drop", not {self.policy!r}')


def message_size(message: Message) -> int:
    """Bytes of a ``websocket.receive`` message's payload (text counted as UTF-8)."""
    data = message.get("bytes")
    if data is not None:
        return len(data)
    text = message.get("text")
    return len(text.encode("utf-8")) if isinstance(text, str) else 0


class IdleWatch:
    """One timer per connection, re-armed lazily: a receive costs a clock read, not a timer of its own.

    While the endpoint waits in ``receive`` past its deadline, the watch cancels the connection's
    task; ``Limiter.receive`` turns that cancellation into the idle close.
    """

    __slots__ = ("deadline", "expired", "handle", "idle", "loop", "task", "waiting")

    def __init__(self, idle: float) -> None:
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - the Guard builds it inside the connection's task
            raise RuntimeError("IdleWatch must be created inside the connection's task")
        self.task: asyncio.Task[Any] = task
        self.idle = idle
        self.deadline = 0.0
        self.waiting = False
        self.expired = False
        self.handle: asyncio.TimerHandle | None = self.loop.call_at(self.loop.time() + idle, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        if self.waiting and now >= self.deadline:
            self.handle = None
            self.expired = True
            self.task.cancel("sockjet: idle timeout")
            return
        when = self.deadline if self.waiting else now + self.idle
        self.handle = self.loop.call_at(when, self._check)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class Limiter:
    """Wraps the server's ``receive`` for one connection; ``receive`` is what the endpoint gets."""

    __slots__ = ("_connection", "_inner", "_last", "_max_size", "_rate", "_refill", "_tokens", "_watch", "dropped")

    def __init__(
        self,
        connection: TrackedConnection,
        receive: Receive,
        *,
        max_message_size: int | None = None,
        rate_limit: RateLimit | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self._connection = connection
        self._inner = receive
        self._max_size = max_message_size
        self._watch = IdleWatch(idle_timeout) if idle_timeout is not None else None
        self._rate = rate_limit
        self._tokens = float(rate_limit.messages) if rate_limit is not None else 0.0
        self._refill = rate_limit.messages / rate_limit.per if rate_limit is not None else 0.0
        self._last = time.monotonic()
        self.dropped = 0

    def stop(self) -> None:
        """The connection is over: release the idle timer."""
        if self._watch is not None:
            self._watch.stop()

    async def _close(self, code: int, reason: str) -> Message:
        self.stop()
        await self._connection.close(code, reason)
        return {"type": "websocket.disconnect", "code": code, "reason": reason}

    async def receive(self) -> Message:
        while True:
            watch = self._watch
            if watch is None:
                message = await self._inner()
            else:
                watch.deadline = watch.loop.time() + watch.idle
                watch.waiting = True
                try:
                    message = await self._inner()
                except asyncio.CancelledError:
                    if not watch.expired or not uncancelled(watch.task):
                        raise  # not ours, or cancelled by someone else as well
                    return await self._close(
                        status.WS_1001_GOING_AWAY, f"idle timeout: no message for {watch.idle:g} s"
                    )
                finally:
                    watch.waiting = False
            if message["type"] != "websocket.receive":
                return message
            limit = self._max_size
            if limit is not None:
                text = message.get("text")
                # A str of n characters is n to 4n UTF-8 bytes: encode only when it could be over.
                if text is None or len(text) * 4 > limit:
                    size = message_size(message)
                    if size > limit:
                        _metrics.message_refused(self._connection.scope, "oversize")
                        return await self._close(
                            status.WS_1009_MESSAGE_TOO_BIG, f"message too big: {size} bytes, the limit is {limit}"
                        )
            rate = self._rate
            if rate is not None:
                now = time.monotonic()
                self._tokens = min(float(rate.messages), self._tokens + (now - self._last) * self._refill)
                self._last = now
                if self._tokens < 1.0:
                    _metrics.message_refused(self._connection.scope, "rate_limited")
                    if rate.policy == "close":
                        return await self._close(
                            status.WS_1008_POLICY_VIOLATION,
                            f"rate limit exceeded: more than {rate.messages} messages in {rate.per:g} s",
                        )
                    self.dropped += 1
                    continue
                self._tokens -= 1.0
            return message


__all__ = ["IdleWatch", "Limiter", "RateLimit", "message_size"]
