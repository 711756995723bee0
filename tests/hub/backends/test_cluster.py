"""The Hub on ``redis+cluster://``: every key of a room in one slot, live delivery on shard channels
(``SSUBSCRIBE`` on the slot's node), a slot that moves or a master that dies without taking the
other rooms down. The shared suites (contract, history, presence) run on a cluster too (id ``cluster``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from sockjet import Hub
from sockjet.exceptions import ConfigurationError, HubError, PublishError
from sockjet.hub import HISTORY_LOST_CLOSE_CODE
from sockjet.hub.backends import redis_history
from sockjet.hub.backends.cluster_url import ClusterURL, parse_cluster_url
from sockjet.hub.backends.redis import RedisBackend
from sockjet.hub.backends.slot_tags import BUCKETS, bucket, tag, tagged, untagged
from tests.conftest import fresh_prefix
from tests.hub.backends.failover import publish_until_it_works
from tests.hub_fakes import connected
from tests.servers.redis_cluster import ClusterTopology, running_cluster
from tests.servers.servers import free_port
from tests.timing import MS, until

# -- the URL and the slots, pure ----------------------------------------------------------------------


def test_a_cluster_url_names_its_seeds_and_credentials() -> None:
    assert parse_cluster_url("redis+cluster://ann:s%40cret@a:7000,b/0") == ClusterURL(
        seeds=(("a", 7000), ("b", 6379)), username="ann", password="s@cret"
    )
    assert parse_cluster_url("rediss+cluster://h:7000").tls


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+cluster://", "it names no seed host"),
        ("redis+cluster://a,,b", "it has an empty seed address"),
        ("redis+cluster://a:x", "'a:x' is not host:port"),
        ("redis+cluster://a/3", "a cluster has only database 0, got '3'"),
        ("redis+cluster://a?pool=2", "unknown option 'pool'"),
    ],
)
def test_a_bad_cluster_url_is_one_clear_line_when_the_hub_is_made(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Hub(url)
    assert str(raised.value) == (f"Bad Redis Cluster URL {url!r}: {why}. Use 'redis+cluster://host1:7000,host2:7001'.")


def test_a_cluster_urls_password_is_never_shown() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Hub("redis+cluster://ann:secret@h/9")
    assert "secret" not in str(raised.value) and "ann:***@h" in str(raised.value)


def test_every_key_and_the_channel_of_a_room_are_in_one_slot() -> None:
    backend = RedisBackend("redis+cluster://h:7000", prefix="p:")
    for room in ["lobby", "a{b}c", "}", "{", "日本", ""]:
        name = backend.tagged(room)
        assert untagged(name) == room
        names = [
            backend.channel(room),
            backend.counts_key(room).encode(),
            redis_history.meta_key("p:", name).encode(),
            redis_history.stream_key("p:", name).encode(),
            redis_history.seen_key("p:", name, "key}{").encode(),
            f"p:presence-info:{name}".encode(),
            f"p:presence-due:{tag(bucket(room))}".encode(),
        ]
        assert len({key_slot(key) for key in names}) == 1, room
    # On one Redis nothing is tagged: its keys are those of every earlier version.
    assert RedisBackend("redis://h", prefix="p:").channel("lobby") == b"p:room:lobby"


def test_rooms_spread_over_every_bucket() -> None:
    buckets = {bucket(f"room-{i}") for i in range(2000)}
    assert buckets == set(range(BUCKETS))
    assert tagged("lobby").startswith("{r") and tagged("lobby").endswith("}lobby")


# -- a real cluster -----------------------------------------------------------------------------------------


async def test_unreachable_seeds_fail_the_start_in_one_line() -> None:
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    with pytest.raises(HubError) as raised:
        async with Hub(url, timeout=0.5):
            pass  # pragma: no cover - the start fails
    message = str(raised.value)
    assert message.startswith(f"Cannot connect to Redis at {url}: ")
    assert message.endswith("Check that the cluster's nodes run there with cluster-enabled yes, or fix the hub URL.")
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.fixture
def topology() -> Iterator[ClusterTopology]:
    with running_cluster() as started:
        yield started


@pytest.mark.redis
async def test_rooms_on_every_master_are_delivered_in_order(topology: ClusterTopology) -> None:
    prefix = fresh_prefix()
    rooms = list(topology.room_per_master(prefix).values())
    async with Hub(topology.url, prefix=prefix) as publisher, Hub(topology.url, prefix=prefix) as hub:
        socks = {room: await connected() for room in rooms}
        for room, sock in socks.items():
            await hub.join(room, sock.websocket).__aenter__()
        for i in range(20):
            for room in rooms:
                await publisher.publish(room, f"{room} {i}")
        for room, sock in socks.items():
            await sock.wait_data(20)
            assert sock.data == [f"{room} {i}" for i in range(20)]
        assert [await publisher.count(room) for room in rooms] == [1, 1, 1]


@pytest.mark.redis
async def test_a_dead_master_fails_only_its_rooms_and_names_its_node(topology: ClusterTopology) -> None:
    prefix = fresh_prefix()
    rooms = topology.room_per_master(prefix)
    dead_port, dead_room = next(iter(rooms.items()))
    async with Hub(topology.url, prefix=prefix, timeout=0.5, history_size=10) as hub:
        for room in rooms.values():
            await hub.publish(room, "before")
        topology.kill(dead_port)
        slot = key_slot(RedisBackend(topology.url, prefix=prefix).channel(dead_room))
        where = f"Could not publish to room '{dead_room}': Redis Cluster node 127.0.0.1:{dead_port} (slot {slot})"
        with pytest.raises(PublishError) as raised:  # sent on a pooled connection: maybe it arrived
            await hub.publish(dead_room, "lost")
        assert str(raised.value).startswith(where)
        with pytest.raises(PublishError) as raised:  # the node refuses connections: surely not
            await hub.publish(dead_room, "lost")
        assert str(raised.value).startswith(f"{where} did not take it within 0.5s (")
        assert str(raised.value).endswith("Nobody received it; retry when Redis is back.")
        for port, room in rooms.items():
            if port != dead_port:
                position = await hub.publish(room, "after")
                assert position is not None and position.offset == 2
                assert [m.data for m in (await hub.history(room)).messages] == ["before", "after"]


@pytest.mark.redis
async def test_a_room_joined_while_its_master_is_down_is_served_when_it_is_back(topology: ClusterTopology) -> None:
    prefix = fresh_prefix()
    dead_port, room = next(iter(topology.room_per_master(prefix).items()))
    async with Hub(topology.url, prefix=prefix, timeout=0.5) as hub:
        topology.kill(dead_port)
        sock = await connected()
        async with hub.join(room, sock.websocket):  # no subscription yet: the hub keeps trying
            await asyncio.to_thread(topology.restart, dead_port)
            for i in range(100):  # without history, what is published before it subscribes is lost
                await publish_until_it_works(hub, room, i)
                if sock.data:
                    break
                await asyncio.sleep(50 * MS)
            await until(lambda: len(sock.data) > 0)
            assert sock.close_message is None


@pytest.mark.redis
async def test_a_slot_moved_while_its_room_is_live_loses_nothing(topology: ClusterTopology) -> None:
    prefix = fresh_prefix()
    rooms = topology.room_per_master(prefix)
    (source, room), (target, _) = list(rooms.items())[:2]
    slot = key_slot(RedisBackend(topology.url, prefix=prefix).channel(room))
    hubs = Hub(topology.url, prefix=prefix, history_size=1000), Hub(topology.url, prefix=prefix, history_size=1000)
    async with hubs[0] as publisher, hubs[1] as hub:
        sock = await connected()
        async with hub.join(room, sock.websocket):
            sent = 0

            async def publish(count: int) -> None:
                nonlocal sent
                for _ in range(count):
                    await publisher.publish(room, sent)  # MOVED, ASK and TRYAGAIN are followed: no error
                    sent += 1
                    await asyncio.sleep(2 * MS)

            task = asyncio.create_task(publish(150))
            await until(lambda: len(sock.data) >= 30)
            await asyncio.to_thread(topology.move_slot, slot, target)
            await task
            await until(lambda: len(sock.data) >= sent)
            await asyncio.sleep(100 * MS)  # nothing more, nothing twice
            assert sock.data == [str(i) for i in range(sent)]
            assert sock.close_message is None
        history = await publisher.history(room)
        assert [m.data for m in history.messages] == list(range(sent))
        assert history.messages[-1].position.offset == sent  # one epoch: the keys moved whole
    assert topology.port_of_slot(slot) == target != source


@pytest.mark.redis
async def test_a_master_failover_starts_new_epochs_and_publishing_resumes() -> None:
    with running_cluster(replicas=1) as topology:
        prefix = fresh_prefix()
        rooms = topology.room_per_master(prefix)
        dead_port, room = next(iter(rooms.items()))
        async with Hub(topology.url, prefix=prefix, timeout=0.5, history_size=100) as hub:
            sock = await connected()
            async with hub.join(room, sock.websocket) as member:
                before = await hub.publish(room, "before")
                assert before is not None
                await sock.wait_data(1)
                topology.kill(dead_port)
                after = await publish_until_it_works(hub, room, "after")
                assert after is not None and after.epoch != before.epoch and after.offset == 1
                await until(lambda: sock.close_message is not None, 10000 * MS)
                assert sock.close_message is not None and sock.close_message["code"] == HISTORY_LOST_CLOSE_CODE
                assert member.closed
            again = await connected()
            async with hub.join(room, again.websocket, since=before) as rejoined:
                assert rejoined.recovered is False
                await hub.publish(room, "live")
                await again.wait_data(1)
                assert again.data == ["live"]
