"""The confirmations a Redis pub/sub connection owes: resolved by the reader, lost with the connection."""

from __future__ import annotations

import asyncio

import pytest

from sockjet.hub.backends.redis_confirmations import Confirmations, confirmed_within


async def test_the_readers_confirmation_ends_the_wait() -> None:
    owed = Confirmations()
    ack = owed.expect(b"room")
    assert owed.expect(b"room") is ack  # a second subscriber waits on the same confirmation
    asyncio.get_running_loop().call_soon(owed.confirm, b"room")
    assert await confirmed_within(ack, 1.0) is True
    assert ack.result() is None


async def test_a_confirmation_nobody_expects_is_ignored() -> None:
    owed = Confirmations()
    owed.confirm(b"room")
    ack = owed.expect(b"room")
    assert not ack.done()  # the stray confirmation did not count for the next subscription


async def test_no_confirmation_in_time_is_false_and_the_future_stays_owed() -> None:
    owed = Confirmations()
    ack = owed.expect(b"room")
    assert await confirmed_within(ack, 0.01) is False
    assert not ack.done()  # the shield kept it: a late confirmation still resolves it
    owed.confirm(b"room")
    assert ack.done() and not ack.cancelled()


@pytest.mark.parametrize("loss", ["one", "all"])
async def test_a_lost_connection_ends_the_wait_quietly(loss: str) -> None:
    owed = Confirmations()
    ack, other = owed.expect(b"room"), owed.expect(b"other")
    loop = asyncio.get_running_loop()
    loop.call_soon(owed.lose if loss == "one" else lambda _: owed.lose_all(), b"room")
    assert await confirmed_within(ack, 1.0) is True
    assert ack.cancelled()
    assert other.cancelled() is (loss == "all")
    assert owed.expect(b"room") is not ack  # the re-subscription expects a new one


async def test_the_waiting_tasks_own_cancellation_propagates() -> None:
    owed = Confirmations()
    ack = owed.expect(b"room")
    waiter = asyncio.create_task(confirmed_within(ack, 5.0))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not ack.cancelled()  # still owed to whoever else waits on it
    owed.lose(b"room")
    owed.lose(b"room")  # losing it twice is harmless
    assert ack.cancelled()
