"""The Hub on ``redis+sentinel://``: it follows the master through a failover, and never hands out
a position twice -- the new master may lack the last writes, so its rooms start new epochs
(live members get 3410, reconnecting ones ``recovered`` False)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from sockjet import Hub
from sockjet.exceptions import ConfigurationError, HubError
from sockjet.hub import HISTORY_LOST_CLOSE_CODE
from sockjet.hub.backends.sentinel_url import SentinelURL, parse_sentinel_url
from tests.conftest import fresh_prefix
from tests.hub.backends.failover import publish_until_it_works
from tests.hub_fakes import connected
from tests.servers.redis_sentinel import MASTER, SentinelTopology, running_sentinel
from tests.servers.servers import free_port
from tests.timing import MS, until

# -- the URL, pure ------------------------------------------------------------------------------------


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_credentials() -> None:
    url = "redis+sentinel://ann:s%40cret@a:26380,b/main/3?sentinel_password=pw&sentinel_username=sen"
    assert parse_sentinel_url(url) == SentinelURL(
        sentinels=(("a", 26380), ("b", 26379)),
        master="main",
        db=3,
        username="ann",
        password="s@cret",
        sentinel_username="sen",
        sentinel_password="pw",
    )
    assert parse_sentinel_url("rediss+sentinel://h/m").tls
    assert parse_sentinel_url("redis+sentinel://h/m").db == 0


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+sentinel://h:26379", "it names no master (the name Sentinel monitors, e.g. 'mymaster')"),
        ("redis+sentinel:///m", "it names no Sentinel host"),
        ("redis+sentinel://a,,b/m", "it has an empty Sentinel address"),
        ("redis+sentinel://h:port/m", "'h:port' is not host:port"),
        ("redis+sentinel://h/m/x", "the database must be a number, got 'x'"),
        ("redis+sentinel://h/m/0/extra", "after the master name only a database number may follow"),
        ("redis+sentinel://h/m?password=x", "unknown option 'password' (known: sentinel_password, sentinel_username)"),
    ],
)
def test_a_bad_sentinel_url_is_one_clear_line_when_the_hub_is_made(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Hub(url)
    assert str(raised.value).startswith(f"Bad Sentinel URL {url!r}: {why}.")


def test_a_sentinel_urls_password_is_never_shown() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Hub("redis+sentinel://ann:secret@h/m/x")
    assert "secret" not in str(raised.value) and "ann:***@h" in str(raised.value)


async def test_unreachable_sentinels_fail_the_start_in_one_line() -> None:
    url = f"redis+sentinel://127.0.0.1:{free_port()}/{MASTER}"
    with pytest.raises(HubError) as raised:
        async with Hub(url, timeout=0.5):
            pass  # pragma: no cover - the start fails
    message = str(raised.value)
    assert message.startswith(f"Cannot connect to Redis at {url}: ")
    assert message.endswith(
        f"Check that the Sentinels run there and monitor the master '{MASTER}', or fix the hub URL."
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


# -- a real topology --------------------------------------------------------------------------------------
@pytest.fixture
def topology() -> Iterator[SentinelTopology]:
    with running_sentinel() as started:
        yield started


@pytest.mark.redis
async def test_the_hub_follows_the_master_through_a_failover_without_history(topology: SentinelTopology) -> None:
    async with Hub(topology.url, prefix=fresh_prefix(), timeout=1.0) as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket):
            await hub.publish("r", "before")
            await sock.wait_data(1)
            topology.failover()
            # Without history, what is published while the subscriber moves to the new master is
            # not delivered (at most once, as in any outage): publish until one arrives.
            for i in range(100):
                await publish_until_it_works(hub, "r", f"after {i}")
                with contextlib.suppress(AssertionError):
                    await until(lambda: any(str(d).startswith("after") for d in sock.data), 100 * MS)
                    break
            assert any(str(d).startswith("after") for d in sock.data)
            assert sock.close_message is None  # no history: nothing to lose, the member stays
        assert await hub.count("r") == 0


@pytest.mark.redis
async def test_a_failover_starts_new_epochs_so_no_position_is_handed_out_twice(topology: SentinelTopology) -> None:
    prefix = fresh_prefix()
    async with Hub(topology.url, prefix=prefix, timeout=1.0, history_size=100) as hub:
        sock = await connected()
        async with hub.join("r", sock.websocket) as member:
            first = await hub.publish("r", "one")
            second = await hub.publish("r", "two")
            assert first is not None and second is not None and second.offset == first.offset + 1
            await sock.wait_data(2)
            topology.failover()
            after = await publish_until_it_works(hub, "r", "three")
            assert after is not None and after.epoch != second.epoch  # a new epoch, never offset 3 of the old
            await until(lambda: sock.close_message is not None)
            assert sock.close_message is not None and sock.close_message["code"] == HISTORY_LOST_CLOSE_CODE
            assert member.closed
        # A member coming back from the old epoch is told it cannot be recovered.
        again = await connected()
        async with hub.join("r", again.websocket, since=second) as rejoined:
            assert rejoined.recovered is False
        history = await hub.history("r", since=second)
        assert history.recovered is False
        assert [m.data for m in (await hub.history("r")).messages] == ["three"]


@pytest.mark.redis
async def test_a_killed_master_is_replaced_and_publishing_resumes_in_a_new_epoch(topology: SentinelTopology) -> None:
    async with Hub(topology.url, prefix=fresh_prefix(), timeout=0.5, history_size=10) as hub:
        before = await hub.publish("r", "before")
        assert before is not None
        topology.kill_master()
        after = await publish_until_it_works(hub, "r", "after")
        assert after is not None and after.epoch != before.epoch and after.offset == 1
        assert [m.data for m in (await hub.history("r")).messages] == ["after"]
