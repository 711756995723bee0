"""Shared test settings: ``MS`` (every wait derives from it; see tests/timing.py) and the servers
and backend params many test modules share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.servers.nats_server import NatsServer, running_nats
from tests.servers.nats_server import nats_server as nats_server  # a server of its own (stop, restart, wipe)
from tests.servers.redis_cluster import ClusterTopology, running_cluster
from tests.servers.redis_sentinel import SentinelTopology, running_sentinel
from tests.servers.redis_server import RedisServer, running_redis
from tests.servers.redis_server import redis_server as redis_server  # a server of its own (stop, restart, flush)
from tests.timing import MS as MS  # tests import it from here

# -- the servers many test modules share ---------------------------------------------------------
# One redis-server and one nats-server -js for the whole run, started on first use: a test that
# stops, restarts or wipes a server starts its own (``running_redis()``, ``running_nats()``).
# The ``redis``/``nats`` params of ``hub_url`` carry their marks, so ``-m "not redis and not
# nats"`` starts neither.
BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("nats", id="nats", marks=pytest.mark.nats),
    pytest.param("sentinel", id="sentinel", marks=pytest.mark.redis),
    pytest.param("cluster", id="cluster", marks=pytest.mark.redis),
]
"""The hub's backends, as params: memory needs no server, the others are marked."""


@pytest.fixture(scope="session")
def shared_redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture(scope="session")
def shared_sentinel() -> Iterator[SentinelTopology]:
    """A master, a replica and a Sentinel: the hub on ``redis+sentinel://``."""
    with running_sentinel() as topology:
        yield topology


@pytest.fixture(scope="session")
def shared_cluster() -> Iterator[ClusterTopology]:
    """Three masters sharing the slots: the hub on ``redis+cluster://``."""
    with running_cluster() as topology:
        yield topology


@pytest.fixture(scope="session")
def shared_nats() -> Iterator[NatsServer]:
    with running_nats() as server:
        yield server


def server_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """``None`` for memory, else the URL of the shared server of ``backend`` (started on first use)."""
    if backend == "memory":
        return None
    server: RedisServer | NatsServer | SentinelTopology | ClusterTopology = request.getfixturevalue(f"shared_{backend}")
    return server.url


@pytest.fixture(params=BACKENDS)
def hub_url(request: pytest.FixtureRequest) -> str | None:
    """Each test that takes it runs on memory, Redis and NATS."""
    return server_url(request, request.param)


@pytest.fixture(params=BACKENDS[1:])
def shared_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs on Redis and on NATS (the backends that span processes)."""
    url = server_url(request, request.param)
    assert url is not None
    return url


def fresh_prefix() -> str:
    """A key and subject prefix no other test uses (the shared servers outlive every test)."""
    return f"test-{uuid.uuid4().hex[:8]}:"
