"""Ending a backend's background task for sure."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger("sockjet.hub")


async def end_task(task: asyncio.Task[Any], *, retry: float = 0.05) -> None:
    """Cancel ``task`` until it ends: a client library can swallow a cancellation (redis-py does
    while it (re)connects to a server that is down), and a task that swallowed it would loop forever."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry)
    if not task.cancelled() and task.exception() is not None:
        logger.debug("Task %r ended with %r", task, task.exception())
