"""The Prometheus recorder: every ``sockjet_`` series, and the per-connection tap.

What happens per message (a received or sent frame, a delivery, an enqueue, a publish) adds to
plain ints of an object made once per route or per backend; a flusher hands the increase to
prometheus_client every ``FLUSH_INTERVAL`` seconds and before each scrape of this process. So a
message costs a few attribute increments, never a lock or a label lookup. What happens per
connection or per rare event (accept, close, refusal, reconnect, recovery) goes to
prometheus_client directly.

The ints only grow, in the event loop's thread; the flusher only reads them and keeps what it
already handed on, so neither needs a lock.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Awaitable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sockjet import exceptions, status
from sockjet.hub.outbox import Offer
from sockjet.metrics.recorder import TAP_KEY, Recorder
from sockjet.types import Message, Receive, Scope, Send
from sockjet.websockets import WebSocketState

FLUSH_INTERVAL = 1.0
"""Seconds between two hand-overs of the per-message counts to prometheus_client."""

PUBLISH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf"))
DEPTH_BUCKETS = (0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 1023, 2047, 4095, float("inf"))
_DEPTH_TOP = len(DEPTH_BUCKETS) - 1
_DEPTH_LIMIT = 1 << (_DEPTH_TOP - 1)
assert all(bound == (1 << i) - 1 for i, bound in enumerate(DEPTH_BUCKETS[:_DEPTH_TOP]))
"""So the bucket of a depth ``d < _DEPTH_LIMIT`` is ``d.bit_length()``: no search per enqueue."""


def publish_outcome(exc: BaseException | None) -> str:
    """``ok``, ``outcome_unknown`` (the backend may or may not have taken it) or ``error``."""
    if exc is None:
        return "ok"
    if isinstance(exc, exceptions.PublishOutcomeUnknown):
        return "outcome_unknown"
    return "error"


class _Tally:
    """A counter child fed from a plain int: ``n`` grows in the loop, ``flush`` hands on the increase."""

    __slots__ = ("_child", "_sent", "n")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.n = 0
        self._sent = 0

    def flush(self) -> None:
        n = self.n
        if n != self._sent:
            self._child.inc(n - self._sent)
            self._sent = n


class _LocalHistogram:
    """A histogram child fed from plain per-bucket counts (prometheus_client keeps them per bucket too)."""

    __slots__ = ("_bounds", "_child", "_sent", "_sent_sum", "counts", "total")

    def __init__(self, child: Any, bounds: tuple[float, ...]) -> None:
        self._child = child
        self._bounds = bounds
        self.counts = [0] * len(bounds)
        self._sent = [0] * len(bounds)
        self.total = 0.0
        self._sent_sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self._bounds, value)] += 1
        self.total += value

    def flush(self) -> None:
        counts, sent = self.counts, self._sent
        moved = False
        for i, count in enumerate(counts):
            if count != sent[i]:
                # prometheus_client's own Histogram.observe adds to exactly these two values.
                self._child._buckets[i].inc(count - sent[i])
                sent[i] = count
                moved = True
        if moved:
            total = self.total
            self._child._sum.inc(total - self._sent_sum)
            self._sent_sum = total


def payload_size(message: Message) -> int:
    """The bytes of a data message's payload: its text as UTF-8, else its bytes."""
    text = message.get("text")
    if text is not None:
        return len(text) if text.isascii() else len(text.encode("utf-8"))
    return len(message.get("bytes") or b"")


