"""Sharded pub/sub on a Redis Cluster: each room's channel subscribed (``SSUBSCRIBE``) on the master
that owns its slot, one connection per such master, and moved when the slot moves.

- A subscribe waits for the node's confirmation, so a publish made after it returns reaches it.
- A slot that moves (resharding: the old owner sends ``sunsubscribe``) or a node that is lost
  (its connection fails; a replica may be promoted) leaves its channels *homeless*: one task asks
  the cluster for its slots again and subscribes them on their owners, retrying with backoff
  while a slot has none. Each channel that found its new home is reported (``moved``), so the hub
  fills what was published meanwhile from the stream; without history that is lost (at-most-once).
- The cluster client (redis-py's ``RedisCluster``) says which node owns a channel's slot; this
  module only keeps one pub/sub connection per node and follows the moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sockjet.hub.backends._tasks import end_task
from sockjet.hub.backends.describe import describe
from sockjet.hub.backends.redis_confirmations import Confirmations, confirmed_within
from sockjet.hub.backends.redis_errors import UNANSWERED
from sockjet.hub.loggable import loggable

logger = logging.getLogger("sockjet.hub")


@dataclass
class _Link:
    """One node's pub/sub connection and the reader that serves it."""

    name: str
    pubsub: Any
    channels: set[bytes] = field(default_factory=set)
    reader: asyncio.Task[None] | None = None


