"""Every wait in the suite derives from ``MS``; set ``SOCKJET_TEST_TIMEOUT_FACTOR=3`` on a slow machine."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TypedDict

MS = 0.001 * float(os.environ.get("SOCKJET_TEST_TIMEOUT_FACTOR", "1"))
"""One millisecond, scaled for the machine."""


class Backoff(TypedDict):
    """A client's reconnect delays, passed as ``Client(url, **backoff)``."""

    backoff_min: float
    backoff_max: float


async def until(predicate: Callable[[], object], timeout: float = 10000 * MS, *, poll: float = 2 * MS) -> None:
    """Wait until ``predicate()`` is true (checked every ``poll`` s; 0: every loop turn), failing the
    test with "condition not met in time" after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(poll)
