"""The backend contract (sockjet.testing) on a backend written only against the public interface,
plugged in with ``Hub(backend=...)``, and on sockjet's own memory backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sockjet import Hub
from sockjet.exceptions import ConfigurationError
from sockjet.hub import Backend
from sockjet.hub.backends.base import Retention
from sockjet.hub.backends.memory import MemoryBackend
from sockjet.testing import BackendContract, Check, RecordingSocket, backend_checks, check_backend
from tests.hub.third_party_backend import LoopbackBackend, LoopbackBroker
from tests.servers.nats_server import running_nats
from tests.servers.redis_cluster import ClusterTopology
from tests.servers.redis_sentinel import SentinelTopology
from tests.servers.redis_server import running_redis

_broker = LoopbackBroker()
THIRD_PARTY = BackendContract(make_backend=lambda: LoopbackBackend(_broker), spans_processes=True)
MEMORY = BackendContract(make_backend=MemoryBackend, spans_processes=False)


@pytest.mark.parametrize("check", backend_checks(THIRD_PARTY), ids=lambda check: check.name)
async def test_a_third_party_backend_keeps_the_contract(check: Check) -> None:
    await check.run(THIRD_PARTY)


@pytest.mark.parametrize("check", backend_checks(MEMORY), ids=lambda check: check.name)
async def test_the_memory_backend_keeps_the_contract(check: Check) -> None:
    await check.run(MEMORY)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis() as server:
        yield server.url


@pytest.fixture(scope="module")
def nats_url() -> Iterator[str]:
    with running_nats() as server:
        yield server.url


def _redis(url: str) -> BackendContract:
    from sockjet.hub.backends.redis import RedisBackend

    prefix = f"contract-{uuid.uuid4().hex[:8]}:"  # the hubs of one check share it: one deployment
    return BackendContract(make_backend=lambda: RedisBackend(url, prefix=prefix))


def _nats(url: str) -> BackendContract:
    from sockjet.hub.backends.nats import NatsBackend

    prefix = f"contract-{uuid.uuid4().hex[:8]}:"
    return BackendContract(make_backend=lambda: NatsBackend(url, prefix=prefix, history=Retention(size=10)))


_NAMES = [check.name for check in backend_checks(THIRD_PARTY)]


@pytest.mark.redis
@pytest.mark.parametrize("name", _NAMES)
async def test_the_redis_backend_keeps_the_contract(name: str, redis_url: str) -> None:
    contract = _redis(redis_url)
    (check,) = [check for check in backend_checks(contract) if check.name == name]
    await check.run(contract)


@pytest.mark.nats
@pytest.mark.parametrize("name", _NAMES)
async def test_the_nats_backend_keeps_the_contract(name: str, nats_url: str) -> None:
    contract = _nats(nats_url)
    (check,) = [check for check in backend_checks(contract) if check.name == name]
    await check.run(contract)


def test_the_checks_chosen_follow_what_the_backend_claims() -> None:
    names = {check.name for check in backend_checks(THIRD_PARTY)}
    assert "a_publish_reaches_the_other_processes" in names and "history_is_shared_by_the_processes" in names
    single = {check.name for check in backend_checks(BackendContract(MemoryBackend, spans_processes=False))}
    assert (
        "a_publish_reaches_the_other_processes" not in single
        and "history_gives_gap_free_positions_and_replays" in single
    )
    plain = {check.name for check in backend_checks(BackendContract(MemoryBackend, False, history=False))}
    assert not any("history" in name for name in plain)


class _Forgetful(LoopbackBackend):
    """Breaks the contract: delivers every publish twice."""

    async def publish(self, envelope, *, key=None):  # type: ignore[no-untyped-def]
        await super().publish(envelope, key=key)
        await super().publish(envelope)


async def test_a_backend_that_breaks_the_contract_fails_it_with_a_clear_message() -> None:
    broker = LoopbackBroker()
    with pytest.raises(AssertionError, match="expected each message once, in publish order"):
        await check_backend(BackendContract(lambda: _Forgetful(broker), spans_processes=True))


def test_hub_refuses_a_backend_that_is_not_one_and_a_url_with_a_backend() -> None:
    with pytest.raises(ConfigurationError, match=r"^backend must be an instance of sockjet.hub.Backend, got 'x'\.$"):
        Hub(backend="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^Give the hub a URL or a backend, not both\.$"):
        Hub("redis://127.0.0.1:6379/0", backend=LoopbackBackend(LoopbackBroker()))
    assert repr(Hub(backend=LoopbackBackend(LoopbackBroker()))) == "Hub(backend=LoopbackBackend)"
    assert issubclass(LoopbackBackend, Backend)


async def test_a_recording_socket_reports_what_never_came() -> None:
    with pytest.raises(AssertionError, match=r"^expected 1 messages within 0.01s, got \[\]$"):
        await RecordingSocket().wait_for(1, timeout=0.01)


@pytest.mark.redis
@pytest.mark.parametrize("name", _NAMES)
async def test_the_redis_backend_behind_sentinel_keeps_the_contract(
    name: str, shared_sentinel: SentinelTopology
) -> None:
    contract = _redis(shared_sentinel.url)
    (check,) = [check for check in backend_checks(contract) if check.name == name]
    await check.run(contract)


@pytest.mark.redis
@pytest.mark.parametrize("name", _NAMES)
async def test_the_redis_backend_on_a_cluster_keeps_the_contract(name: str, shared_cluster: ClusterTopology) -> None:
    contract = _redis(shared_cluster.url)
    (check,) = [check for check in backend_checks(contract) if check.name == name]
    await check.run(contract)
