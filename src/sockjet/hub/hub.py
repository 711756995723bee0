"""``Hub``: rooms and publish, over an in-process, Redis, NATS or user-supplied backend.

Flow of one publish: ``publish(room, data)`` encodes ``data`` once into an ``Envelope`` ->
the backend carries it to every process (memory: this one, at once; Redis, NATS: every subscribed process) ->
each process's hub hands the same ASGI message to each local member (never awaiting): an idle
member's socket gets it at once, a busy member queues it for its writer. Who is in which room,
and when the backend must subscribe or unsubscribe, is decided by the pure ``Membership``.
Guarantees are listed in docs/hub.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from types import TracebackType
from typing import Any

from sockjet import status
from sockjet._checks import is_int
from sockjet.exceptions import ConfigurationError
from sockjet.hub.backends._urls import redacted
from sockjet.hub.backends.base import Backend
from sockjet.hub.backends.cluster_url import SCHEMES as CLUSTER_SCHEMES
from sockjet.hub.backends.cluster_url import parse_cluster_url
from sockjet.hub.backends.memory import MemoryBackend
from sockjet.hub.backends.presence import PRESENCE_TTL
from sockjet.hub.backends.sentinel_url import SCHEMES as SENTINEL_SCHEMES
from sockjet.hub.backends.sentinel_url import parse_sentinel_url
from sockjet.hub.backends.subjects import server_urls, subject_base
from sockjet.hub.channel import ChannelLink
from sockjet.hub.disconnect import disconnect_for
from sockjet.hub.envelope import Envelope
from sockjet.hub.history import (
    HISTORY_LOST_CLOSE_CODE,
    HISTORY_LOST_CLOSE_REASON,
    Frame,
    RoomHistories,
)
from sockjet.hub.hub_websocket import HubWebSocket
from sockjet.hub.loggable import loggable
from sockjet.hub.member import Member, fan_out
from sockjet.hub.membership import Action, Membership, needs_backend
from sockjet.hub.options import HubOptions, Option
from sockjet.hub.outbox import Outbox, OverflowPolicy
from sockjet.hub.position import History, Position, Publication, as_position
from sockjet.hub.presence import PresenceEvents, PresenceStats, encode_info, events_mode
from sockjet.hub.presence_tracker import Announced, Observer, PresenceTracker
from sockjet.hub.room_names import check_room
from sockjet.metrics import recorder as _metrics
from sockjet.shutdown import SignalDrain
from sockjet.types import Message

logger = logging.getLogger("sockjet.hub")

SHUTDOWN_CLOSE_CODE = status.WS_1001_GOING_AWAY
SHUTDOWN_CLOSE_REASON = "server shutting down"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://", *SENTINEL_SCHEMES, *CLUSTER_SCHEMES)
_NATS_SCHEMES = ("nats://", "tls://")
MAX_IDEMPOTENCY_KEY_BYTES = 256
"""The longest ``idempotency_key``, in bytes of UTF-8."""


class Hub:
    """Rooms of WebSocket members and a ``publish`` that reaches every member of a room.

    ``url``: ``None`` or ``"memory://"`` keeps everything in this process; ``"redis://host:port/db"``
    spans every process that uses the same Redis (``"redis+sentinel://..."`` behind Sentinel,
    ``"redis+cluster://..."`` on a Redis Cluster), ``"nats://host:port"`` (or ``tls://``, several
    comma-separated for a cluster) every process on the same NATS. Or ``backend=``: an instance of
    ``sockjet.hub.Backend`` of your own (docs/hub.md, "Writing a backend"), instead of a URL.
    Options are keyword-only:

    - ``max_queue`` / ``max_queue_bytes``: each member's outbox bound (messages / bytes);
    - ``overflow``: ``"close"`` (default: close the member with 1013) or ``"drop_oldest"``;
    - ``max_payload``: largest encoded publish in bytes (``PayloadTooLarge`` above it);
    - ``timeout``: bound on any one backend operation, e.g. a publish while Redis is down;
    - ``close_timeout``: bound on sending one close frame to a member;
    - ``drain_timeout``: at shutdown, how long members may flush their outbox before the 1001 close;
    - ``presence_ttl``: (Redis, NATS) a process that stopped refreshing its counts and presence is
      ignored after this, and its connections' leave events are emitted by a surviving process
      (default 8 s: a crashed process's users are offline everywhere within 9 s);
    - ``max_presence_info``: largest ``presence`` info of a join, in bytes of JSON;
    - ``presence_interval``: a member gets at most one presence frame per room per interval;
    - ``idempotency_ttl``: seconds during which a second ``publish`` with the same ``idempotency_key``
      to the same room stores and delivers nothing (and returns the first one's ``Position``);
    - ``drain_on_signal``: ``hub.lifespan`` closes every member with 1001 on the first SIGTERM/SIGINT,
      before the server (uvicorn) closes them with 1012.

    History (off by default: ``history_size=0`` keeps today's behaviour and cost):

    - ``history_size``: every room keeps its last ``history_size`` messages, each with a ``Position``;
    - ``history_ttl``: and none older than this many seconds (``None``: no age limit);
    - ``history_meta_ttl``: a room's epoch and offset are forgotten this long after its last publish
      (memory: and after its last local member left); its next publish then starts a new epoch;
    - ``frame``: how members receive a publication, e.g. ``sockjet.hub.json_frame`` (a JSON envelope
      with the position); ``None`` sends the payload as published, exactly as without history;
    - ``history_by_prefix``: per-room sizes by room-name prefix, e.g. ``{"presence:": 0}`` (the
      longest matching prefix wins; ``0``: that room keeps no history and publishes as without).

    Every process of one hub (same URL and prefix) must use the same history options.
    """

    max_queue: Option[int] = Option()
    max_queue_bytes: Option[int] = Option()
    overflow: Option[OverflowPolicy] = Option()
    max_payload: Option[int] = Option()
    timeout: Option[float] = Option()
    close_timeout: Option[float] = Option()
    drain_timeout: Option[float] = Option()
    presence_ttl: Option[float] = Option()
    max_presence_info: Option[int] = Option()
    presence_interval: Option[float] = Option()
    prefix: Option[str] = Option()
    history_size: Option[int] = Option()
    history_ttl: Option[float | None] = Option()
    history_meta_ttl: Option[float] = Option()
    frame: Option[Frame | None] = Option()
    history_by_prefix: Option[dict[str, int]] = Option()
    idempotency_ttl: Option[float] = Option()

    def __init__(
        self,
        url: str | None = None,
        *,
        max_queue: int = 256,
        max_queue_bytes: int = 4 * 1024 * 1024,
        overflow: OverflowPolicy = "close",
        max_payload: int = 1024 * 1024,
        timeout: float = 2.0,
        close_timeout: float = 1.0,
        drain_timeout: float = 1.0,
        presence_ttl: float = PRESENCE_TTL,
        max_presence_info: int = 1024,
        presence_interval: float = 0.1,
        prefix: str = "sockjet:hub:",
        history_size: int = 0,
        history_ttl: float | None = None,
        history_meta_ttl: float = 3600.0,
        frame: Frame | None = None,
        history_by_prefix: dict[str, int] | None = None,
        idempotency_ttl: float = 300.0,
        drain_on_signal: bool = True,
        backend: Backend | None = None,
    ) -> None:
        if backend is not None and not isinstance(backend, Backend):
            raise ConfigurationError(f"backend must be an instance of sockjet.hub.Backend, got {loggable(backend)}.")
        if backend is not None and url is not None:
            raise ConfigurationError("Give the hub a URL or a backend, not both.")
        if url is not None and url != "memory://" and not url.startswith(_REDIS_SCHEMES + _NATS_SCHEMES):
            raise ConfigurationError(
                f"Unsupported hub URL {redacted(url)!r}: use None or 'memory://' for one process, "
                "or 'redis://host:port/db', 'redis+sentinel://host:26379/<master name>', "
                "'redis+cluster://host1:7000,host2:7001' or 'nats://host:port' to span processes."
            )
        if url is not None and url.startswith(_NATS_SCHEMES):
            server_urls(url)
            subject_base(prefix)
        if url is not None and url.startswith(SENTINEL_SCHEMES):
            parse_sentinel_url(url)  # a bad Sentinel URL fails here, not at the first publish
        if url is not None and url.startswith(CLUSTER_SCHEMES):
            parse_cluster_url(url)
        self.options = HubOptions(
            max_queue=max_queue,
            max_queue_bytes=max_queue_bytes,
            overflow=overflow,
            max_payload=max_payload,
            timeout=timeout,
            close_timeout=close_timeout,
            drain_timeout=drain_timeout,
            presence_ttl=presence_ttl,
            max_presence_info=max_presence_info,
            presence_interval=presence_interval,
            prefix=prefix,
            history_size=history_size,
            history_ttl=history_ttl,
            history_meta_ttl=history_meta_ttl,
            frame=frame,
            history_by_prefix=history_by_prefix,
            idempotency_ttl=idempotency_ttl,
        )
        """Every option but the URL, the backend and ``drain_on_signal``, checked and frozen."""
        self.url = url
        self._given_backend = backend
        self.drain_on_signal = drain_on_signal
        """Read when ``hub.lifespan`` starts: may be changed until then."""
        self._membership: Membership[Member] = Membership()
        self._members: dict[int, Member] = {}
        self._loops: dict[asyncio.AbstractEventLoop, int] = {}
        """How many members each event loop serves (almost always one loop)."""
        self._backend: Backend = MemoryBackend(idempotency_ttl=self.options.idempotency_ttl)
        self._running = False
        self._stopping = False
        self._start_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._channels = 0
        """How many members carry a channels link (``attach_channel``): none, and deliveries skip that path."""
        self._codecs: dict[Any, int] = {}
        """The codecs of the attached channels links, with how many links use each."""
        self._framed: dict[str, int] = {}
        """Per room, how many of its members carry a channels link."""
        self._history: RoomHistories[Member] | None = None
        rules = self.options.retention
        if rules.any:
            self._history = RoomHistories(
                rules,
                self.options.frame,
                members=self._membership.members,
                deliver=self._deliver_to,
                lost=self._history_lost,
                spawn=self._spawn,
                framed=self._deliver_framed,
            )
        self._presence = PresenceTracker(self._offer, interval=self.options.presence_interval, spawn=self._spawn)

    def __repr__(self) -> str:
        if self._given_backend is not None:
            return f"Hub(backend={type(self._given_backend).__name__})"
        return f"Hub({self.url!r})"

    # -- lifecycle ------------------------------------------------------------------------------------
    def _make_backend(self) -> Backend:
        if self._given_backend is not None:
            return self._given_backend  # started again after each stop
        if self.url is None or self.url == "memory://":
            return MemoryBackend(idempotency_ttl=self.options.idempotency_ttl)
        if self.url.startswith(_NATS_SCHEMES):
            from sockjet.hub.backends.nats import NatsBackend

            return NatsBackend(
                self.url,
                timeout=self.options.timeout,
                prefix=self.options.prefix,
                presence_ttl=self.options.presence_ttl,
                history=None if self._history is None else self._history.retention.widest,
                idempotency_ttl=self.options.idempotency_ttl,
            )
        from sockjet.hub.backends.redis import RedisBackend

        return RedisBackend(
            self.url,
            timeout=self.options.timeout,
            prefix=self.options.prefix,
            presence_ttl=self.options.presence_ttl,
            idempotency_ttl=self.options.idempotency_ttl,
        )

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Connect the backend (idempotent). ``HubError`` if it cannot, e.g. Redis is unreachable.

        ``join`` and ``publish`` start the hub on first use; starting it in the lifespan makes a
        bad URL fail at startup instead, and lets shutdown close every member.
        """
        async with self._start_lock:
            if self._running:
                return
            backend = self._make_backend()
            await backend.start(_LocalView(self))
            try:
                await self._presence.start(backend.presence_store())
            except BaseException:
                await backend.stop()
                raise
            self._backend = backend
            if self._history is not None:
                self._history.backend = backend
            self._running = True

    async def aclose(self) -> None:
        """Close every member with 1001, end every writer, disconnect the backend. Idempotent.

        Bounded: members get ``drain_timeout`` to flush, then ``close_timeout`` for the close frame.
        The hub can be started again afterwards.
        """
        if not self._running:
            return
        self._stopping = True
        try:
            await self._close_members()
            while self._background:
                await asyncio.gather(*self._background, return_exceptions=True)
            await self._presence.stop()
            await self._backend.stop()
        finally:
            self._membership.clear()
            self._framed.clear()
            self._codecs.clear()
            self._channels = 0
            self._members.clear()
            if self._history is not None:
                self._history.clear()
                self._history.backend = None
            self._loops.clear()
            self._running = False
            self._stopping = False

    async def _close_members(self) -> None:
        """Close this loop's members with 1001 after up to ``drain_timeout`` of flushing; wait for them."""
        loop = asyncio.get_running_loop()
        members = [m for m in self._members.values() if m.loop is loop]
        for member in members:
            member.close(SHUTDOWN_CLOSE_CODE, SHUTDOWN_CLOSE_REASON, drain=self.options.drain_timeout)
        await asyncio.gather(*(member.wait_closed() for member in members))

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        async with self:
            signals = SignalDrain(self._close_members, draining=lambda: self._stopping)
            if self.drain_on_signal:
                signals.install()
            try:
                yield
            finally:
                signals.restore()

    def lifespan(self, app: Any = None) -> contextlib.AbstractAsyncContextManager[None]:
        """``App(lifespan=hub.lifespan)`` or ``FastAPI(lifespan=hub.lifespan)``: start, then close every member (1001).

        With ``drain_on_signal`` (the default), the first SIGTERM/SIGINT closes every member with
        1001 "server shutting down" *before* the server hears the signal: uvicorn would otherwise
        close them with 1012 first, as it closes every WebSocket before the lifespan shutdown runs.
        Compose it in your own lifespan with ``async with hub.lifespan(app):`` or ``async with hub:``
        (the latter hooks no signal).
        """
        return self._lifespan()

    # -- membership ------------------------------------------------------------------------------------
    def join(
        self,
        room: str,
        websocket: HubWebSocket,
        *,
        overflow: OverflowPolicy | None = None,
        max_queue: int | None = None,
        max_queue_bytes: int | None = None,
        presence: dict[str, Any] | None = None,
        presence_events: PresenceEvents = False,
        since: Position | str | None = None,
    ) -> contextlib.AbstractAsyncContextManager[Member]:
        """``async with hub.join(room, websocket) as member:`` -- a member of ``room`` inside the block.

        ``websocket``: sockjet's, Starlette's or FastAPI's ``WebSocket`` (anything that fits
        ``HubWebSocket``). It must be accepted. It leaves the room when the block exits, however it
        exits; leaving its last room ends its writer (queued messages are dropped). The options set
        this connection's outbox on its first join; a later join must not ask for different ones.

        ``presence``: a small JSON object announced in ``hub.presence(room)`` under
        ``member.connection_id`` while the block runs (``TypeError`` if not a JSON-able dict,
        ``PresenceInfoTooLarge`` over ``max_presence_info``). ``presence_events``: ``True`` or
        ``"connections"`` sends this member the room's presence state, then every join and leave;
        ``"users"`` only a user's first connection joining and last leaving (docs/hub.md#presence).

        ``since`` (a ``Position`` or its ``str`` token; needs ``history_size > 0``): first deliver every
        retained message after it, then live messages -- no gap, no duplicate at the seam.
        ``member.recovered`` tells whether that held; when it cannot (trimmed, expired, another
        epoch or room, an offset beyond the top) nothing is replayed and ``recovered`` is False.
        A garbage token raises ``ValueError``. ``since`` counts on a connection's first join of a room.
        With history, ``member.position`` is the room's latest position once the member is live
        (a room without a stream starts one at offset 0): hand it to the client to resume from.
        """
        check_room(room)
        position = as_position(since)
        if position is not None and not self._keeps_history(room):
            raise ConfigurationError(
                f"Cannot join room {loggable(room)} with since={str(position)!r}: this hub keeps no history for it. "
                "Create it with Hub(history_size=N)."
            )
        mode = events_mode(presence_events)
        info_json: str | None = None
        user_key = ""
        if presence is not None:
            info_json, user_key = encode_info(presence, max_bytes=self.options.max_presence_info)
        announced = _SILENT if info_json is None and mode is None else Announced(info_json, user_key, mode)
        return _Join(self, room, websocket, overflow, max_queue, max_queue_bytes, announced, position)

    def members(self, room: str) -> tuple[Member, ...]:
        """The members of ``room`` in this process, in joining order."""
        return self._membership.members(room)

    def local_count(self, room: str) -> int:
        """How many members ``room`` has in this process."""
        return self._membership.count(room)

    async def count(self, room: str) -> int:
        """How many members ``room`` has in every process (Redis, NATS), or in this one (memory).

        With Redis or NATS, counts of other processes are as fresh as their last refresh (``presence_ttl / 3``
        at most, usually milliseconds); ``HubError`` if the backend cannot answer within ``timeout``.
        """
        check_room(room)
        await self.start()
        return await self._backend.count(room)

    async def presence(self, room: str) -> dict[str, dict[str, Any]]:
        """Connection id -> announced info of everyone in ``room``, in every process of the backend.

        A crashed process's connections are gone from it ``presence_ttl`` after its last refresh
        (Redis; NATS: up to a reap interval, 1 s, later). ``HubError`` if the backend cannot answer
        within ``timeout``.
        """
        check_room(room)
        await self.start()
        return await self._presence.presence(room)

    async def presence_stats(self, room: str) -> PresenceStats:
        """``PresenceStats(connections, users)`` of ``room`` in every process, without listing anyone.

        ``users`` counts distinct ``info["user"]`` values (a connection without one is a user of
        its own). O(1) on Redis. ``HubError`` if the backend cannot answer within ``timeout``.
        """
        check_room(room)
        await self.start()
        return await self._presence.stats(room)

    def on_presence(self, observer: Observer) -> Observer:
        """Call ``observer(event)`` for each presence change, exactly once across every process.

        It runs in the process that made the change: the one whose member joined or left, or the
        one whose reaper removed a crashed process's connections (``event.expired``). A function
        returning an awaitable is run as a task the hub awaits at shutdown. Usable as a decorator.
        """
        self._presence.add_observer(observer)
        return observer

    def off_presence(self, observer: Observer) -> None:
        """Stop calling ``observer`` (no error if it was not registered)."""
        self._presence.remove_observer(observer)

    def rooms(self) -> list[str]:
        """Rooms with at least one member in this process."""
        return self._membership.rooms()

    def member(self, websocket: HubWebSocket) -> Member | None:
        """This WebSocket's member, if it is in a room of this hub."""
        return self._members.get(id(websocket))

    async def attach_channel(self, websocket: HubWebSocket, link: ChannelLink, *, connection_id: str) -> Member:
        """The member of a ``sockjet.channels`` connection, made before its first join (starts the hub).

        Unlike a plain member it stays attached while it is in no room (its connection sends
        replies through its outbox) until ``detach_channel``; its rooms' messages are framed by
        ``link.codec``; a room whose history is lost is reported to ``link.lost``, not closed.
        """
        if self._members.get(id(websocket)) is not None:
            raise RuntimeError("This WebSocket already has a member in this hub; attach it before any join.")
        member = await self._member_for(websocket, None, None, None, "")
        member.channel = link
        member.connection_id = connection_id
        self._channels += 1
        self._codecs[link.codec] = self._codecs.get(link.codec, 0) + 1
        return member

    async def detach_channel(self, member: Member) -> None:
        """End an attached channels member (after its joins ended): its writer stops, queued frames are dropped."""
        self._unregister(member)
        await member._stop()

    # -- publish ------------------------------------------------------------------------------------
    @_metrics.observe_publish
    async def publish(self, room: str, data: Any, *, idempotency_key: str | None = None) -> Position | None:
        """Send ``data`` to every member of ``room``, in every process; no need to be a member.

        ``str`` -> text frame, ``bytes`` -> binary frame, anything else -> JSON text (encoded once).
        Returning means the backend took it (and, with history, stored it), not that members
        received it. Returns the message's ``Position`` when the hub keeps history, else ``None``.

        ``idempotency_key`` makes a retry safe: within ``idempotency_ttl`` seconds of a publish with
        the same key to the same room, this one stores and delivers nothing and returns the first
        one's ``Position`` (``None`` without history). Raises ``PayloadTooLarge`` over
        ``max_payload``, ``TypeError`` for what JSON cannot encode, ``PublishError`` when the hub
        knows the message was not stored or sent (the backend was unreachable, or refused it), and
        its subclass ``PublishOutcomeUnknown`` when the request was sent but no answer came within
        ``timeout``: the message may have been delivered, so retry with the same key.
        """
        check_room(room)
        _check_idempotency_key(idempotency_key)
        envelope = Envelope.build(room, data, max_payload=self.options.max_payload)
        if not self._running:
            await self.start()
        if self._history is None or not self._keeps_history(room):
            await self._backend.publish(envelope, key=idempotency_key)
            return None
        return await self._history.publish(self._backend, envelope, data, key=idempotency_key)

    async def history(self, room: str, *, since: Position | str | None = None, limit: int | None = None) -> History:
        """The retained messages of ``room`` after ``since`` (all retained ones without it), oldest first.

        ``History.recovered`` is True when ``messages`` holds every message after ``since`` (with
        ``limit``, the first ``limit`` of them); otherwise ``messages`` is empty -- never a partial
        list. Without ``since`` it is True and ``messages`` is what is retained (older ones may have
        been trimmed: compare the first offset with 1). ``ConfigurationError`` without history,
        ``ValueError`` for a garbage ``since``, ``HubError`` if the backend cannot answer.
        """
        check_room(room)
        position = as_position(since)
        if not (limit is None or (is_int(limit) and limit >= 0)):
            raise ValueError(f"limit must be None or an int >= 0, got {limit!r}.")
        if self._history is None or not self._keeps_history(room):
            raise ConfigurationError(
                f"hub.history({loggable(room)}) needs a hub that keeps history for that room: Hub(history_size=N)."
            )
        if not self._running:
            await self.start()
        return await self._history.history(self._backend, room, position, limit)

    # -- internals ------------------------------------------------------------------------------------
    def _keeps_history(self, room: str) -> bool:
        return self._history is not None and self._history.retention(room) is not None

    def _history_lost(self, room: str) -> None:
        _metrics.current.history_lost(len(self._membership.members(room)))
        for member in self._membership.members(room):
            if member.channel is not None:
                member.channel.lost(room)  # one subscription ends, not the socket
            else:
                member.close(HISTORY_LOST_CLOSE_CODE, HISTORY_LOST_CLOSE_REASON)

    def _deliver(self, envelope: Envelope) -> None:
        members = self._membership.members(envelope.room)
        if self._channels:
            members = self._deliver_framed(members, envelope)
        if not members:
            return
        self._deliver_to(members, envelope.message(), envelope.size)

    def _deliver_framed(self, members: tuple[Member, ...], source: Envelope | Publication) -> tuple[Member, ...]:
        """Deliver ``source`` to the members with a channels link, framed once per codec; return the others."""
        framed_count = self._framed.get(source.room)
        if not framed_count:
            return members
        if framed_count == len(members) and len(self._codecs) == 1:  # the common case: one Channels, its room
            codec = next(iter(self._codecs))
            if not codec.diverting:
                message, size = codec.frame(source)
                _metrics.current.channel_pushed(len(members))
                self._deliver_to(members, message, size)
                return ()
        plain: list[Member] = []
        framed: dict[Any, list[Member]] = {}
        for member in members:
            link = member.channel
            if link is None:
                plain.append(member)
                continue
            group = framed.get(link.codec)
            if group is None:
                framed[link.codec] = [member]
            else:
                group.append(member)
        room = source.room
        for codec, group in framed.items():
            message, size = codec.frame(source)
            direct: list[Member] = []
            for member in group:
                link = member.channel
                if link is not None and link.diverting and link.divert(room, message, size):
                    continue
                direct.append(member)
            if direct:
                _metrics.current.channel_pushed(len(direct))
                self._deliver_to(tuple(direct), message, size)
        return tuple(plain) if len(plain) != len(members) else members

    def _deliver_to(self, members: tuple[Member, ...], message: Message, size: int) -> None:
        """The same prebuilt message to each member (never awaits)."""
        _metrics.current.delivered(len(members))
        loop = asyncio.get_running_loop()
        if len(self._loops) > 1 or loop not in self._loops:  # members served by other event loops (threads)
            for member in members:
                if member.loop is not loop:
                    member.loop.call_soon_threadsafe(member.deliver, message, size)
            members = tuple(member for member in members if member.loop is loop)
        fan_out(members, message, size)

    def _offer(self, member: Member, message: Message, size: int) -> None:
        link = member.channel
        if link is not None:  # a presence frame for a channels connection
            room, message, size = link.codec.presence(message, size)
            if link.diverting and link.divert(room, message, size):
                return  # held back: counted as a push when the subscribe lets it through
            _metrics.current.channel_pushed()
        if member.loop is asyncio.get_running_loop():
            member.deliver(message, size)
        else:  # a member served by another event loop (thread)
            member.loop.call_soon_threadsafe(member.deliver, message, size)

    def _outbox_for(
        self, overflow: OverflowPolicy | None, max_queue: int | None, max_queue_bytes: int | None
    ) -> Outbox[Message]:
        return Outbox(
            max_messages=self.options.max_queue if max_queue is None else max_queue,
            max_bytes=self.options.max_queue_bytes if max_queue_bytes is None else max_queue_bytes,
            overflow=self.options.overflow if overflow is None else overflow,
        )

    async def _join_block(self, block: _Join) -> Member:
        """Enter one ``hub.join`` block: the member (made or reused), the room, its presence, its position."""
        room, websocket, announced = block.room, block.websocket, block.announced
        # By name, so that a Starlette/FastAPI WebSocket (its own WebSocketState) can join too.
        if getattr(websocket.application_state, "name", None) != "CONNECTED":
            raise RuntimeError(
                f"Cannot join room {loggable(room)}: the WebSocket is not connected. "
                "Call 'await websocket.accept()' first."
            )
        member = await self._member_for(websocket, block.overflow, block.max_queue, block.max_queue_bytes, room)
        if self._membership.depth(room, member):
            self._presence.check_nested(room, member, announced)
        await self._enter(room, member, block.since)
        if self._membership.depth(room, member) == 1:
            try:
                await self._presence.join(room, member, announced)
            except BaseException:
                await self._exit(room, member)
                raise
        member.position = None if self._history is None else self._history.position(room, member)
        member._entered(block.task)
        return member

    async def _leave_block(
        self, room: str, member: Member, task: asyncio.Task[Any] | None, exc: BaseException | None
    ) -> None:
        """Leave one ``hub.join`` block; the block ends as a disconnect if the hub closed the member."""
        interrupted = member._exited(task, exc)
        await self._exit(room, member)
        if interrupted:
            code = member.close_code or status.WS_1006_ABNORMAL_CLOSURE
            raise disconnect_for(member.websocket, code, "closed by the hub") from None
        if member.peer_gone and isinstance(exc, RuntimeError):
            # A delivery found the peer gone, so the socket now refuses the endpoint's next call
            # ("WebSocket is not connected"): end the block as the disconnect it is.
            raise disconnect_for(member.websocket, status.WS_1006_ABNORMAL_CLOSURE) from None

    async def _member_for(
        self,
        websocket: HubWebSocket,
        overflow: OverflowPolicy | None,
        max_queue: int | None,
        max_queue_bytes: int | None,
        room: str,
    ) -> Member:
        """This WebSocket's member, built on its first join (after starting the hub)."""
        member = self._members.get(id(websocket))
        if member is not None:
            _check_same_options(member, room, overflow, max_queue, max_queue_bytes)
            return member
        outbox = self._outbox_for(overflow, max_queue, max_queue_bytes)
        if not self._running:
            await self.start()
        member = self._members.get(id(websocket))  # another join of the same socket may have won the start
        if member is None:
            loop = asyncio.get_running_loop()
            member = Member(
                websocket,
                outbox=outbox,
                membership=self._membership,
                max_payload=self.options.max_payload,
                close_timeout=self.options.close_timeout,
                on_gone=self._forget,
                loop=loop,
            )
            self._members[id(websocket)] = member
            self._loops[loop] = self._loops.get(loop, 0) + 1
        return member

    async def _enter(self, room: str, member: Member, since: Position | None) -> None:
        """Put ``member`` in ``room``; on the room's first local member, wait for the backend.

        With history, the member's first join of the room then catches it up after ``since``.
        """
        actions = self._membership.join(room, member)
        if member.channel is not None and actions:
            self._framed[room] = self._framed.get(room, 0) + 1
        if not needs_backend(actions):
            return
        history = self._history if self._keeps_history(room) else None
        if history is not None:
            history.enter(room, member, since)
        try:
            await self._backend.sync_room(room)
            if history is not None:
                member.recovered = await history.catch_up(self._backend, room, member, since)
                if since is not None:
                    _metrics.current.recovery(member.recovered)
        except BaseException:
            await self._exit(room, member)
            raise

    async def _exit(self, room: str, member: Member) -> None:
        """Take ``member`` out of ``room`` once (the outermost block ends its membership)."""
        if self._membership.depth(room, member) == 1:
            await self._presence.leave(room, member)
        actions = self._membership.leave(room, member)
        if member.channel is not None and needs_backend(actions):
            self._unframe(room)
        if self._history is not None and needs_backend(actions):
            self._history.left(room, member, Action.UNSUBSCRIBE in actions)
        if needs_backend(actions) and self._running:
            try:
                await self._backend.sync_room(room)
            except Exception as exc:  # leaving must complete; the backend catches up on reconnect
                logger.warning(
                    "Could not tell the backend that a member left room %s: %s", loggable(room), loggable(exc)
                )
        if Action.STOP_MEMBER in actions and member.channel is None:
            self._unregister(member)
            await member._stop()
        elif member not in self._membership and (member.channel is None or member.closed):
            await member._stop()  # closed or gone meanwhile: wait until the hub is done with it
        # A channels member stays attached without rooms: its connection still sends replies.

    def _unframe(self, room: str) -> None:
        left = self._framed.pop(room) - 1
        if left:
            self._framed[room] = left

    def _unregister(self, member: Member) -> None:
        if self._members.get(id(member.websocket)) is member:
            del self._members[id(member.websocket)]
            link = member.channel
            if link is not None:
                self._channels -= 1
                left = self._codecs.pop(link.codec) - 1
                if left:
                    self._codecs[link.codec] = left
            left = self._loops[member.loop] - 1
            if left:
                self._loops[member.loop] = left
            else:
                del self._loops[member.loop]

    def _forget(self, member: Member) -> None:
        """The member will get nothing more (closed, or its socket is gone): out of every room now."""
        self._unregister(member)
        changes = self._membership.remove(member)
        if member.channel is not None:
            for room in changes:
                self._unframe(room)
        if self._history is not None:
            for room, actions in changes.items():
                self._history.left(room, member, Action.UNSUBSCRIBE in actions)
        if self._presence.rooms_of(member):
            self._spawn(self._presence.forget(member))
        rooms = [room for room, actions in changes.items() if needs_backend(actions)]
        if rooms and self._running and not self._stopping:
            self._spawn(self._sync_rooms(rooms))

    async def _sync_rooms(self, rooms: list[str]) -> None:
        for room in rooms:
            await self._backend.sync_room(room)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class _LocalView:
    """What the backend sees of the hub (``LocalRooms``)."""

    __slots__ = ("_hub",)

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def deliver(self, envelope: Envelope) -> None:
        self._hub._deliver(envelope)

    def local_count(self, room: str) -> int:
        return self._hub.local_count(room)

    def local_rooms(self) -> list[str]:
        return self._hub.rooms()

    def deliver_publication(self, publication: Publication) -> None:
        history = self._hub._history
        if history is not None:
            history.deliver(publication)
        else:  # another process of this hub keeps history: deliver the payload as it is
            self._hub._deliver(Envelope(publication.room, publication.payload, publication.kind))

    def stream_interrupted(self, rooms: list[str]) -> None:
        self._hub._presence.interrupted(rooms)
        history = self._hub._history
        if history is not None:
            history.interrupted(rooms)


_SILENT = Announced(None, "", None)
"""What a join without presence announces (nothing): one value for all of them."""


def _check_idempotency_key(key: Any) -> None:
    if key is None:
        return
    if not isinstance(key, str):
        raise TypeError(f"idempotency_key must be a str or None, got {loggable(key)}.")
    if not key:
        raise ValueError("idempotency_key must be a non-empty str, got ''.")
    try:
        size = len(key) if key.isascii() else len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(
            f"idempotency_key must be valid UTF-8 text (no lone surrogates), got {loggable(key)}."
        ) from None
    if size > MAX_IDEMPOTENCY_KEY_BYTES:
        raise ValueError(
            f"idempotency_key is at most {MAX_IDEMPOTENCY_KEY_BYTES} bytes of UTF-8, got {size} bytes: {loggable(key)}."
        )


def _check_same_options(
    member: Member, room: str, overflow: OverflowPolicy | None, max_queue: int | None, max_queue_bytes: int | None
) -> None:
    asked = (
        ("overflow", overflow, member.overflow),
        ("max_queue", max_queue, member.max_queue),
        ("max_queue_bytes", max_queue_bytes, member.max_queue_bytes),
    )
    for name, wanted, actual in asked:
        if wanted is not None and wanted != actual:
            raise ConfigurationError(
                f"This WebSocket already has an outbox with {name}={actual!r}; it cannot join {loggable(room)} "
                f"with {name}={wanted!r}. A connection has one outbox per hub: pass the same options, or none."
            )


class _Join:
    """The ``async with hub.join(room, websocket)`` context; yields the ``Member`` (``Hub._join_block``)."""

    __slots__ = (
        "_hub",
        "_member",
        "announced",
        "max_queue",
        "max_queue_bytes",
        "overflow",
        "room",
        "since",
        "task",
        "websocket",
    )

    def __init__(
        self,
        hub: Hub,
        room: str,
        websocket: HubWebSocket,
        overflow: OverflowPolicy | None,
        max_queue: int | None,
        max_queue_bytes: int | None,
        announced: Announced,
        since: Position | None = None,
    ) -> None:
        self._hub = hub
        self.room, self.websocket, self.since, self.announced = room, websocket, since, announced
        self.overflow, self.max_queue, self.max_queue_bytes = overflow, max_queue, max_queue_bytes
        self._member: Member | None = None
        self.task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> Member:
        if self._member is not None:
            raise RuntimeError("This hub.join(...) context is already in use; call hub.join again.")
        self.task = asyncio.current_task()
        self._member = await self._hub._join_block(self)
        return self._member

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        member, self._member = self._member, None
        if member is not None:
            await self._hub._leave_block(self.room, member, self.task, exc)


__all__ = ["SHUTDOWN_CLOSE_CODE", "SHUTDOWN_CLOSE_REASON", "Hub"]
