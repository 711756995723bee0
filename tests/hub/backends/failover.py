"""What the failover tests of every Redis topology share."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sockjet import Hub, Position
from sockjet.exceptions import PublishError
from tests.timing import MS


async def publish_until_it_works(
    hub: Hub, room: str, data: Any, *, key: str | None = None, within: float = 30000 * MS
) -> Position | None:
    """Publish, retrying while a failover is still under way: each try fails clearly (a
    ``PublishError``), never silently. ``key``: the idempotency key, so a retry publishes it once."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await hub.publish(room, data, idempotency_key=key)
        except PublishError:
            assert time.monotonic() < deadline, "publishing never resumed"
            await asyncio.sleep(20 * MS)


__all__ = ["publish_until_it_works"]