class ShardSubscriber:
    """The shard channels this process wants, each on the node that owns its slot."""

    def __init__(
        self,
        cluster: Any,
        *,
        connect: Callable[[str, int], Any],
        timeout: float,
        backoff: tuple[float, float],
        deliver: Callable[[bytes, bytes], None],
        moved: Callable[[list[bytes]], None],
    ) -> None:
        self._cluster = cluster
        self._connect = connect
        """A client of one node (host, port), with the cluster's credentials and TLS."""
        self.timeout = timeout
        self.backoff = backoff
        self._deliver = deliver
        self._moved = moved
        self._wanted: set[bytes] = set()
        self._links: dict[str, _Link] = {}
        self._home: dict[bytes, str] = {}
        """Channel -> the node its subscription is on."""
        self._homeless: set[bytes] = set()
        self._confirmations = Confirmations()
        self._lock = asyncio.Lock()
        self._rehoming: asyncio.Task[None] | None = None
        self.lost = 0
        """How often a node's pub/sub connection was lost or a slot moved away (for logs and tests)."""

    def node_of(self, channel: bytes) -> str:
        """``host:port`` of the node that owns ``channel``'s slot, as the cluster client last heard."""
        return str(self._cluster.get_node_from_key(channel).name)

    async def want(self, channel: bytes, wanted: bool) -> None:
        """Subscribe (waiting for the confirmation, at most ``timeout``) or unsubscribe ``channel``."""
        ack: asyncio.Future[None] | None = None
        async with self._lock:
            if wanted and channel not in self._wanted:
                self._wanted.add(channel)
                try:
                    ack = await self._subscribe(channel)
                except UNANSWERED as exc:
                    logger.warning(
                        "Redis Cluster subscription to %s failed (%s); retrying.", loggable(channel), describe(exc)
                    )
                    self._lose([channel])
                    return
            elif not wanted and channel in self._wanted:
                self._wanted.discard(channel)
                self._homeless.discard(channel)
                link = self._links.get(self._home.pop(channel, ""))
                if link is not None:
                    link.channels.discard(channel)
                    with contextlib.suppress(*UNANSWERED):
                        await asyncio.wait_for(link.pubsub.sunsubscribe(channel), self.timeout)
                return
        if ack is not None:
            await self._confirmed(channel, ack)

    async def _subscribe(self, channel: bytes) -> asyncio.Future[None]:
        """``SSUBSCRIBE`` on the owner of ``channel``'s slot; the future is its confirmation."""
        node = self._cluster.get_node_from_key(channel)
        link = self._links.get(node.name)
        if link is None:
            link = self._links[node.name] = _Link(node.name, self._connect(node.host, node.port).pubsub())
        ack = self._confirmations.expect(channel)
        try:
            await asyncio.wait_for(link.pubsub.ssubscribe(channel), self.timeout)
        except BaseException:
            self._confirmations.lose(channel)
            if not link.channels:
                await self._drop(link)
            raise
        link.channels.add(channel)
        self._home[channel] = link.name
        if link.reader is None:
            link.reader = asyncio.create_task(self._read(link), name=f"sockjet-hub-redis-shard-{link.name}")
        return ack

    async def _confirmed(self, channel: bytes, ack: asyncio.Future[None]) -> None:
        # A node lost before it confirmed: the channel is homeless, and re-subscribed.
        if not await confirmed_within(ack, self.timeout):
            logger.warning("Redis Cluster did not confirm the subscription to %s in time.", loggable(channel))

    async def _read(self, link: _Link) -> None:
        try:
            while True:
                message = await link.pubsub.get_message(timeout=None)
                if message is not None:
                    self._handle(link, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.lost += 1
            logger.warning("Lost Redis Cluster node %s (%s); re-subscribing its rooms.", link.name, describe(exc))
            link.reader = None  # this task ends here: dropping the link must not cancel it
            async with self._lock:
                if self._links.get(link.name) is link:
                    channels = sorted(link.channels)
                    await self._drop(link)
                    self._lose(channels)

    def _handle(self, link: _Link, message: dict[str, Any]) -> None:
        kind, channel = message["type"], message["channel"]
        if kind == "smessage":
            self._deliver(channel, message["data"])
        elif kind == "ssubscribe":
            self._confirmations.confirm(channel)
        elif kind == "sunsubscribe" and channel in link.channels:
            # Not asked for: the node gave the slot away (resharding, or it was demoted).
            link.channels.discard(channel)
            self.lost += 1
            self._lose([channel])

    def _lose(self, channels: list[bytes]) -> None:
        """``channels`` have no subscription now: find them a home in the background."""
        for channel in channels:
            self._home.pop(channel, None)
            self._confirmations.lose(channel)
        self._homeless.update(channel for channel in channels if channel in self._wanted)
        if self._homeless and (self._rehoming is None or self._rehoming.done()):
            self._rehoming = asyncio.create_task(self._rehome(), name="sockjet-hub-redis-shard-rehome")

    async def _rehome(self) -> None:
        """Until every wanted channel has a home: learn the slots again, subscribe on their owners."""
        delay = self.backoff[0]
        while self._homeless:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])
            try:
                await asyncio.wait_for(self._cluster.nodes_manager.initialize(), self.timeout)
            except UNANSWERED as exc:
                logger.debug("Redis Cluster topology refresh failed: %s", loggable(exc))
                continue
            moved: list[tuple[bytes, asyncio.Future[None]]] = []
            async with self._lock:
                for channel in sorted(self._homeless):
                    try:
                        moved.append((channel, await self._subscribe(channel)))
                    except UNANSWERED as exc:
                        logger.debug("Redis Cluster re-subscription of %s failed: %s", loggable(channel), exc)
                        continue
                    self._homeless.discard(channel)
            for channel, ack in moved:
                await self._confirmed(channel, ack)
            if moved:
                self._moved([channel for channel, _ in moved])
                delay = self.backoff[0]

    async def _drop(self, link: _Link) -> None:
        if self._links.get(link.name) is link:
            del self._links[link.name]
        if link.reader is not None and link.reader is not asyncio.current_task():
            await end_task(link.reader)
        link.reader = None
        with contextlib.suppress(*UNANSWERED):
            await asyncio.wait_for(link.pubsub.aclose(), self.timeout)

    async def stop(self) -> None:
        if self._rehoming is not None:
            await end_task(self._rehoming)
            self._rehoming = None
        for link in list(self._links.values()):
            await self._drop(link)
        self._confirmations.lose_all()
        self._wanted.clear()
        self._homeless.clear()
        self._home.clear()


__all__ = ["ShardSubscriber"]
