"""``hub.lifespan`` and the server's signals: members hear 1001 before the server hears SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from sockjet import Hub, status
from tests.conftest import MS
from tests.hub_fakes import connected


@pytest.fixture
def server_handler() -> Iterator[list[int]]:
    """A Python-level SIGTERM handler standing in for uvicorn's."""
    calls: list[int] = []

    def handler(sig: int, frame: FrameType | None) -> None:
        calls.append(sig)

    original = signal.signal(signal.SIGTERM, handler)
    try:
        yield calls
    finally:
        signal.signal(signal.SIGTERM, original)


async def test_the_first_sigterm_closes_members_with_1001_then_reaches_the_server(server_handler: list[int]) -> None:
    hub = Hub()
    async with hub.lifespan(None):
        sock = await connected()
        member = await hub.join("r", sock.websocket).__aenter__()
        signal.raise_signal(signal.SIGTERM)
        async with asyncio.timeout(2000 * MS):
            assert await sock.wait_closed() == {
                "type": "websocket.close",
                "code": status.WS_1001_GOING_AWAY,
                "reason": "server shutting down",
            }
            while not server_handler:
                await asyncio.sleep(MS)
        assert member.closed and hub.local_count("r") == 0
        assert server_handler == [signal.SIGTERM]
        signal.raise_signal(signal.SIGTERM)  # a second one goes straight to the server
        assert server_handler == [signal.SIGTERM, signal.SIGTERM]
    assert getattr(signal.getsignal(signal.SIGTERM), "__name__", None) == "handler"  # the server's is back


async def test_drain_on_signal_false_leaves_the_servers_handler_alone(server_handler: list[int]) -> None:
    hub = Hub(drain_on_signal=False)
    async with hub.lifespan(None):
        assert getattr(signal.getsignal(signal.SIGTERM), "__name__", None) == "handler"
        sock = await connected()
        await hub.join("r", sock.websocket).__aenter__()
        signal.raise_signal(signal.SIGTERM)
        assert server_handler == [signal.SIGTERM]
        assert sock.close_message is None  # only the lifespan's end closes it
    assert (await sock.wait_closed())["code"] == status.WS_1001_GOING_AWAY
