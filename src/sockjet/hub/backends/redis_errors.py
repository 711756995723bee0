"""What redis-py raises when Redis did not answer, in one tuple for every Redis module of the hub.

Retried or translated into a ``HubError`` (never fatal to the hub): redis-py's own errors, a
cluster client's (``RedisClusterException`` is not a ``RedisError``: a slot without a node, a
cluster that could not be mapped), the socket's, and a timeout.
"""

from __future__ import annotations

import asyncio

try:
    from redis.exceptions import RedisClusterException, RedisError
except ImportError:  # pragma: no cover - depends on the installed extras
    RedisError = RedisClusterException = OSError  # type: ignore[misc,assignment]

UNANSWERED: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)
