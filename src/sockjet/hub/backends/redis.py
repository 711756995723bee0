"""The Redis backend: PUBLISH to one channel per room, one pub/sub connection per process.

- Subscriptions follow local membership: a room is subscribed while this process has a member
  in it (``sync_room``), and a join waits for Redis to confirm the subscription, so a publish
  made anywhere after ``join`` returned reaches the new member.
- Commands share a pool of ``max_connections`` connections: a publish beyond that many in flight
  waits for a free one (as long as it takes: the queue is this process's own), and ``timeout``
  bounds what Redis is asked -- the connect and the reply -- not that wait.
- If Redis goes away, ``publish`` raises ``PublishError`` within ``timeout`` when the command
  never left (no connection), ``PublishOutcomeUnknown`` when it was sent and no reply came; the reader
  reconnects with exponential backoff and re-subscribes every local room by itself. Members
  stay connected; what was published during the outage is not delivered (at-most-once).
- History (``Hub(history_size=N)``): streams and one Lua script per publish, see ``redis_history``.
  After the subscriber reconnects, the hub is told (``stream_interrupted``) and fills each room's
  gap from the stream.
- Presence: one hash per room, ``{prefix}presence:{room}``, field = this process's id, value =
  ``"<count>:<expires_at>"``; refreshed every ``presence_ttl / 3`` seconds, so a process that
  died stops counting after ``presence_ttl``.
- Behind Sentinel (``redis+sentinel://``) connections ask for the master each time they connect;
  on a Redis Cluster (``redis+cluster://``) every name of a room carries its slot's hash tag
  (``slot_tags``), commands go through redis-py's cluster client and live delivery through shard
  channels (``redis_shards``). Both bind a room's epoch to the master's replication history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sockjet.exceptions import ConfigurationError, HubError, PublishError, PublishOutcomeUnknown
from sockjet.hub.backends import redis_history
from sockjet.hub.backends._tasks import end_task
from sockjet.hub.backends._urls import redacted
from sockjet.hub.backends.base import LocalRooms, Retention
from sockjet.hub.backends.cluster_url import SCHEMES as CLUSTER_SCHEMES
from sockjet.hub.backends.cluster_url import ClusterURL, parse_cluster_url
from sockjet.hub.backends.describe import describe as _describe
from sockjet.hub.backends.presence import PRESENCE_TTL
from sockjet.hub.backends.redis_confirmations import Confirmations, confirmed_within
from sockjet.hub.backends.redis_errors import UNANSWERED
from sockjet.hub.backends.remote import RemoteBackend, not_running
from sockjet.hub.backends.sentinel_url import SCHEMES as SENTINEL_SCHEMES
from sockjet.hub.backends.sentinel_url import SentinelURL, parse_sentinel_url
from sockjet.hub.backends.slot_tags import tagged, untagged
from sockjet.hub.envelope import Envelope
from sockjet.hub.loggable import loggable
from sockjet.hub.position import Position, Publication, StreamSlice, new_epoch
from sockjet.hub.wire import is_presence
from sockjet.metrics import recorder as _metrics

if TYPE_CHECKING:
    from sockjet.hub.backends.redis_presence import RedisPresenceStore
    from sockjet.hub.backends.redis_shards import ShardSubscriber

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError
except ImportError:  # pragma: no cover - depends on the installed extras
    aioredis = None  # type: ignore[assignment]
    RedisError = RedisClusterException = OSError  # type: ignore[misc,assignment]

logger = logging.getLogger("sockjet.hub")


_CONTROL = "__sockjet_control__"
"""A channel every process subscribes to, so the pub/sub connection always exists."""


class _Failed(Exception):
    """A command that got no reply: ``sent`` tells whether it may have reached Redis."""

    def __init__(self, cause: BaseException, *, sent: bool) -> None:
        super().__init__(cause)
        self.cause = cause
        self.sent = sent


def sentinel_pool(url: SentinelURL, timeout: float, options: dict[str, Any]) -> Any:
    """A blocking pool whose connections ask the Sentinels for the master each time they connect
    (so after a failover they reach the new one; a demoted master's READONLY drops them)."""
    from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

    class SentinelBlockingPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
        """redis-py's Sentinel pool, waiting for a free connection instead of refusing the 65th."""

    asking: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if url.sentinel_password is not None:
        asking |= {"password": url.sentinel_password, "username": url.sentinel_username}
    if url.tls:
        asking["ssl"] = True
    sentinels = Sentinel(list(url.sentinels), sentinel_kwargs=asking)  # type: ignore[no-untyped-call]
    master = {"db": url.db, "username": url.username, "password": url.password, "ssl": url.tls}
    return SentinelBlockingPool(url.master, sentinels, **options, **master)  # type: ignore[no-untyped-call]


def cluster_client(url: ClusterURL, timeout: float, max_connections: int) -> Any:
    """redis-py's cluster client: it learns the slots from the seeds and follows ``MOVED``/``ASK``.

    It retries nothing itself (a publish sent twice would be delivered twice: the hub's errors
    say whether one may have arrived), and serves the slots it can when a master is gone.
    """
    from redis.asyncio.cluster import ClusterNode

    client = aioredis.RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in url.seeds],
        require_full_coverage=False,
        username=url.username,
        password=url.password,
        ssl=url.tls,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        max_connections=max_connections,
        retry=Retry(NoBackoff(), 0),
    )
    client.commands_parser = _CommandTable()
    return client


