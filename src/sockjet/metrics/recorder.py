"""The seam every call site counts through: ``current``, a no-op ``Recorder`` until metrics are enabled.

Call sites write ``_metrics.current.something(...)``: while metrics are off that is a method of
this module's no-op ``Recorder`` (nothing imported, nothing counted); ``sockjet.metrics.enable()``
replaces ``current`` with the Prometheus recorder, once per process (prometheus_client's values
are per process anyway). Per-connection counting is set up by the route's guard only when
``current.enabled`` is true, so a connection of a disabled process pays one attribute check.

A backend whose publish finds its idempotency key already used calls ``deduplicated()``: that
publish is then counted with the outcome ``deduplicated`` instead of ``ok``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sockjet.types import Receive, Scope, Send

if TYPE_CHECKING:
    from sockjet.hub.outbox import Offer

TAP_KEY = "sockjet.metrics.tap"
"""The scope key of a connection's counting tap (present only while metrics are enabled)."""


class Recorder:
    """Every event sockjet counts; this base class counts nothing (metrics disabled)."""

    enabled = False

    # -- connections (sockjet.guard) --------------------------------------------------------------
    def tap(self, route: str, scope: Scope, receive: Receive, send: Send) -> tuple[Receive, Send, Any]:
        """The ``receive``/``send`` a connection of ``route`` should use, and its tap (None: not counted)."""
        return receive, send, None

    def refused(self, route: str, reason: str) -> None:
        """A handshake refused by the guard: ``origin``, ``limit`` or ``shutdown``."""

    # -- hub ----------------------------------------------------------------------------------------
    def publish_done(self, backend: str, seconds: float, exc: BaseException | None, deduplicated: bool = False) -> None:
        """A publish ended after ``seconds``, with ``exc`` (None: the backend took it, or found its
        idempotency key already used: ``deduplicated``)."""

    def publish_deduplicated(self, backend: str) -> None:
        """A publish whose idempotency key the backend had seen: nothing new was sent."""

    def delivered(self, count: int) -> None:
        """A message was handed to ``count`` local members."""

    def enqueued(self, offer: Offer, depth: int) -> None:
        """A message offered to a busy member's outbox, which then held ``depth`` messages."""

    def overflow_closed(self) -> None:
        """A member closed because its outbox was full (policy ``"close"``)."""

    def broker_reconnected(self, backend: str) -> None:
        """The backend's live stream is back after a lost broker connection."""

    def gap_fill(self) -> None:
        """A room's gap after an interruption is being filled from its stream."""

    def history_lost(self, members: int) -> None:
        """``members`` closed with 3410 because their room's history could not fill a gap."""

    def recovery(self, recovered: bool) -> None:
        """A join with ``since=``: the member got exactly what it missed (True) or must resynchronise."""

    def recovery_missed(self, messages: int) -> None:
        """A recovery replayed ``messages`` publications."""

    def presence_changed(self, change: str) -> None:
        """A local connection announced itself in a room (``join``) or withdrew (``leave``)."""

    # -- channels (sockjet.channels) ---------------------------------------------------------------------
    def subscription_opened(self) -> None:
        """A channel subscription started."""

    def subscription_closed(self) -> None:
        """A channel subscription ended."""

    def channel_command(self, op: str, code: int) -> None:
        """A channels command ``op`` answered with result ``code`` (0: ok)."""

    def channel_pushed(self, count: int = 1) -> None:
        """``count`` pushes sent to channel subscribers."""


NOOP = Recorder()
current: Recorder = NOOP
"""The recorder of this process; replaced by ``sockjet.metrics.enable()``."""


_deduplicated: ContextVar[bool] = ContextVar("sockjet_publish_deduplicated", default=False)
"""Set by ``deduplicated()`` during a timed publish (the backend runs in the publishing task)."""


def deduplicated() -> None:
    """A backend's publish found its idempotency key already used: nothing new was stored or sent.

    Called from the publishing task (the hub awaits the backend directly), so the hub's publish
    in progress is counted as ``deduplicated``; nothing happens while metrics are disabled.
    """
    if current.enabled:
        _deduplicated.set(True)


def refusal_reason(scope: Scope, reason: str) -> None:
    """A refusal of this connection before accept, if one follows, is for ``reason``."""
    tap = scope.get(TAP_KEY)
    if tap is not None:
        tap.reason = reason


def message_refused(scope: Scope, reason: str) -> None:
    """A message of this connection was refused: ``oversize``, ``rate_limited`` or ``malformed``."""
    tap = scope.get(TAP_KEY)
    if tap is not None:
        tap.message_refused(reason)


def backend_label(url: str | None) -> str:
    """The bounded ``backend`` label of a hub URL: ``memory``, ``redis`` or ``nats``."""
    if url is None or url.startswith("memory:"):
        return "memory"
    if url.startswith(("nats:", "tls:")):
        return "nats"
    return "redis"


_H = TypeVar("_H")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def observe_publish(
    func: Callable[Concatenate[_H, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[_H, _P], Coroutine[Any, Any, _R]]:
    """Wrap ``Hub.publish``: its latency and outcome by backend. Disabled, it adds one function call."""

    @functools.wraps(func)
    def publish(hub: _H, *args: _P.args, **kwargs: _P.kwargs) -> Coroutine[Any, Any, _R]:
        if not current.enabled:
            return func(hub, *args, **kwargs)
        return _timed(current, func(hub, *args, **kwargs), backend_label(getattr(hub, "url", None)))

    return publish  # type: ignore[return-value]


async def _timed(recorder: Recorder, call: Coroutine[Any, Any, _R], backend: str) -> _R:
    from time import perf_counter

    token = _deduplicated.set(False)
    started = perf_counter()
    try:
        result = await call
    except Exception as exc:
        recorder.publish_done(backend, perf_counter() - started, exc)
        raise
    finally:
        seen = _deduplicated.get()
        _deduplicated.reset(token)
    recorder.publish_done(backend, perf_counter() - started, None, seen)
    return result


__all__ = [
    "NOOP",
    "TAP_KEY",
    "Recorder",
    "backend_label",
    "current",
    "deduplicated",
    "message_refused",
    "observe_publish",
    "refusal_reason",
]