class RouteStats:
    """The per-message counts of one route pattern: plain ints, handed on by ``flush``."""

    __slots__ = ("_children", "_sent", "bytes_in", "bytes_out", "messages_in", "messages_out", "route", "series")

    def __init__(self, series: Series, route: str) -> None:
        self.series = series
        self.route = route
        self.messages_in = self.messages_out = self.bytes_in = self.bytes_out = 0
        self._children = tuple(
            family.labels(route)
            for family in (series.messages_received, series.messages_sent, series.bytes_received, series.bytes_sent)
        )
        self._sent = [0, 0, 0, 0]

    def count_in(self, message: Message) -> None:
        """Count one ``websocket.receive`` message (its payload's bytes, text as UTF-8)."""
        self.messages_in += 1
        self.bytes_in += payload_size(message)

    def count_out(self, message: Message) -> None:
        """Count one ``websocket.send`` message handed to the server."""
        self.messages_out += 1
        self.bytes_out += payload_size(message)

    def flush(self) -> None:
        now = (self.messages_in, self.messages_out, self.bytes_in, self.bytes_out)
        sent = self._sent
        for i, child in enumerate(self._children):
            if now[i] != sent[i]:
                child.inc(now[i] - sent[i])
                sent[i] = now[i]


_CONNECTING, _OPEN, _OVER = 0, 1, 2


class ConnectionTap:
    """Wraps one connection's ``receive`` and ``send``: messages, bytes, accept, refusal and close."""

    __slots__ = ("_receive", "_send", "reason", "state", "stats")

    def __init__(self, stats: RouteStats, receive: Receive, send: Send) -> None:
        self.stats = stats
        self._receive = receive
        self._send = send
        self.state = _CONNECTING
        self.reason = "denial"
        """Why a close before accept refuses the connection (a dependency, a parameter, or the endpoint)."""

    async def receive(self) -> Message:
        # For an app that is handed these wrappers. sockjet's WebSocket unwraps them (``unwrap``) and
        # counts itself: a wrapper coroutine costs a frame on every suspension and resumption of a
        # waiting receive, and the send wrapper a call per message.
        message = await self._receive()
        self.received(message)
        return message

    def unwrap(self, receive: Receive, send: Send) -> tuple[Receive, Send] | None:
        """The server's ``receive`` and ``send`` if these are this tap's wrappers, else None.

        The caller then counts what ``received`` and ``send`` would: each data message into
        ``stats``, every other message through ``received`` (receive) or ``control`` (send).
        """
        if getattr(receive, "__self__", None) is self and getattr(send, "__self__", None) is self:
            return self._receive, self._send
        return None

    def received(self, message: Message) -> None:
        """Count one message the server's ``receive`` returned."""
        kind = message["type"]
        if kind == "websocket.receive":
            self.stats.count_in(message)
        elif kind == "websocket.disconnect" and self.state is _OPEN:
            self._closed(message.get("code", status.WS_1005_NO_STATUS_RCVD), "client")

    def send(self, message: Message) -> Awaitable[None]:
        # Not a coroutine: it returns the server's send, so counting adds no frame to a hub fan-out.
        # A message is counted when handed to the server; one lost with its peer still counts.
        if message["type"] == "websocket.send":
            self.stats.count_out(message)
        else:
            self.control(message)
        return self._send(message)

    def control(self, message: Message) -> None:
        """Count a message sent that is not data: an accept, a close, a denial response."""
        kind = message["type"]
        if self.state is _CONNECTING:
            if kind == "websocket.accept":
                self.state = _OPEN
                series = self.stats.series
                series.accepted.labels(self.stats.route).inc()
                series.open.labels(self.stats.route).inc()
            elif kind in ("websocket.close", "websocket.http.response.start"):
                self._refused()
        elif kind == "websocket.close" and self.state is _OPEN:
            self._closed(message.get("code", status.WS_1000_NORMAL_CLOSURE), "server")

    def _refused(self) -> None:
        self.state = _OVER
        self.stats.series.refused.labels(self.stats.route, self.reason).inc()

    def _closed(self, code: int, side: str) -> None:
        self.state = _OVER
        series, route = self.stats.series, self.stats.route
        series.open.labels(route).dec()
        series.closed.labels(route, str(code), side).inc()

    def message_refused(self, reason: str) -> None:
        self.stats.series.messages_refused.labels(self.stats.route, reason).inc()

    def finish(self, websocket: Any) -> None:
        """The app returned. Still open: the server closes it (1000), unless its WebSocket found the
        peer gone (1006, the client's side); never accepted: refused."""
        if self.state is _OPEN:
            if websocket is not None and websocket.application_state is WebSocketState.DISCONNECTED:
                self._closed(status.WS_1006_ABNORMAL_CLOSURE, "client")
            else:
                self._closed(status.WS_1000_NORMAL_CLOSURE, "server")
        elif self.state is _CONNECTING:
            self._refused()


