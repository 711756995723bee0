"""Fixtures of the channels tests: an in-process peer over fake ASGI, and real uvicorn servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from sockjet import Hub
from sockjet.channels import Channels
from tests.channels.helpers import close_pipe
from tests.servers.servers import Server, uvicorn_server


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    async with Hub(history_size=10) as hub:
        yield hub


@pytest.fixture
def channels(hub: Hub) -> Channels:
    return Channels(hub, ping_interval=0)


@pytest.fixture(scope="module")
def protocol_server() -> Iterator[Server]:
    """docs/protocol.md's example server (examples/channels_protocol.py) on uvicorn."""
    with uvicorn_server("examples.channels_protocol:app") as server:
        yield server
    close_pipe(server)


@pytest.fixture(scope="module")
def e2e_server() -> Iterator[Server]:
    """tests/channels/e2e_app.py on uvicorn."""
    with uvicorn_server("tests.channels.e2e_app:app") as server:
        yield server
    close_pipe(server)