if aioredis is not None:
    from redis._parsers.commands import AsyncCommandsParser

    class _CommandTable(AsyncCommandsParser):
        """redis-py's table of where each command's keys are, read once.

        redis-py re-initializes a cluster client after every connection error, and each time it
        re-reads ``COMMAND`` too (a reply of some hundred kB, parsed in Python): with a master dead,
        every publish to its rooms made the next command of any room pay that, and publishes to
        live rooms ran out of time. The table does not change with the topology; the slots are
        still re-read each time.
        """

        __slots__ = ()

        async def initialize(self, node: Any = None) -> None:
            if node is not None:
                self.node = node
            if not self.commands:
                await super().initialize()


def _never_sent(exc: BaseException) -> bool:
    """The cluster client failed before sending: no connection to the node (redis-py's connect errors)."""
    return isinstance(exc, (RedisClusterException, ConnectionRefusedError)) or "connecting to" in str(exc)


class RedisBackend(RemoteBackend):
    """Redis pub/sub through redis-py's asyncio client."""

    broker = "Redis"

    max_connections = 64
    """Connections for commands (the pub/sub connection is one more); more in flight wait for one."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        prefix: str = "sockjet:hub:",
        presence_ttl: float = PRESENCE_TTL,
        backoff: tuple[float, float] = (0.05, 2.0),
        idempotency_ttl: float = 300.0,
    ) -> None:
        if aioredis is None:  # pragma: no cover - depends on the installed extras
            raise ConfigurationError("Hub(url='redis://...') needs redis-py: pip install 'sockjet[redis]'.")
        super().__init__(url, timeout=timeout, presence_ttl=presence_ttl, idempotency_ttl=idempotency_ttl)
        self.sentinel = parse_sentinel_url(url) if url.startswith(SENTINEL_SCHEMES) else None
        """With a ``redis+sentinel://`` URL: the Sentinels that say which node is the master."""
        self.cluster = parse_cluster_url(url) if url.startswith(CLUSTER_SCHEMES) else None
        """With a ``redis+cluster://`` URL: the seed nodes of the cluster."""
        self._shards: ShardSubscriber | None = None
        """On a cluster: the rooms' shard channels, each on the node that owns its slot."""
        self._in_flight = asyncio.Semaphore(self.max_connections)
        """On a cluster: commands in flight (its client refuses a connection past its maximum)."""
        self.prefix = prefix
        self.backoff = backoff
        self.failed_reads = 0
        """How often the subscriber lost Redis or failed to reconnect (for logs and tests)."""
        self._client: Any = None
        self._publish_scripts: dict[Retention, str] = {}
        """The publish script of each retention in use."""
        self._scripts: dict[str, str] = {
            self.script(redis_history.READ_SCRIPT): redis_history.sha1(self.script(redis_history.READ_SCRIPT)),
            self.script(redis_history.PUBLISH_ONCE_SCRIPT): redis_history.sha1(
                self.script(redis_history.PUBLISH_ONCE_SCRIPT)
            ),
        }
        """Script text -> its sha, for ``EVALSHA``."""
        self._pubsub: Any = None
        self._subscribed: set[str] = set()
        self._confirmations = Confirmations()
        self._lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._presence: asyncio.Task[None] | None = None
        self._dirty: set[str] = set()
        self._presence_wakeup = asyncio.Event()
        self._presence_lock = asyncio.Lock()
        self._present: set[str] = set()
        """Rooms where this process's presence field may be set; removed at ``stop``."""

    # -- names ------------------------------------------------------------------------------------
    def tagged(self, room: str) -> str:
        """``room`` as its keys and channel name it: on a cluster behind its slot's hash tag."""
        return room if self.cluster is None else tagged(room)

    @property
    def channel_prefix(self) -> str:
        """What every room's channel name starts with (then comes the room, tagged on a cluster)."""
        return f"{self.prefix}room:"

    def channel(self, room: str) -> bytes:
        return f"{self.channel_prefix}{self.tagged(room)}".encode()

    def counts_key(self, room: str) -> str:
        return f"{self.prefix}presence:{self.tagged(room)}"

    def _room_of(self, channel: bytes) -> str:
        name = channel.decode()[len(self.channel_prefix) :]
        return name if self.cluster is None or name == _CONTROL else untagged(name)

    # -- lifecycle ------------------------------------------------------------------------------
    def _make_presence_store(self) -> RedisPresenceStore:
        """Presence on this broker (RedisPresenceStore), sharing this backend's connection."""
        from sockjet.hub.backends.redis_presence import RedisPresenceStore  # it builds on this module

        return RedisPresenceStore(self)

    @property
    def client(self) -> Any:
        """The running redis-py client (shared with the presence store); ``ConnectionError`` when stopped."""
        if self._client is None:
            raise ConnectionError("the hub is not running")
        return self._client

    def script(self, text: str) -> str:
        """``text`` as this backend runs it: bound to the master's lineage behind Sentinel (and on a
        cluster, whose masters fail over too), publishing on shard channels on a cluster."""
        if self.cluster is not None:
            text = text.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'")
        if self.sentinel is None and self.cluster is None:
            return text
        return redis_history.with_lineage(text, strict=self.cluster is None)

    def _pool(self) -> Any:
        """Commands' connections: at most ``max_connections`` (+1 for pub/sub); more wait for one."""
        options: dict[str, Any] = {
            "max_connections": self.max_connections + 1,
            "timeout": None,  # wait for a free connection as long as it takes; `timeout` bounds Redis's answer
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
        }
        if self.sentinel is None:
            return aioredis.BlockingConnectionPool.from_url(self.url, **options)
        return sentinel_pool(self.sentinel, self.timeout, options)

    async def start(self, local: LocalRooms) -> None:
        self._local = local
        try:
            if self.cluster is None:
                self._client = aioredis.Redis.from_pool(self._pool())
                await asyncio.wait_for(self._client.ping(), self.timeout)
                await self._open_pubsub()
            else:
                self._client = cluster_client(self.cluster, self.timeout, self.max_connections * 2)
                await asyncio.wait_for(self._client.initialize(), self.timeout)
                self._shards = self._shard_subscriber()
        except UNANSWERED as exc:
            await self.stop()
            raise HubError(
                f"Cannot connect to Redis at {redacted(self.url)}: {_describe(exc).rstrip('.')}. " + self._check_hint()
            ) from None  # one line for the user: the cause is in the message
        if self.cluster is None:
            self._reader = asyncio.create_task(self._read(), name="sockjet-hub-redis-reader")
        self._presence = asyncio.create_task(self._refresh_counts(), name="sockjet-hub-redis-presence")

    def _check_hint(self) -> str:
        if self.sentinel is not None:
            return (
                f"Check that the Sentinels run there and monitor the master {self.sentinel.master!r}, "
                "or fix the hub URL."
            )
        if self.cluster is not None:
            return "Check that the cluster's nodes run there with cluster-enabled yes, or fix the hub URL."
        return "Check that redis-server runs there, or fix the hub URL."

    def _shard_subscriber(self) -> ShardSubscriber:
        from sockjet.hub.backends.redis_shards import ShardSubscriber

        cluster = self.cluster
        assert cluster is not None

        def connect(host: str, port: int) -> Any:
            return aioredis.Redis(
                host=host,
                port=port,
                username=cluster.username,
                password=cluster.password,
                ssl=cluster.tls,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )

        return ShardSubscriber(
            self._client,
            connect=connect,
            timeout=self.timeout,
            backoff=self.backoff,
            deliver=self._on_room_message,
            moved=self._shards_moved,
        )

    def _shards_moved(self, channels: list[bytes]) -> None:
        """Rooms re-subscribed on a new node: what was published meanwhile comes from the stream."""
        _metrics.current.broker_reconnected("redis")
        if self._local is not None:
            self._local.stream_interrupted(sorted(self._room_of(channel) for channel in channels))
        self._dirty.update(self._room_of(channel) for channel in channels)
        self._presence_wakeup.set()

    async def stop(self) -> None:
        for task in (self._reader, self._presence):
            if task is not None:
                await end_task(task)
        self._reader = self._presence = None
        if self._shards is not None:
            await self._shards.stop()
            self._shards = None
        if self._client is not None and self._local is not None:
            with contextlib.suppress(*UNANSWERED):
                await asyncio.wait_for(self._remove_presence(sorted(self._present)), self.timeout)
        await self._close_pubsub()
        if self._client is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._client.aclose()
            manager = getattr(getattr(self._client, "connection_pool", None), "sentinel_manager", None)
            for asked in manager.sentinels if manager is not None else ():
                with contextlib.suppress(RedisError, OSError):
                    await asked.aclose()  # the clients that asked the Sentinels for the master
        self._client = None
        self._local = None

    # -- publish ------------------------------------------------------------------------------------
    async def publish(self, envelope: Envelope, *, key: str | None = None) -> None:
        if self._client is None:
            raise not_running("publish", PublishError)
        channel, wire = self.channel(envelope.room), envelope.to_wire()
        if key is None:
            command: tuple[Any, ...] = ("PUBLISH" if self.cluster is None else "SPUBLISH", channel, wire)
        else:
            seen = redis_history.seen_key(self.prefix, self.tagged(envelope.room), key)
            once = self.script(redis_history.PUBLISH_ONCE_SCRIPT)
            command = ("EVALSHA", self._sha(once), 1, seen, channel, wire, redis_history.ttl_ms(self.idempotency_ttl))
        reply = await self._publishing(envelope.room, self._run(command, script=None if key is None else once))
        if key is not None and reply == 0:  # the once script: the key was already used (PUBLISH's 0 is no receiver)
            _metrics.deduplicated()

    async def publish_history(
        self, envelope: Envelope, kind: str, retention: Retention, *, key: str | None = None
    ) -> Position | None:
        """One script run: next offset, XADD with exact MAXLEN, expiries, PUBLISH with the position.

        With ``key``: first a look at the key's record (a retry returns the first position), and the
        record is written in the same run.
        """
        if self._client is None:
            raise not_running("publish", PublishError)
        room = envelope.room
        text = self._publish_scripts.get(retention)
        if text is None:
            text = self._publish_scripts[retention] = self.script(redis_history.publish_script(retention))
        keys = self._stream_keys(room)
        payload = envelope.payload
        wire = kind.encode() + (payload.encode() if isinstance(payload, str) else payload)
        # A fresh candidate each time: a room re-created by this process gets a new epoch.
        args: list[Any] = [wire, self.channel(room), new_epoch()]
        if key is not None:
            keys.append(redis_history.seen_key(self.prefix, self.tagged(room), key))
            args.append(redis_history.ttl_ms(self.idempotency_ttl))
        reply = await self._publishing(room, self._run(("EVALSHA", self._sha(text), len(keys), *keys, *args), text))
        if redis_history.key_was_seen(reply):
            _metrics.deduplicated()
        return redis_history.parse_position(reply)

    def _stream_keys(self, room: str) -> list[str]:
        name = self.tagged(room)
        return [redis_history.meta_key(self.prefix, name), redis_history.stream_key(self.prefix, name)]

    def _where(self, room: str) -> str:
        """Which Redis a command about ``room`` goes to: on a cluster, the node of its slot."""
        if self.cluster is None:
            return f"Redis at {redacted(self.url)}"
        from redis.crc import key_slot

        channel = self.channel(room)
        try:
            node = f" {self._client.get_node_from_key(channel).name}"
        except RedisClusterException:
            node = " (none owns the slot now)"
        return f"Redis Cluster node{node} (slot {key_slot(channel)})"

    async def _publishing(self, room: str, command: Coroutine[Any, Any, Any]) -> Any:
        """Await ``command``; its failure as ``PublishError`` (not stored) or ``PublishOutcomeUnknown``."""
        where = f"Could not publish to room {loggable(room)}: {self._where(room)}"
        try:
            return await command
        except _Failed as failed:
            if failed.sent:
                raise PublishOutcomeUnknown(
                    f"{where} did not answer within {self.timeout:g}s ({_describe(failed.cause)}). The message "
                    "may have been delivered (and stored); retry with the same idempotency_key to publish it "
                    "at most once."
                ) from failed.cause
            raise PublishError(
                f"{where} did not take it within {self.timeout:g}s ({_describe(failed.cause)}). "
                "Nobody received it; retry when Redis is back."
            ) from failed.cause
        except ResponseError as exc:
            raise PublishError(f"{where} refused it ({_describe(exc)}). Nobody received it.") from exc

    def _sha(self, text: str) -> str:
        sha = self._scripts.get(text)
        if sha is None:
            sha = self._scripts[text] = redis_history.sha1(text)
        return sha

    async def _run(self, command: tuple[Any, ...], script: str | None = None) -> Any:
        """``command`` on a pooled connection; an ``EVALSHA`` of ``script`` loads it once if Redis lacks it.

        Raises ``_Failed`` when no reply came (``sent`` False: the command never left), and Redis's
        own error replies (``ResponseError``) as they are: then nothing was done.
        """
        try:
            return await self._execute(command)
        except NoScriptError:
            if script is None:  # pragma: no cover - only EVALSHA commands get NOSCRIPT
                raise
            if self.cluster is not None:  # EVAL runs it on the node of its keys, which then has it
                return await self._execute(("EVAL", script, *command[2:]))
            await self._execute(("SCRIPT", "LOAD", script))
            return await self._execute(command)

    async def _execute(self, command: tuple[Any, ...]) -> Any:
        """Wait for a free connection (unbounded: the queue is ours), connect it (bounded), then send
        ``command`` and read the reply within ``timeout``."""
        if self.cluster is not None:
            return await self._execute_on_cluster(command)
        pool = self._client.connection_pool
        try:
            connection = await pool.get_connection()
        except UNANSWERED as exc:
            raise _Failed(exc, sent=False) from exc
        try:
            return await asyncio.wait_for(_send_and_read(connection, command), self.timeout)
        except ResponseError:
            raise  # a reply: the connection is in step
        except BaseException as exc:
            await connection.disconnect(nowait=True)  # a reply may still come: never read it as another's
            if isinstance(exc, UNANSWERED):
                raise _Failed(exc, sent=True) from exc
            raise
        finally:
            await pool.release(connection)

    async def _execute_on_cluster(self, command: tuple[Any, ...]) -> Any:
        """``command`` on the node of its key's slot (redis-py follows ``MOVED``/``ASK``), in ``timeout``."""
        async with self._in_flight:
            try:
                return await asyncio.wait_for(self._client.execute_command(*command), self.timeout)
            except ResponseError:
                raise
            except UNANSWERED as exc:
                raise _Failed(exc, sent=not _never_sent(exc)) from exc

    async def read_stream(self, room: str, *, after: int, limit: int | None, retention: Retention) -> StreamSlice:
        """One script run: the room's epoch, top and retained publications after ``after``."""
        if self._client is None:
            raise not_running("read history")
        keys = self._stream_keys(room)
        script = self.script(redis_history.READ_SCRIPT)
        command = ("EVALSHA", self._sha(script), 2, *keys, *redis_history.read_args(after, limit, retention))
        try:
            reply = await self._run(command, script)
        except (_Failed, RedisError, RedisClusterException) as exc:
            cause = exc.cause if isinstance(exc, _Failed) else exc
            raise self.unanswered("read the history of", room, cause) from cause
        return redis_history.parse_slice(room, reply)

    async def open_stream(self, room: str, *, retention: Retention) -> Position:
        """One script run: the room's top position, its epoch started at offset 0 if it had none."""
        if self._client is None:
            raise not_running("read history")
        keys = self._stream_keys(room)
        args = [new_epoch(), max(1, int(retention.meta_ttl))]
        script = self.script(redis_history.OPEN_SCRIPT)
        try:
            reply = await self._run(("EVALSHA", self._sha(script), 2, *keys, *args), script)
        except (_Failed, RedisError, RedisClusterException) as exc:
            cause = exc.cause if isinstance(exc, _Failed) else exc
            raise self.unanswered("read the history of", room, cause) from cause
        return redis_history.parse_position(reply)

    # -- subscriptions ------------------------------------------------------------------------------------
    async def _open_pubsub(self) -> None:
        """A fresh pub/sub connection subscribed to the control channel and every local room."""
        async with self._lock:
            await self._close_pubsub()
            pubsub = self._client.pubsub()
            rooms = self._local.local_rooms() if self._local is not None else []
            channels = [self.channel(_CONTROL)] + [self.channel(room) for room in rooms]
            try:
                await asyncio.wait_for(pubsub.subscribe(*channels), self.timeout)
            except BaseException:
                with contextlib.suppress(*UNANSWERED):
                    await asyncio.wait_for(pubsub.aclose(), self.timeout)
                raise
            self._pubsub = pubsub
            self._subscribed = set(rooms)
            self._connected.set()
        self._dirty.update(rooms, self._present)  # rooms emptied during an outage get their field removed
        self._presence_wakeup.set()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._connected.clear()
        self._subscribed.clear()
        self._confirmations.lose_all()
        if pubsub is not None:
            with contextlib.suppress(*UNANSWERED):
                await asyncio.wait_for(pubsub.aclose(), self.timeout)

    async def sync_room(self, room: str) -> None:
        """Subscribe or unsubscribe ``room`` to match local membership, then write this process's count.

        Waits for Redis to confirm a subscribe, so a publish made anywhere after this returns
        reaches the room (and a count that includes the member implies it is subscribed).
        During an outage this only records the wish: the reader re-subscribes and the presence
        task re-writes counts on reconnect.
        """
        local = self._local
        if local is None:
            return
        if self._shards is not None:
            await self._shards.want(self.channel(room), local.local_count(room) > 0)
        else:
            await self._sync_subscription(room, local.local_count(room) > 0)
        self._dirty.add(room)
        try:
            await self._flush_presence()
        except UNANSWERED:
            self._presence_wakeup.set()  # the presence task retries

    async def _sync_subscription(self, room: str, wanted: bool) -> None:
        ack: asyncio.Future[None] | None = None
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None:
                return
            channel = self.channel(room)
            try:
                if wanted and room not in self._subscribed:
                    ack = self._confirmations.expect(channel)
                    await asyncio.wait_for(pubsub.subscribe(channel), self.timeout)
                    self._subscribed.add(room)
                elif not wanted and room in self._subscribed:
                    self._subscribed.discard(room)
                    await asyncio.wait_for(pubsub.unsubscribe(channel), self.timeout)
            except UNANSWERED as exc:
                logger.warning(
                    "Redis subscription change for room %s failed (%s); the reader will retry.",
                    loggable(room),
                    loggable(exc),
                )
                return
        # A connection that dropped before confirming: the reader re-subscribes.
        if ack is not None and not await confirmed_within(ack, self.timeout):
            logger.warning(
                "Redis did not confirm the subscription to room %s within %gs.", loggable(room), self.timeout
            )

    # -- the reader ------------------------------------------------------------------------------------
    async def _read(self) -> None:
        delay = self.backoff[0]
        outage_since: float | None = None
        while True:
            try:
                if self._pubsub is None:
                    await self._open_pubsub()
                    if outage_since is not None:
                        await self._drop_idle_connections()
                        _metrics.current.broker_reconnected("redis")
                        if self._local is not None:
                            self._local.stream_interrupted(sorted(self._subscribed))
                        logger.warning(
                            "Redis at %s is back after %.1fs; re-subscribed.",
                            redacted(self.url),
                            time.monotonic() - outage_since,
                        )
                    outage_since = None
                    delay = self.backoff[0]
                message = await self._pubsub.get_message(timeout=None)
                if message is not None:
                    self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed_reads += 1
                if outage_since is None:
                    outage_since = time.monotonic()
                    logger.warning("Lost Redis at %s (%s); reconnecting.", redacted(self.url), _describe(exc))
                await self._close_pubsub()
                await self._drop_idle_connections()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])

    async def _drop_idle_connections(self) -> None:
        """Pooled connections opened before an outage point at a dead socket: make the next command reconnect."""
        with contextlib.suppress(RedisError, OSError):
            await self._client.connection_pool.disconnect(inuse_connections=False)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel: bytes = message["channel"]
        if kind == "message":
            self._on_room_message(channel, message["data"])
        elif kind == "subscribe":
            self._confirmations.confirm(channel)

    def _on_room_message(self, channel: bytes, data: bytes) -> None:
        room = self._room_of(channel)
        if self._local is None or room == _CONTROL:
            return
        if is_presence(data):
            self._room_frame(room, data)
            return
        try:
            if data[:1] == redis_history.LIVE_KIND:
                item: Envelope | Publication = redis_history.parse_live(room, data)
            else:
                item = Envelope.from_wire(room, data)
        except (ValueError, UnicodeDecodeError) as exc:
            logger.warning("Ignored a message on %s: %s", loggable(channel), loggable(exc))
            return
        if isinstance(item, Envelope):
            self._local.deliver(item)
        else:
            self._local.deliver_publication(item)

    # -- presence ------------------------------------------------------------------------------------
    async def _refresh_counts(self) -> None:
        interval = self.presence_ttl / 3
        wait = interval
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._presence_wakeup.wait(), wait)
            self._presence_wakeup.clear()
            if self._local is not None and not self._dirty:
                self._dirty.update(self._local.local_rooms(), self._present)
            try:
                await self._flush_presence()
                wait = interval
            except UNANSWERED as exc:
                # Retried with backoff, or as soon as the reader reconnects.
                logger.debug("Presence refresh failed: %s", loggable(exc))
                wait = min(interval, self.backoff[1], wait * 2 if wait < interval else self.backoff[0])

    async def _flush_presence(self) -> None:
        """Write this process's count of every dirty room; serialised so a later count is never overwritten."""
        async with self._presence_lock:
            await self._flush_presence_locked()

    async def _flush_presence_locked(self) -> None:
        if self._local is None or not self._dirty:
            return
        rooms, self._dirty = self._dirty, set()
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                expires = time.time() + self.presence_ttl
                for room in sorted(rooms):
                    key = self.counts_key(room)
                    count = self._local.local_count(room)
                    if count:
                        self._present.add(room)
                        pipe.hset(key, self.process_id, f"{count}:{expires:.3f}")
                        pipe.expire(key, max(1, int(self.presence_ttl) + 1))
                    else:
                        self._present.discard(room)
                        pipe.hdel(key, self.process_id)
                await asyncio.wait_for(pipe.execute(), self.timeout)
        except BaseException:
            self._dirty |= rooms
            raise

    async def _remove_presence(self, rooms: list[str]) -> None:
        async with self._presence_lock:
            if rooms:
                async with self._client.pipeline(transaction=False) as pipe:
                    for room in rooms:
                        pipe.hdel(self.counts_key(room), self.process_id)
                    await pipe.execute()
            self._present.clear()

    async def count(self, room: str) -> int:
        """Members in every live process; ``HubError`` if Redis cannot answer within ``timeout``."""
        if self._client is None:
            raise not_running("count")
        try:
            self._dirty.add(room)
            await self._flush_presence()
            entries: dict[bytes, bytes] = await asyncio.wait_for(
                self._client.hgetall(self.counts_key(room)), self.timeout
            )
        except UNANSWERED as exc:
            raise self.unanswered("count", room, exc) from exc
        now = time.time()
        total = 0
        for value in entries.values():
            count, _, expires = value.decode().partition(":")
            if float(expires) > now:
                total += int(count)
        return total


async def _send_and_read(connection: Any, command: tuple[Any, ...]) -> Any:
    await connection.send_command(*command)
    return await connection.read_response()


__all__ = ["RedisBackend", "redacted"]