class Series:
    """The metric families, in one registry of sockjet's own (so they never clash with the app's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.open = Gauge(
            "sockjet_connections_open",
            "WebSocket connections accepted and not yet closed.",
            ("route",),
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.accepted = counter("sockjet_connections_accepted", "Handshakes accepted.", ("route",))
        self.refused = counter(
            "sockjet_connections_refused",
            "Handshakes refused: origin, limit, shutdown, parameter, dependency, denial.",
            ("route", "reason"),
        )
        self.closed = counter(
            "sockjet_connections_closed",
            "Accepted connections closed, by close code and side.",
            ("route", "code", "side"),
        )
        self.messages_received = counter("sockjet_messages_received", "Messages received from clients.", ("route",))
        self.messages_sent = counter("sockjet_messages_sent", "Messages sent to clients.", ("route",))
        self.bytes_received = counter("sockjet_received_bytes", "Payload bytes received from clients.", ("route",))
        self.bytes_sent = counter("sockjet_sent_bytes", "Payload bytes sent to clients.", ("route",))
        self.messages_refused = counter(
            "sockjet_messages_refused",
            "Client messages refused: oversize, rate_limited, malformed.",
            ("route", "reason"),
        )
        self.publish_duration = Histogram(
            "sockjet_hub_publish_duration_seconds",
            "Time a hub.publish took, until the backend took the message (or failed).",
            ("backend",),
            registry=registry,
            buckets=PUBLISH_BUCKETS,
        )
        self.publishes = counter(
            "sockjet_hub_publishes",
            "hub.publish calls by outcome: ok, error, outcome_unknown, deduplicated.",
            ("backend", "outcome"),
        )
        self.deliveries = counter("sockjet_hub_deliveries", "Messages handed to local members (one per member).")
        self.outbox_depth = Histogram(
            "sockjet_hub_outbox_depth_messages",
            "Messages in a busy member's outbox just after one more was offered to it.",
            registry=registry,
            buckets=DEPTH_BUCKETS,
        )
        self.overflow_closes = counter("sockjet_hub_overflow_closes", "Members closed (1013) for a full outbox.")
        self.overflow_drops = counter(
            "sockjet_hub_overflow_drops", 'Enqueues that evicted older messages (overflow="drop_oldest").'
        )
        self.reconnects = counter(
            "sockjet_hub_broker_reconnects", "Broker connections lost and re-established.", ("backend",)
        )
        self.gap_fills = counter("sockjet_hub_gap_fills", "Room gaps after an interruption filled from history.")
        self.history_lost = counter(
            "sockjet_hub_history_lost_closes", "Members closed (3410) because their room's history was lost."
        )
        self.recoveries = counter(
            "sockjet_hub_recoveries", "Joins with since=, by result: recovered, not_recovered.", ("result",)
        )
        self.recovery_missed = Histogram(
            "sockjet_hub_recovery_missed_messages",
            "Messages a recovering member had missed and got replayed.",
            registry=registry,
            buckets=DEPTH_BUCKETS,
        )
        self.presence_changes = counter(
            "sockjet_hub_presence_changes", "Local presence announcements, by change: join, leave.", ("change",)
        )
        self.subscriptions_open = Gauge(
            "sockjet_channels_subscriptions_open",
            "Channel subscriptions open.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.channel_commands = counter(
            "sockjet_channels_commands", "Channel commands by op and result code.", ("op", "code")
        )
        self.channel_pushes = counter("sockjet_channels_pushes", "Pushes sent to channel subscribers.")


class PrometheusRecorder(Recorder):
    """Counts into ``Series``; per-message counts through tallies flushed by a daemon thread."""

    enabled = True

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.series = Series(self.registry)
        self._routes: dict[str, RouteStats] = {}
        self._publish: dict[str, tuple[_LocalHistogram, _Tally]] = {}
        self.deliveries = _Tally(self.series.deliveries)
        self.depth = _LocalHistogram(self.series.outbox_depth, DEPTH_BUCKETS)
        self.pushes = _Tally(self.series.channel_pushes)
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_forever, name="sockjet-metrics-flush", daemon=True)
        self._thread.start()

    # -- flushing -------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Hand every per-message count to prometheus_client (the flusher does this every second)."""
        with self._flush_lock:
            for stats in list(self._routes.values()):
                stats.flush()
            for histogram, ok in list(self._publish.values()):
                histogram.flush()
                ok.flush()
            self.deliveries.flush()
            self.depth.flush()
            self.pushes.flush()

    def _flush_forever(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL):
            self.flush()

    def stop(self) -> None:
        """Stop the flusher after a last flush."""
        self._stop.set()
        self.flush()

    # -- connections ----------------------------------------------------------------------------------
    def route_stats(self, route: str) -> RouteStats:
        stats = self._routes.get(route)
        if stats is None:
            stats = self._routes[route] = RouteStats(self.series, route)
        return stats

    def tap(self, route: str, scope: Scope, receive: Receive, send: Send) -> tuple[Receive, Send, Any]:
        tap = ConnectionTap(self.route_stats(route), receive, send)
        scope[TAP_KEY] = tap
        return tap.receive, tap.send, tap

    def refused(self, route: str, reason: str) -> None:
        self.series.refused.labels(route, reason).inc()

    # -- hub ------------------------------------------------------------------------------------------
    def publish_done(self, backend: str, seconds: float, exc: BaseException | None, deduplicated: bool = False) -> None:
        pair = self._publish.get(backend)
        if pair is None:
            series = self.series
            pair = self._publish[backend] = (
                _LocalHistogram(series.publish_duration.labels(backend), PUBLISH_BUCKETS),
                _Tally(series.publishes.labels(backend, "ok")),
            )
        pair[0].observe(seconds)
        if deduplicated:
            self.publish_deduplicated(backend)
        elif exc is None:
            pair[1].n += 1
        else:
            self.series.publishes.labels(backend, publish_outcome(exc)).inc()

    def publish_deduplicated(self, backend: str) -> None:
        self.series.publishes.labels(backend, "deduplicated").inc()

    def delivered(self, count: int) -> None:
        self.deliveries.n += count

    def enqueued(self, offer: Offer, depth: int) -> None:
        # Once per busy member per message of a fan-out: DEPTH_BUCKETS' bucket by bit length, inline.
        histogram = self.depth
        histogram.counts[depth.bit_length() if depth < _DEPTH_LIMIT else _DEPTH_TOP] += 1
        histogram.total += depth
        if offer is Offer.QUEUED_AFTER_DROP:
            self.series.overflow_drops.inc()

    def overflow_closed(self) -> None:
        self.series.overflow_closes.inc()

    def broker_reconnected(self, backend: str) -> None:
        self.series.reconnects.labels(backend).inc()

    def gap_fill(self) -> None:
        self.series.gap_fills.inc()

    def history_lost(self, members: int) -> None:
        self.series.history_lost.inc(members)

    def recovery(self, recovered: bool) -> None:
        self.series.recoveries.labels("recovered" if recovered else "not_recovered").inc()

    def recovery_missed(self, messages: int) -> None:
        self.series.recovery_missed.observe(messages)

    def presence_changed(self, change: str) -> None:
        self.series.presence_changes.labels(change).inc()

    # -- channels -------------------------------------------------------------------------------------
    def subscription_opened(self) -> None:
        self.series.subscriptions_open.inc()

    def subscription_closed(self) -> None:
        self.series.subscriptions_open.dec()

    def channel_command(self, op: str, code: int) -> None:
        self.series.channel_commands.labels(op, str(code)).inc()

    def channel_pushed(self, count: int = 1) -> None:
        self.pushes.n += count


__all__ = ["FLUSH_INTERVAL", "ConnectionTap", "PrometheusRecorder", "RouteStats", "Series", "publish_outcome"]
