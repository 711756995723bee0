"""The NATS backend: core NATS subjects, one connection and one subscription per room per process.

- Subjects: ``{base}.r.{token}`` per room (``backends/subjects.py``: a room named ``a.b``, ``*``
  or ``>`` is one literal token and never reaches another room). A room is subscribed while this
  process has a member in it (``sync_room``); a join waits for the server to confirm the
  subscription (a confirmation after the SUB), so a publish made through the same server after
  ``join`` returned reaches the new member. In a cluster, interest reaches the other servers
  a moment later (NATS propagates it asynchronously).
- Confirmations are a marker published to this process's own echo subject ``{base}.e.{id}``:
  the server handles a connection's commands in order, so the marker's return means everything
  sent before it was taken. (Not nats-py's ``flush``: a flush that timed out leaves a cancelled
  future behind, and the late PONG then stops the client's reader.)
- ``publish`` returns once the server has the message (PUB, then a confirmation); while NATS is away
  it raises ``PublishError`` at once (nothing sent), or ``PublishOutcomeUnknown`` within ``timeout``
  if the PUB left and the confirmation did not come (the loss not yet noticed, a stalled server).
  Nothing is buffered for later: what ``publish`` refused with ``PublishError`` is never delivered.
- Idempotency without history (core NATS has no de-duplication): a keyed publish carries a
  ``Sockjet-Key`` header (a digest of room and key), and every *receiving* process drops a message
  whose key it already delivered in that room within ``idempotency_ttl`` (``RecentKeys``). So a
  retry reaches each member at most once, whichever process sends it; a process that was not
  subscribed to the room when the first one came delivers the retry. With history, JetStream's
  own ``Nats-Msg-Id`` window does it (``nats_history``).
- nats-py reconnects by itself (every ``reconnect_wait`` seconds, to any server of the URL) and
  re-subscribes every room; members stay connected; what was published meanwhile is lost
  (at-most-once).
- Counts: every process broadcasts its local counts on ``{base}.p`` (``backends/nats_counts.py``)
  and remembers the others'; ``count`` first waits for its own marker to come back, so every
  report the server took before the call is counted. A process that died stops counting after
  ``presence_ttl``; one that stops cleanly says so.
- History (``Hub(history_size=N)``): one JetStream stream per hub, see ``nats_history``. The
  server needs JetStream (``nats-server -js``); without it the hub does not start. After a
  reconnect the hub is told (``stream_interrupted``) and fills each room's gap from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sockjet.exceptions import ConfigurationError, HubError, PublishError, PublishOutcomeUnknown
from sockjet.hub.backends._tasks import end_task
from sockjet.hub.backends._urls import redacted
from sockjet.hub.backends.base import LocalRooms, Retention
from sockjet.hub.backends.describe import describe as _describe
from sockjet.hub.backends.nats_counts import CountBook, Report, ReportKind, batches
from sockjet.hub.backends.nats_history import JetStreamRooms, Tip, Unanswered, message_id, position_of, sequence_of
from sockjet.hub.backends.presence import PRESENCE_TTL
from sockjet.hub.backends.recent_keys import RecentKeys
from sockjet.hub.backends.remote import RemoteBackend, not_running
from sockjet.hub.backends.reorder import HOLD as REORDER_HOLD
from sockjet.hub.backends.reorder import ReorderWindow
from sockjet.hub.backends.subjects import counts_subject, room_subject, server_urls, subject_base
from sockjet.hub.envelope import Envelope
from sockjet.hub.loggable import loggable
from sockjet.hub.position import Position, Publication, StreamSlice
from sockjet.hub.wire import is_presence
from sockjet.metrics import recorder as _metrics

try:
    import nats.aio.client
    import nats.errors
except ImportError:  # pragma: no cover - depends on the installed extras
    nats = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from sockjet.hub.backends.nats_presence import NatsPresenceStore

_T = TypeVar("_T")

logger = logging.getLogger("sockjet.hub")

MAX_ROOMS_PER_REPORT = 500
"""Rooms per presence broadcast (keeps each one far below NATS's 1 MB max_payload)."""
KEY_HEADER = "Sockjet-Key"
"""On a history-less keyed publish: the digest receivers de-duplicate by."""


class NatsBackend(RemoteBackend):
    """Core NATS through nats-py's asyncio client."""

    broker = "NATS"

    pending_limit = 65536
    """Messages one room's subscription may hold before nats-py drops newer ones (a slow consumer:
    with history the room's gap is then filled from the stream; without, they are lost)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        prefix: str = "sockjet:hub:",
        presence_ttl: float = PRESENCE_TTL,
        reconnect_wait: float = 0.25,
        ping_interval: float = 5.0,
        history: Retention | None = None,
        idempotency_ttl: float = 300.0,
    ) -> None:
        if nats is None:  # pragma: no cover - depends on the installed extras
            raise ConfigurationError("Hub(url='nats://...') needs nats-py: pip install 'sockjet[nats]'.")
        super().__init__(url, timeout=timeout, presence_ttl=presence_ttl, idempotency_ttl=idempotency_ttl)
        self.servers = server_urls(url)
        self.base = subject_base(prefix)
        self.reconnect_wait = reconnect_wait
        self.ping_interval = ping_interval
        self.history = history
        self._delivered_keys: RecentKeys[None] = RecentKeys(idempotency_ttl)
        """Keys of history-less messages this process delivered: a retry of one is dropped."""
        self.streams: JetStreamRooms | None = None
        """The JetStream side, with ``history`` (created at ``start``)."""
        self.disconnects = 0
        """How often the connection to NATS was lost (for logs and tests)."""
        self._nc: Any = None
        self._subs: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._book = CountBook()
        self._pings: dict[str, asyncio.Future[None]] = {}
        self._echoes: dict[bytes, asyncio.Future[None]] = {}
        self._echo_ids = itertools.count()
        self._presence: asyncio.Task[None] | None = None
        self._presence_wakeup = asyncio.Event()
        self._outage_since: float | None = None
        self._dropped: set[str] = set()
        """Rooms whose subscription dropped messages since the last ``stream_interrupted``."""
        self._order = ReorderWindow()
        """Publications back in offset order where two racing publishers' RePublish swapped them."""
        self._order_timers: dict[str, asyncio.TimerHandle] = {}

    # -- names ------------------------------------------------------------------------------------
    def subject(self, room: str) -> str:
        return room_subject(self.base, room)

    @property
    def counts_subject(self) -> str:
        return counts_subject(self.base)

    @property
    def echo_subject(self) -> str:
        return f"{self.base}.e.{self.process_id}"

    @property
    def connected(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    # -- lifecycle ------------------------------------------------------------------------------------
    def _make_presence_store(self) -> NatsPresenceStore:
        """Presence on this broker (NatsPresenceStore), sharing this backend's connection."""
        from sockjet.hub.backends.nats_presence import NatsPresenceStore  # it builds on this module

        return NatsPresenceStore(self)

    @property
    def client(self) -> Any:
        """The running nats-py client (shared with the presence store), or ``None`` when stopped."""
        return self._nc

    async def start(self, local: LocalRooms) -> None:
        self._local = local
        self._nc = await self._connect()
        try:
            await self._nc.subscribe(self.echo_subject, cb=self._on_echo)
            await self._nc.subscribe(self.counts_subject, cb=self._on_counts)
            await self._send(Report(ReportKind.HELLO, self.process_id))
            await asyncio.wait_for(self._confirm(self._nc), self.timeout)
        except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
            await self.stop()
            raise HubError(f"Cannot use NATS at {redacted(self.url)}: {_describe(exc)}.") from None
        if self.history is not None:
            self.streams = JetStreamRooms(
                self._nc, self.base, self.history, timeout=self.timeout, dedupe_window=self.idempotency_ttl
            )
            try:
                await asyncio.wait_for(self.streams.ensure(), self.timeout)
            except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
                await self.stop()
                raise HubError(_jetstream_problem(redacted(self.url), exc)) from None
        self._presence = asyncio.create_task(self._refresh_counts(), name="sockjet-hub-nats-presence")

    async def _connect(self) -> Any:
        """A connected client, or ``HubError`` in one line: refused credentials at once, else after ``timeout``."""
        client = nats.aio.client.Client()
        errors: list[BaseException] = []
        refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def on_error(exc: Exception) -> None:
            if isinstance(exc, nats.errors.SlowConsumerError):
                self._slow_consumer(exc.sub)
                return
            if client.is_connected or self._outage_since is not None:
                logger.debug("NATS client error: %s", loggable(exc))
                return
            errors.append(exc)
            if _is_refusal(exc) and not refused.done():
                refused.set_result(None)

        connecting = asyncio.ensure_future(
            client.connect(
                self.servers,
                name=f"sockjet-hub-{self.process_id[:8]}",
                error_cb=on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=self.reconnect_wait,  # type: ignore[arg-type]
                connect_timeout=self.timeout,  # type: ignore[arg-type]
                ping_interval=self.ping_interval,  # type: ignore[arg-type]
                pending_size=0,  # nothing is buffered while disconnected: publish fails instead
            )
        )
        try:
            await asyncio.wait({connecting, refused}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            refused.cancel()
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
        if connecting.cancelled() or connecting.exception() is not None:
            with contextlib.suppress(Exception):
                await client.close()
            failure = None if connecting.cancelled() else connecting.exception()
            if failure is not None:
                errors.append(failure)
            # A refusal says more than the connection reset that may follow it.
            cause = next((exc for exc in errors if _is_refusal(exc)), errors[-1] if errors else None)
            reason = _describe(cause or asyncio.TimeoutError())
            hint = (
                "Check the user and password (or token) in the hub URL."
                if cause is not None and _is_refusal(cause)
                else "Check that nats-server runs there, or fix the hub URL."
            )
            raise HubError(f"Cannot connect to NATS at {redacted(self.url)}: {reason}. {hint}") from None
        return client

    async def stop(self) -> None:
        if self._presence is not None:
            await end_task(self._presence)
        self._presence = None
        client, self._nc = self._nc, None
        if client is not None:
            if client.is_connected:
                with contextlib.suppress(nats.errors.Error, OSError, asyncio.TimeoutError):
                    await client.publish(self.counts_subject, Report(ReportKind.BYE, self.process_id).to_wire())
                    await asyncio.wait_for(self._confirm(client), self.timeout)
            with contextlib.suppress(nats.errors.Error, OSError, asyncio.TimeoutError):
                await asyncio.wait_for(client.close(), self.timeout)
        for future in (*self._pings.values(), *self._echoes.values()):
            future.cancel()
        self._pings.clear()
        self._echoes.clear()
        self._subs.clear()
        for timer in self._order_timers.values():
            timer.cancel()
        self._order_timers.clear()
        self._order = ReorderWindow()
        self._book = CountBook()
        self.streams = None
        self._local = None

    async def _on_disconnected(self) -> None:
        if self._nc is None or self._outage_since is not None:
            return  # closing, or already reported
        self.disconnects += 1
        self._outage_since = time.monotonic()
        logger.warning("Lost NATS at %s; reconnecting.", redacted(self.url))

    async def _on_reconnected(self) -> None:
        since, self._outage_since = self._outage_since, None
        if since is not None:
            _metrics.current.broker_reconnected("nats")
            logger.warning(
                "NATS at %s is back after %.1fs; re-subscribed.", redacted(self.url), time.monotonic() - since
            )
        # Others may have forgotten our counts or missed changes, and we theirs: a HELLO makes every
        # process that is back re-broadcast (a process that comes back later sends its own).
        self._presence_wakeup.set()
        client = self._nc
        if client is not None and client.is_connected:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._send(Report(ReportKind.HELLO, self.process_id))
        if self.streams is not None:
            self.streams.tips.forget()  # the server may have lost its store
            if self._local is not None and self._subs:
                self._local.stream_interrupted(sorted(self._subs))

    # -- publish ------------------------------------------------------------------------------------
    def _failure(self, room: str, exc: BaseException, *, sent: bool, verb: str = "take") -> PublishError:
        """``PublishOutcomeUnknown`` if the request left (``sent``), else ``PublishError`` (nothing stored)."""
        where = f"Could not publish to room {loggable(room)}: NATS at {redacted(self.url)}"
        if sent:
            return PublishOutcomeUnknown(
                f"{where} did not answer within {self.timeout:g}s ({_describe(exc)}). The message may have "
                "been delivered (and stored); retry with the same idempotency_key to publish it at most once."
            )
        return PublishError(
            f"{where} did not {verb} it within {self.timeout:g}s ({_describe(exc)}). "
            "Nobody received it; retry when NATS is back."
        )

    async def publish(self, envelope: Envelope, *, key: str | None = None) -> None:
        client = self._nc
        if client is None:
            raise not_running("publish", PublishError)
        room = envelope.room
        headers = None if key is None else {KEY_HEADER: message_id(room, key)}
        try:
            if not client.is_connected:
                raise ConnectionError("disconnected, reconnecting")
            await asyncio.wait_for(
                client.publish(self.subject(room), envelope.to_wire(), headers=headers), self.timeout
            )
        except asyncio.TimeoutError as exc:  # stuck flushing: the PUB is queued and may still leave
            raise self._failure(room, exc, sent=True) from exc
        except (nats.errors.Error, OSError) as exc:
            raise self._failure(room, exc, sent=False) from exc
        try:
            await asyncio.wait_for(self._confirm(client), self.timeout)
        except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
            raise self._failure(room, exc, sent=True) from exc

    async def publish_history(
        self, envelope: Envelope, kind: str, retention: Retention, *, key: str | None = None
    ) -> Position | None:
        """Store with the room's next offset (JetStream checks it), delivered by the stream's RePublish.

        The wait for this process's earlier publishes to the room is not timed; each request is.
        """
        client = self._nc
        if client is None:
            raise not_running("publish", PublishError)
        payload = kind.encode() + envelope.to_wire()[1:]
        try:
            if not client.is_connected:
                raise ConnectionError("disconnected, reconnecting")
            streams = await asyncio.wait_for(self._streams_for(retention), self.timeout)
            return await streams.publish(envelope.room, payload, key)
        except Unanswered as exc:
            raise self._failure(envelope.room, exc.cause, sent=True) from exc.cause
        except (nats.errors.Error, OSError, asyncio.TimeoutError, ValueError) as exc:
            raise self._failure(envelope.room, exc, sent=False, verb="store") from exc

    async def read_stream(self, room: str, *, after: int, limit: int | None, retention: Retention) -> StreamSlice:
        """The room's epoch and top, and its retained publications after ``after`` (see ``nats_history``)."""
        return await self._reading(room, retention, lambda streams: streams.read(room, after=after, limit=limit))

    async def open_stream(self, room: str, *, retention: Retention) -> Position:
        """The room's top position; an empty room gets its epoch marker (see ``nats_history``)."""
        return await self._reading(room, retention, lambda streams: streams.open(room))

    async def _reading(self, room: str, retention: Retention, read: Callable[[JetStreamRooms], Awaitable[_T]]) -> _T:
        """``read`` on the JetStream side, bounded by ``timeout``; its failure as one ``HubError`` line."""
        client = self._nc
        if client is None:
            raise not_running("read history")
        try:
            if not client.is_connected:
                raise ConnectionError("disconnected, reconnecting")
            streams = await asyncio.wait_for(self._streams_for(retention), self.timeout)
            return await asyncio.wait_for(read(streams), self.timeout)
        except (nats.errors.Error, OSError, asyncio.TimeoutError, ValueError) as exc:
            raise self.unanswered("read the history of", room, exc) from exc

    async def _streams_for(self, retention: Retention) -> JetStreamRooms:
        """The JetStream side for ``retention`` (made at start from the hub's options; changed limits
        are applied to the stream once)."""
        streams = self.streams
        if streams is None:
            streams = self.streams = JetStreamRooms(
                self._nc, self.base, retention, timeout=self.timeout, dedupe_window=self.idempotency_ttl
            )
            await streams.ensure()
        elif streams.retention != retention:
            streams.retention = retention
            await streams.ensure()
        return streams

    async def _publish_confirmed(self, client: Any, envelope: Envelope) -> None:
        await client.publish(self.subject(envelope.room), envelope.to_wire())
        await self._confirm(client)

    async def _confirm(self, client: Any) -> None:
        """Return once the server has taken everything this connection sent before (callers bound it)."""
        marker = b"%d" % next(self._echo_ids)
        future = self._echoes[marker] = asyncio.get_running_loop().create_future()
        try:
            await client.publish(self.echo_subject, marker)
            await future
        finally:
            self._echoes.pop(marker, None)

    async def _on_echo(self, msg: Any) -> None:
        future = self._echoes.get(msg.data)
        if future is not None and not future.done():
            future.set_result(None)

    # -- subscriptions ------------------------------------------------------------------------------------
    async def sync_room(self, room: str) -> None:
        """Subscribe or unsubscribe ``room`` to match local membership, then broadcast this process's count.

        Waits for the server to confirm (PING/PONG), so a count or publish made anywhere after this
        returns sees the change. While NATS is away this only records the wish: nats-py replays
        the subscriptions and the presence task re-broadcasts every count on reconnect.
        """
        local, client = self._local, self._nc
        if local is None or client is None:
            return
        try:
            async with self._lock:
                count = local.local_count(room)
                if count > 0 and room not in self._subs:
                    self._subs[room] = await client.subscribe(
                        self.subject(room), cb=self._room_callback(room), pending_msgs_limit=self.pending_limit
                    )
                elif count == 0 and room in self._subs:
                    await self._subs.pop(room).unsubscribe()
                    self._order.forget(room)  # no member left to deliver what it held to
                    self._cancel_order_timer(room)
                if client.is_connected:
                    await client.publish(
                        self.counts_subject,
                        Report(ReportKind.COUNTS, self.process_id, self.presence_ttl, {room: count}).to_wire(),
                    )
            if client.is_connected:
                await asyncio.wait_for(self._confirm(client), self.timeout)
        except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
            logger.warning(
                "NATS subscription change for room %s not confirmed (%s); resent on reconnect.",
                loggable(room),
                loggable(exc),
            )

    def _slow_consumer(self, subscription: Any) -> None:
        """nats-py dropped a message of a room this process was too slow for."""
        room = next((room for room, sub in self._subs.items() if sub is subscription), None)
        if room is None or room in self._dropped:
            return
        if not self._dropped:
            asyncio.get_running_loop().call_soon(self._report_dropped)
        self._dropped.add(room)

    def _report_dropped(self) -> None:
        rooms, self._dropped = sorted(self._dropped), set()
        if self.streams is not None and self._local is not None:
            logger.warning("Rooms %s fell behind the NATS feed; filling from their streams.", loggable(rooms))
            self._local.stream_interrupted(rooms)
        else:
            logger.warning("Rooms %s fell behind the NATS feed: messages were dropped (no history).", loggable(rooms))

    def _room_callback(self, room: str) -> Callable[[Any], Awaitable[None]]:
        async def on_message(msg: Any) -> None:
            local = self._local
            if local is None:
                return
            try:
                position = position_of(msg.headers)
                if position is None:
                    if is_presence(msg.data):
                        self._room_frame(room, msg.data)
                        return
                    key = msg.headers.get(KEY_HEADER) if msg.headers else None
                    if key is not None and not self._first_delivery(room, key):
                        return
                    local.deliver(Envelope.from_wire(room, msg.data))
                    return
                publication = None if position.offset == 0 else Publication.from_wire(room, position, msg.data)
            except (ValueError, UnicodeDecodeError) as exc:
                logger.warning("Ignored a message on %s: %s", loggable(msg.subject), loggable(exc))
                return
            sequence = sequence_of(msg.headers)
            if self.streams is not None and sequence is not None:
                self.streams.tips.heard(room, Tip(sequence, position))
            if publication is None:  # offset 0: an idle room's epoch marker (see nats_history)
                self._release(room, self._order.baseline(room, position.epoch, 0))
            else:
                self._release(room, self._order.arrive(publication))

        return on_message

    def _release(self, room: str, publications: list[Publication]) -> None:
        """Deliver what the reorder window released; arm its timer while the room holds one back."""
        local = self._local
        if local is not None:
            for publication in publications:
                local.deliver_publication(publication)
        waiting = self._order.waiting(room)
        timer = self._order_timers.get(room)
        if waiting and timer is None:
            loop = asyncio.get_running_loop()
            self._order_timers[room] = loop.call_later(REORDER_HOLD, self._give_up_waiting, room)
        elif not waiting and timer is not None:
            self._cancel_order_timer(room)

    def _cancel_order_timer(self, room: str) -> None:
        timer = self._order_timers.pop(room, None)
        if timer is not None:
            timer.cancel()

    def _give_up_waiting(self, room: str) -> None:
        self._order_timers.pop(room, None)
        self._release(room, self._order.give_up(room))

    def _first_delivery(self, room: str, key: str) -> bool:
        """True the first time ``key`` comes for ``room`` within ``idempotency_ttl`` (then remembered)."""
        now = time.monotonic()
        if self._delivered_keys.seen(room, key, now)[0]:
            return False
        self._delivered_keys.remember(room, key, None, now)
        return True

    # -- presence ------------------------------------------------------------------------------------
    async def _send(self, report: Report) -> None:
        await self._nc.publish(self.counts_subject, report.to_wire())

    async def _on_counts(self, msg: Any) -> None:
        try:
            report = Report.from_wire(msg.data)
        except ValueError as exc:
            logger.warning("Ignored a message on %s: %s", loggable(msg.subject), loggable(exc))
            return
        if report.process == self.process_id:
            future = self._pings.pop(report.nonce, None) if report.kind is ReportKind.PING else None
            if future is not None and not future.done():
                future.set_result(None)
        elif report.kind is ReportKind.HELLO:
            self._presence_wakeup.set()
        else:
            self._book.hear(report, time.monotonic())

    async def _refresh_counts(self) -> None:
        """Broadcast every local count each ``presence_ttl / 3``, and at once when woken."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._presence_wakeup.wait(), self.presence_ttl / 3)
            self._presence_wakeup.clear()
            self._book.expire(time.monotonic())
            local = self._local
            if local is None or not self.connected:
                continue
            counts = {room: local.local_count(room) for room in local.local_rooms()}
            try:
                async with self._lock:
                    for report in batches(self.process_id, self.presence_ttl, counts, max_rooms=MAX_ROOMS_PER_REPORT):
                        await self._send(report)
            except (nats.errors.Error, OSError) as exc:
                logger.debug("Presence broadcast failed (%s); retried on reconnect.", exc)

    async def count(self, room: str) -> int:
        """Members in every live process; ``HubError`` if NATS cannot answer within ``timeout``."""
        client, local = self._nc, self._local
        if client is None or local is None:
            raise not_running("count")
        nonce = uuid.uuid4().hex
        heard = self._pings[nonce] = asyncio.get_running_loop().create_future()
        try:
            if not client.is_connected:
                raise ConnectionError("disconnected, reconnecting")
            await self._send(Report(ReportKind.PING, self.process_id, nonce=nonce))
            await asyncio.wait_for(heard, self.timeout)
        except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
            raise self.unanswered("count", room, exc) from exc
        finally:
            self._pings.pop(nonce, None)
        return local.local_count(room) + self._book.count(room, time.monotonic())


def _jetstream_problem(url: str, exc: BaseException) -> str:
    """One line for a hub with history that cannot use JetStream."""
    unavailable = isinstance(exc, (nats.errors.NoRespondersError, nats.errors.TimeoutError)) or (
        "ServiceUnavailable" in type(exc).__name__
    )
    if unavailable:
        return (
            f"NATS at {url} has no JetStream, which Hub(history_size=...) needs: start nats-server with -js "
            "(or set jetstream in its config), or use history_size=0."
        )
    return f"Cannot set up the JetStream stream of the hub's history on NATS at {url}: {_describe(exc)}."


def _is_refusal(exc: BaseException) -> bool:
    """The server refused our credentials (retrying will not help)."""
    return isinstance(exc, nats.errors.AuthorizationError) or "Authorization Violation" in str(exc)


__all__ = ["MAX_ROOMS_PER_REPORT", "NatsBackend"]
